"""What hubdist's configuration may say: its environment variables, and the known options.

Two questions answered here, with no hub running:

- which environment variables the default configuration reads, what each sets and its
  default (``VARIABLES``, the list docs/configuration.md documents);
- whether a ``c.Class.option = value`` names a class JupyterHub will configure, an option
  that class has, and a value of the option's type (``Catalog.problems``). traitlets ignores
  unknown classes without a word and unknown options with a warning lost in the log, so a
  typo in a config file silently does nothing; a hub that refuses to start instead, naming
  the file, the line and what was probably meant, is what users need.

hubdist.config.layers records where each value came from and reports these problems with it.
"""

from __future__ import annotations

import copy
import difflib
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from traitlets import HasTraits, TraitType, Undefined
from traitlets.config import Configurable, LazyConfigValue
from traitlets.traitlets import ClassBasedTraitType

from . import dockerspawner_paths
from .tree import KeyPath, is_unset, leaves

# -- known classes and options ---------------------------------------------------------------


def _register(classes: dict[str, type], cls: type) -> None:
    """Make ``cls`` and the configurable classes it inherits from known by name."""
    for klass in cls.__mro__:
        if isinstance(klass, type) and issubclass(klass, Configurable):
            classes.setdefault(klass.__name__, klass)


@functools.lru_cache(maxsize=1)
def _standard_classes() -> tuple[type, ...]:
    """JupyterHub's own classes list (every installed authenticator, spawner and proxy),
    JupyterHub itself, and hubdist's spawners whether or not installed as entry points."""
    from jupyterhub.app import JupyterHub

    from ..spawners import DockerSpawner, SwarmSpawner, SystemUserSpawner

    app = JupyterHub.instance() if JupyterHub.initialized() else JupyterHub()
    return (JupyterHub, *app.classes, DockerSpawner, SwarmSpawner, SystemUserSpawner)


@functools.lru_cache(maxsize=64)
def _stand_in(name: str) -> HasTraits:
    # trait.validate wants an object; one named like the class makes messages read right
    return type(name, (HasTraits,), {})()


def option(target: str) -> TraitType | None:
    """The option ``"Class.option"`` names, in a configuration that sets nothing else."""
    return Catalog({}).trait(tuple(target.split(".")))


def _options(cls: type) -> dict[str, TraitType]:
    return cls.class_traits(config=True)


def _own_options(cls: type) -> dict[str, TraitType]:
    return cls.class_own_traits(config=True)


def validate(trait: TraitType, value: Any, class_name: str) -> Any:
    """``value`` as the option would take it; raises what the trait raises."""
    if value is None and trait.allow_none:
        return None
    check = getattr(trait, "validate", None)  # traitlets.Any has none: anything goes
    return check(_stand_in(class_name), value) if check else value


def effective(trait: TraitType, value: Any) -> Any:
    """What a lazy ``c.X.y.append(...)`` / ``.update(...)`` amounts to on the default."""
    if not isinstance(value, LazyConfigValue):
        return value
    initial = trait.default_value
    if initial is Undefined or initial is None:
        klass = getattr(trait, "klass", None)
        initial = klass() if isinstance(klass, type) else []
    return value.get_value(copy.copy(initial))


def _close(name: str, candidates: Iterable[str]) -> str | None:
    candidates = sorted(set(candidates))
    by_case = {candidate.lower(): candidate for candidate in candidates}
    if name.lower() in by_case:
        return by_case[name.lower()]
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


class Catalog:
    """The classes and options that configuration ``config`` may set.

    Known classes: JupyterHub's classes list (with every installed authenticator, spawner
    and proxy), hubdist's spawners, what they inherit from, any class a ``*_class`` option
    names, and ``extra`` (classes an override imported). An option of class ``X`` is known
    if ``X`` has it or the class in use that derives from ``X`` has it: with
    ``spawner_class = DockerSpawner``, ``c.Spawner.image`` does set the image, as traitlets
    hands a class every section of its ancestors.
    """

    def __init__(self, config: Mapping[str, Any], extra: Iterable[type] = ()) -> None:
        self.classes: dict[str, type] = {}
        for cls in (*_standard_classes(), *extra):
            _register(self.classes, cls)
        self.in_use: list[type] = [self.classes["JupyterHub"]]
        self._add_named_classes(config)

    def _add_named_classes(self, config: Mapping[str, Any]) -> None:
        """Know and use the classes the ``*_class`` options name, or JupyterHub's defaults."""
        jupyterhub = config.get("JupyterHub", {})
        for name, trait in _options(self.classes["JupyterHub"]).items():
            if isinstance(trait, ClassBasedTraitType) and name not in jupyterhub:
                self._use(trait, trait.default_value, "JupyterHub")
        for path, value in leaves(config):
            trait = self.trait(path) if path[-1].endswith("_class") else None
            if isinstance(trait, ClassBasedTraitType):
                self._use(trait, value, path[-2])

    def _use(self, trait: TraitType, value: Any, class_name: str) -> None:
        try:
            cls = validate(trait, value, class_name)
        except Exception:  # reported by problems()
            return
        if isinstance(cls, type):
            _register(self.classes, cls)
            self.in_use.append(cls)

    def _related(self, cls: type) -> list[type]:
        """``cls`` and the classes in use that derive from it, most derived first."""
        derived = [used for used in self.in_use if issubclass(used, cls) and used is not cls]
        return [*derived, cls]

    def trait(self, path: KeyPath) -> TraitType | None:
        """The option ``path`` sets, as the class that will take it defines it."""
        cls = self.classes.get(path[-2]) if len(path) > 1 else None
        for klass in self._related(cls) if cls else ():
            if path[-1] in _options(klass):
                return _options(klass)[path[-1]]
        return None

    def problems(self, config: Mapping[str, Any]) -> list[tuple[KeyPath, str]]:
        """Unknown classes, unknown options, values of the wrong type and options that
        exclude each other, with advice."""
        found = []
        for path, value in leaves(config):
            if not is_unset(value):
                problem = self.problem(path, value)
                if problem:
                    found.append((path, problem))
        return found + self._exclusive(config)

    def _exclusive(self, config: Mapping[str, Any]) -> list[tuple[KeyPath, str]]:
        """Options a class in use takes only one of (its ``exclusive_options``: pairs with
        why), set in any section it reads; reported where the first of the pair is set."""
        found = []
        for used in self.in_use:
            for first, second, why in getattr(used, "exclusive_options", ()):
                where: dict[str, KeyPath] = {}
                for path, value in leaves(config):
                    if path[-1] in (first, second) and path[-2] in used.section_names():
                        if value and not is_unset(value):
                            where[path[-1]] = path
                if len(where) == 2:
                    found.append((where[first], f"{first} and {second} are both set: {why}"))
        return found

    def problem(self, path: KeyPath, value: Any) -> str | None:
        if len(path) == 1:
            return "not a class: settings are c.ClassName.option = value"
        class_name, option = path[-2], path[-1]
        cls = self.classes.get(class_name)
        if cls is None:
            return f"unknown class {class_name}" + self._hint(_close(class_name, self.classes))
        refused = self._refused(class_name, option, value) or (
            option == "spawner_class" and dockerspawner_paths.spawner_class_problem(value)
        )
        if refused:
            return refused
        trait = self.trait(path)
        if trait is None:
            return f"{class_name} has no option {option!r}" + self._option_hint(cls, option)
        try:
            validate(trait, effective(trait, value), class_name)
        except Exception as exc:
            return f"wrong type: {exc}"
        return None

    def _refused(self, class_name: str, option: str, value: Any) -> str | None:
        """A class in use that reads ``class_name``'s section and refuses the value (the
        SwarmSpawner, for DockerSpawner options a service cannot honour)."""
        for used in self.in_use:
            refuse = getattr(used, "refused_option", None)
            if refuse is not None and class_name in used.section_names():
                refused = refuse(option, value)
                if refused:
                    return refused
        return None

    def _option_hint(self, cls: type, option: str) -> str:
        # the exact name on another class first (c.Spawner.client_id), else a typo
        elsewhere = self._elsewhere(option)
        if elsewhere:
            return self._hint(" or ".join(f"{klass.__name__}.{option}" for klass in elsewhere))
        names = [name for klass in self._related(cls) for name in _options(klass)]
        close = _close(option, names)
        return self._hint(f"{cls.__name__}.{close}" if close else None)

    def _elsewhere(self, option: str) -> list[type]:
        """Classes that have ``option``, for c.Authenticator.image and the like: one in use;
        else the base ones of JupyterHub's list that have it (DockerSpawner, not its two
        subclasses); else, when those are many, the classes that define it (OAuthenticator)."""
        used = [klass for klass in self.in_use if option in _options(klass)]
        if used:
            return used[:1]
        listed = [
            klass
            for klass in _standard_classes()
            if option in _options(klass) and not klass.__dict__.get("shared_base")
        ]
        listed = [k for k in listed if not any(b is not k and issubclass(k, b) for b in listed)]
        listed = sorted(set(listed), key=lambda klass: klass.__name__)
        if 0 < len(listed) <= 3:
            return listed
        owners = [
            klass
            for klass in self.classes.values()
            if option in _own_options(klass) and not klass.__dict__.get("shared_base")
        ]
        return sorted(owners, key=lambda klass: klass.__name__)[:3]

    @staticmethod
    def _hint(suggestion: str | None) -> str:
        return f"; did you mean {suggestion}?" if suggestion else ""
