"""Defer rfc3987_syntax's grammar work until an IRI is actually checked.

jsonschema imports ``rfc3987_syntax`` when it is imported (for the optional "iri" and
"iri-reference" formats), and that package builds about 40 Earley parsers from its grammar
at import: most of the CPU a JupyterLab server spends starting, for a check that no Jupyter
schema asks for. Loaded by ``hubdist-startup.pth`` at interpreter start, this finder gives
``import rfc3987_syntax`` a module whose ``is_valid_syntax`` (all jsonschema uses) runs the
real package on its first call; any other name loads it at once. Formats are still checked,
the same way, by the same package: only the moment it starts changes.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading

PACKAGE = "rfc3987_syntax"


class _DeferredLoader:
    def __init__(self, real_spec: importlib.machinery.ModuleSpec):
        self.real_spec = real_spec
        self.lock = threading.RLock()
        self.loaded = False

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module) -> None:
        module.__path__ = list(self.real_spec.submodule_search_locations or [])
        module.__file__ = self.real_spec.origin

        def load():
            with self.lock:
                if not self.loaded:
                    # the package's own code, run in this module object, so that every
                    # reference already handed out sees the real names
                    self.real_spec.loader.exec_module(module)
                    self.loaded = True
                    vars(module).pop("__getattr__", None)  # loaded: plain lookups again
            return module

        def is_valid_syntax(term: str, value: str):
            return load().is_valid_syntax(term, value)

        def __getattr__(name: str):  # PEP 562: anything else loads the package now
            if name.startswith("__"):
                raise AttributeError(name)
            try:
                return vars(load())[name]
            except KeyError:
                raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}") from None

        module.is_valid_syntax = is_valid_syntax
        module.__getattr__ = __getattr__


class _DeferredFinder:
    def find_spec(self, name, path=None, target=None):
        if name != PACKAGE:
            return None
        real = importlib.machinery.PathFinder.find_spec(name, path)
        if real is None or real.loader is None:
            return None  # not installed: jsonschema's ImportError path, as without us
        spec = importlib.util.spec_from_loader(name, _DeferredLoader(real), is_package=True)
        spec.origin = real.origin
        spec.submodule_search_locations = list(real.submodule_search_locations or [])
        return spec


def install() -> None:
    if not any(isinstance(f, _DeferredFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _DeferredFinder())


install()
