"""Reading the layers without a hub, for ``hubdist config show`` and ``check``: every
value with where it was set, secrets redacted."""

from __future__ import annotations

import os
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from traitlets.config import LazyConfigValue

from .catalog import Catalog, effective
from .layers import check, run_python
from .recording import DEFAULTS, OVERRIDE, ConfigError, Origin, Problem, Recorder
from .tree import is_unset, leaves, looks_secret

REDACTED = "<redacted>"


# -- reading without a hub: `hubdist config show` and `check` -------------------------------------


def read(config_file: Path, override_dir: Path | None = None) -> Recorder:
    """Read the layers as the hub would, changing nothing (a dry run, see
    hubdist.config.layers.dry_run): trial passwords are neither made nor read, the proxy's
    pid file is left alone. Errors become problems."""
    environ = dict(os.environ)
    if override_dir is not None:
        environ["HUBDIST_OVERRIDE_DIR"] = str(override_dir)
    recorder = Recorder(environ=environ)
    try:
        with recorder.region(DEFAULTS, str(config_file)):
            run_python(recorder.root, config_file)
    except ConfigError as exc:  # refused before running a file (dockerspawner's imports)
        recorder.problems.extend(exc.problems)
    except (Exception, SystemExit) as exc:
        recorder.problems.append(_crash(exc, config_file, override_dir))
    if not recorder.checked:
        check(recorder.root)
    return recorder


def _crash(exc: BaseException, config_file: Path, override_dir: Path | None) -> Problem:
    """A config file that raised: where (the deepest line in a config file) and what."""
    ours = {str(config_file)}
    frames = traceback.extract_tb(exc.__traceback__)
    line = next(
        (
            f
            for f in reversed(frames)
            if f.filename in ours or (override_dir and f.filename.startswith(str(override_dir)))
        ),
        None,
    )
    layer = DEFAULTS if line and line.filename in ours else OVERRIDE
    where = Origin(layer, line.filename, line.lineno) if line else None
    return Problem(where, "", f"{type(exc).__name__}: {exc}")


def entries(recorder: Recorder, names: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The effective values (secrets redacted), each with the origin of its last change."""
    catalog = Catalog(recorder.root, recorder.classes)
    found = []
    for path, value in sorted(leaves(recorder.root), key=lambda item: item[0]):
        name = ".".join(path)
        if is_unset(value) or (names and not any(_matches(name, wanted) for wanted in names)):
            continue
        trait = catalog.trait(path)
        if trait is not None and isinstance(value, LazyConfigValue):
            value = effective(trait, value)
        origin = recorder.origin(path)
        secret = looks_secret(path[-1])
        found.append(
            {
                "name": name,
                "value": REDACTED if secret else display(value),
                "redacted": secret,
                **(asdict(origin) if origin else {"layer": None}),
                "where": str(origin) if origin else "origin unknown",
            }
        )
    return found


def _matches(name: str, wanted: str) -> bool:
    return name == wanted or name.startswith(wanted + ".")


def display(value: Any) -> str:
    """Like repr, but nested secrets redacted, sets sorted and functions by name only."""
    if isinstance(value, dict):
        items = (
            f"{k!r}: {REDACTED if isinstance(k, str) and looks_secret(k) else display(v)}"
            for k, v in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(display, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(display, value)) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(map(display, value))) + "}" if value else "set()"
    if isinstance(value, type):
        return f"<class {value.__module__}.{value.__qualname__}>"
    if callable(value):
        return f"<function {getattr(value, '__qualname__', type(value).__name__)}>"
    return repr(value)
