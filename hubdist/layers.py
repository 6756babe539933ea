"""The hub's configuration in layers, every value knowing which layer set it.

Each layer can change what the ones before it set:

  1. defaults: config/jupyterhub_config.py, shipped in the hub image;
  2. the environment: the variables of hubdist.settings.VARIABLES, and GitHub login's;
  3. the override folder (config.d): ``*.py`` files run with the same ``c``, and ``*.yaml``,
     ``*.yml``, ``*.json`` files of ``Class: {option: value}``, together in file-name order.

Then the result is checked (hubdist.settings.Catalog): an unknown class or option, or a value
of the wrong type, stops the hub with one line per problem saying where it was set, instead
of being ignored, as traitlets would. ``hubdist config show`` and ``check`` read the same
layers (``read``) without starting anything.

How values are traced: ``c`` is a RecordingConfig, a traitlets Config that notes, on each
``c.Class.option = value``, the line of the file being read that led to it (from the
caller's frames), so the line is exact whatever the statement looks like. Layers that set
values from data (the environment, YAML) name the origin themselves. A value changed in
place (``c.X.volumes["a"] = "/a"``, ``.append(...)``) is found by comparing the values
before and after each file, and is credited to the last line of that file that read it.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from unittest import mock

import traitlets.config.loader
import yaml
from traitlets.config import Config, Configurable, LazyConfigValue

from . import settings
from .settings import KeyPath, is_section, is_unset, leaves

DEFAULTS, ENVIRONMENT, OVERRIDE = "defaults", "environment", "override"
DATA_SUFFIXES = (".yaml", ".yml", ".json")
OVERRIDE_SUFFIXES = (".py", *DATA_SUFFIXES)
REDACTED = "<redacted>"

_INTERNAL = {__file__, traitlets.config.loader.__file__}  # frames that never set a value


@dataclass(frozen=True)
class Origin:
    """Where a value was set: the layer and a file and line, or a variable's name."""

    layer: str
    source: str | None = None  # a file, or (environment) a variable's name
    line: int | None = None
    key: str | None = None  # the key path in a YAML or JSON file
    note: str | None = None

    @property
    def location(self) -> str:
        if self.layer == ENVIRONMENT:
            return f"environment variable {self.source}"
        if self.source is None:
            return self.layer
        return f"{self.source}:{self.line}" if self.line else self.source

    def __str__(self) -> str:
        text = f"{self.layer}: {self.source if self.layer == ENVIRONMENT else self.location}"
        if self.key:
            text += f" [{self.key}]"
        return f"{text} ({self.note})" if self.note else text


@dataclass(frozen=True)
class Problem:
    origin: Origin | None
    key: str  # "DockerSpawner.image"
    message: str

    def __str__(self) -> str:
        where = self.origin.location if self.origin else "(origin unknown)"
        return ": ".join(part for part in (where, self.key, self.message) if part)


class ConfigError(SystemExit):
    """Stops the hub with the problems, one a line, and no traceback.

    A SystemExit: JupyterHub logs any other exception from its config file as a traceback,
    where the one line that matters is easy to miss.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        listed = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(
            f"hubdist: the hub will not start: {len(problems)} problem(s) in its configuration:\n"
            f"{listed}\nFix them (`hubdist config check` checks without starting the hub), "
            "then start the hub again."
        )


class RecordingConfig(Config):
    """A traitlets Config that tells its Recorder about every value set or read."""

    def __init__(self, *args: Any, _recorder: Recorder | None = None, _path: KeyPath = (), **kw):
        object.__setattr__(self, "_recorder", _recorder)
        object.__setattr__(self, "_path", _path)
        super().__init__(*args, **kw)

    def _section(self, key: str) -> RecordingConfig:
        section = RecordingConfig(_recorder=self._recorder, _path=(*self._path, key))
        dict.__setitem__(self, key, section)
        return section

    def __getitem__(self, key: str) -> Any:
        if is_section(key) and not dict.__contains__(self, key):
            self._section(key)
        value = super().__getitem__(key)
        if self._recorder is not None and not isinstance(value, Config):
            self._recorder.read((*self._path, key))
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, Config) and is_section(key):
            self._section(key).update(value)  # each value in it is recorded
            return
        super().__setitem__(key, value)
        if self._recorder is not None:
            self._recorder.assigned((*self._path, key))

    def update(self, other: Any = (), **more: Any) -> None:  # type: ignore[override]
        for key, value in dict(other, **more).items():
            self[key] = value

    def merge(self, other: Any) -> None:
        # as Config.merge, but every value goes through __setitem__
        for key, value in other.items():
            mine = dict.get(self, key)
            if isinstance(value, Config) and isinstance(mine, Config):
                mine.merge(value)
            elif isinstance(value, LazyConfigValue) and mine is not None:
                self[key] = value.merge_into(mine)
            else:
                self[key] = value


@dataclass
class _Region:
    """The part of the reading done by one file (or layer), whose changes it is credited."""

    layer: str
    file: str | None
    before: dict[KeyPath, Any]
    reads: dict[KeyPath, Origin] = field(default_factory=dict)
    assigned: set[KeyPath] = field(default_factory=set)


class Recorder:
    """Where each value of one configuration came from, and what is wrong with it."""

    def __init__(self, target: Config | None = None) -> None:
        #: the Config JupyterHub reads (filled by ``finish``); None when only inspecting
        self.target = target
        self.root = RecordingConfig(_recorder=self)
        self.history: dict[KeyPath, list[Origin]] = {}
        self.problems: list[Problem] = []
        self.classes: set[type] = set()  # configurable classes the overrides imported
        self.checked = False
        self._regions: list[_Region] = []
        self._explicit: Callable[[KeyPath], Origin] | None = None

    def origin(self, path: KeyPath) -> Origin | None:
        history = self.history.get(path)
        return history[-1] if history else None

    # -- regions: who gets the credit ----------------------------------------------------------

    def enter(self, layer: str, file: str | None = None) -> None:
        self.settle()
        self._regions.append(_Region(layer, file, self._values()))

    def leave(self) -> None:
        self.settle()
        self._regions.pop()
        if self._regions:
            self._regions[-1].before = self._values()

    @contextmanager
    def region(self, layer: str, file: str | None = None) -> Iterator[None]:
        self.enter(layer, file)
        try:
            yield
        finally:
            self.leave()

    @contextmanager
    def explicit(self, origin: Origin | Callable[[KeyPath], Origin]) -> Iterator[None]:
        """Credit what is set inside to ``origin`` (or to ``origin(path)``), not to a line."""
        before = self._explicit
        self._explicit = origin if callable(origin) else (lambda path: origin)
        try:
            yield
        finally:
            self._explicit = before

    def settle(self) -> None:
        """Credit values changed in place since the region began to the line that read them."""
        if not self._regions:
            return
        region = self._regions[-1]
        now = self._values()
        for path, value in now.items():
            if path in region.assigned or _same(region.before.get(path, _MISSING), value):
                continue
            origin = region.reads.get(path) or Origin(region.layer, region.file)
            self._note(path, replace(origin, note="changed in place"))
        region.before, region.reads, region.assigned = now, {}, set()

    def _values(self) -> dict[KeyPath, Any]:
        return {path: _frozen(value) for path, value in leaves(self.root) if not is_unset(value)}

    # -- what RecordingConfig reports ------------------------------------------------------------

    def assigned(self, path: KeyPath) -> None:
        self._note(path, self._explicit(path) if self._explicit else self._here())
        if self._regions:
            self._regions[-1].assigned.add(path)

    def read(self, path: KeyPath) -> None:
        if self._explicit is None and self._regions and self._regions[-1].file:
            self._regions[-1].reads[path] = self._here()

    def assign(self, path: KeyPath, value: Any, origin: Origin) -> None:
        """``c.<path> = value``, credited to ``origin``."""
        with self.explicit(origin):
            section = self.root
            for key in path[:-1]:
                section = section[key]
            section[path[-1]] = value

    def _note(self, path: KeyPath, origin: Origin) -> None:
        self.history.setdefault(path, []).append(origin)

    def _here(self) -> Origin:
        """The line of the region's file that is running; else the nearest caller's line."""
        region = self._regions[-1] if self._regions else _Region(DEFAULTS, None, {})
        frame, nearest = sys._getframe(2), None
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename == region.file:
                return Origin(region.layer, filename, frame.f_lineno)
            if nearest is None and filename not in _INTERNAL:
                nearest = Origin(region.layer, filename, frame.f_lineno)
            frame = frame.f_back
        return nearest or Origin(region.layer, region.file)


_MISSING = object()


def _frozen(value: Any) -> Any:
    """A copy to compare with later; the value itself if it cannot be copied."""
    if isinstance(value, LazyConfigValue):
        value = ("lazy", value.to_dict())
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # e.g. arrays, whose == is elementwise
        return a is b


def _recorder(c: Config) -> Recorder:
    if not isinstance(c, RecordingConfig) or c._recorder is None:
        raise TypeError("expected the config returned by hubdist.layers.record()")
    return c._recorder


# -- the three steps the default configuration takes ---------------------------------------------


def record(config: Config) -> RecordingConfig:
    """The config to fill instead of ``config``: it records, and ``finish`` fills ``config``.

    Called first thing by the default configuration file, whose lines are credited to it.
    """
    if isinstance(config, RecordingConfig):  # `hubdist config` is reading the file
        return config
    recorder = Recorder(target=config)
    recorder.enter(DEFAULTS, sys._getframe(1).f_code.co_filename)
    return recorder.root


def override_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = (path for path in folder.iterdir() if path.suffix in OVERRIDE_SUFFIXES)
    return sorted((path for path in found if path.is_file()), key=lambda path: path.name)


def load_overrides(c: Config, folder: str | Path) -> None:
    """The override layer: every file of ``folder`` in name order, Python or data."""
    recorder = _recorder(c)
    for path in override_files(folder):
        with recorder.region(OVERRIDE, str(path)):
            if path.suffix == ".py":
                run_python(c, path)
            else:
                _load_data(recorder, path)


def check(c: Config) -> None:
    """Note unknown classes, unknown options and wrong types; when the hub is starting, stop
    it if anything is wrong. (`hubdist config` reports the problems itself.)"""
    recorder = _recorder(c)
    recorder.settle()
    catalog = settings.Catalog(c, recorder.classes)
    for path, message in catalog.problems(c):
        recorder.problems.append(Problem(recorder.origin(path), ".".join(path), message))
    recorder.problems.sort(key=_reading_order)
    recorder.checked = True
    if recorder.target is not None and recorder.problems:
        raise ConfigError(recorder.problems)


def finish(c: Config) -> None:
    """Hand the configuration to JupyterHub (checked first, if ``check`` was not called)."""
    recorder = _recorder(c)
    if not recorder.checked:
        check(c)
    recorder.settle()
    if recorder.target is not None:
        recorder.target.merge(_plain(c))


def _reading_order(problem: Problem) -> tuple[int, str, int]:
    origin = problem.origin or Origin("")
    rank = {DEFAULTS: 0, ENVIRONMENT: 1, OVERRIDE: 2}.get(origin.layer, 3)
    return rank, origin.source or "", origin.line or 0


def _plain(config: Config) -> Config:
    return Config({k: _plain(v) if isinstance(v, Config) else v for k, v in config.items()})


# -- Python and data files -------------------------------------------------------------------


def run_python(c: RecordingConfig, path: Path) -> None:
    """Run a config file as JupyterHub would (same ``c``, ``get_config``, ``load_subconfig``)."""
    recorder = _recorder(c)

    def load_subconfig(name: str, folder: str | None = None) -> None:
        other = Path(folder or path.parent) / name
        with recorder.region(recorder._regions[-1].layer, str(other)):
            run_python(c, other)

    namespace = {
        "c": c,
        "get_config": lambda: c,
        "load_subconfig": load_subconfig,
        "__file__": str(path),
        "__name__": "__config__",
    }
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    # a class the file imports or defines may be configured by name (c.MyAuthenticator.x)
    recorder.classes.update(
        value
        for value in namespace.values()
        if isinstance(value, type) and issubclass(value, Configurable)
    )


def _load_data(recorder: Recorder, path: Path) -> None:
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        line = getattr(exc, "lineno", None) or _mark_line(getattr(exc, "problem_mark", None))
        where = Origin(OVERRIDE, str(path), line)
        recorder.problems.append(Problem(where, "", f"not valid: {' '.join(str(exc).split())}"))
        return
    if data is None:
        return
    if not isinstance(data, dict):
        message = "must be a mapping of Class: {option: value}"
        recorder.problems.append(Problem(Origin(OVERRIDE, str(path), 1), "", message))
        return
    lines = _key_lines(text)
    _set_data(recorder, data, (), lambda keys: Origin(OVERRIDE, str(path), lines.get(keys)))


def _set_data(
    recorder: Recorder, data: Mapping, path: KeyPath, where: Callable[[KeyPath], Origin]
) -> None:
    for key, value in data.items():
        here = (*path, str(key))
        if is_section(here[-1]) and (value is None or isinstance(value, Mapping)):
            _set_data(recorder, value or {}, here, where)
            continue
        origin = replace(where(here), key=".".join(here))
        try:
            recorder.assign(here, value, origin)
        except ValueError:  # a class given a value instead of options
            recorder.problems.append(
                Problem(origin, ".".join(here), "a class takes a mapping of option: value")
            )


def _mark_line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


def _key_lines(text: str) -> dict[KeyPath, int]:
    """The line of each key of a YAML (or JSON) mapping, by key path."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[KeyPath, int] = {}

    def walk(node: Any, path: KeyPath) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*path, str(key.value))
                lines[here] = key.start_mark.line + 1
                walk(value, here)

    walk(node, ())
    return lines


# -- the environment ---------------------------------------------------------------------------

_INVALID = object()


class Environment:
    """The environment layer: hubdist.settings.VARIABLES, then GitHub login's variables."""

    def __init__(self, c: Config, environ: Mapping[str, str] = os.environ) -> None:
        self.c, self.environ = c, environ
        self.recorder = _recorder(c)

    def given(self, name: str) -> bool:
        return bool(self.environ.get(name, "").strip())

    def value(self, name: str) -> Any:
        """The variable's value, parsed; its default if unset or (a problem noted) invalid."""
        variable = settings.BY_NAME[name]
        value = self._given_value(variable) if self.given(name) else _INVALID
        if value is _INVALID:
            return _parse(variable, variable.default) if variable.default else None
        return value

    @contextmanager
    def setting(self, name: str) -> Iterator[Any]:
        """The variable's value; what is set inside is credited to it, when it is set."""
        value = self.value(name)
        if not self.given(name):
            yield value
            return
        with self.recorder.explicit(Origin(ENVIRONMENT, name)):
            yield value

    def apply(self) -> None:
        """Set the options the variables that are set stand for."""
        with self.recorder.region(ENVIRONMENT):
            for variable in settings.VARIABLES:
                if variable.target and self.given(variable.name):
                    value = self._given_value(variable)
                    if value is not _INVALID:
                        path = tuple(variable.target.split("."))
                        self.recorder.assign(path, value, Origin(ENVIRONMENT, variable.name))
            self._github()

    def _given_value(self, variable: settings.Variable) -> Any:
        text = self.environ[variable.name].strip()
        try:
            return _parse(variable, text)
        except Exception as exc:
            message = str(exc)
            if not message.startswith(variable.name):
                message = f"{variable.name}={text!r}: {message}"
            where = Origin(ENVIRONMENT, variable.name)
            self.recorder.problems.append(Problem(where, variable.target or "", message))
            return _INVALID

    def _github(self) -> None:
        from . import github

        def origin(path: KeyPath) -> Origin:
            name = settings.GITHUB_VARIABLES.get(path[-1], "GITHUB_CLIENT_ID")
            if not self.given(name) and self.given(f"{name}_FILE"):
                name = f"{name}_FILE"
            return Origin(ENVIRONMENT, name)

        with self.recorder.explicit(origin):
            try:
                github.configure(self.c, self.environ)
            except github.GitHubConfigError as exc:
                where = Origin(ENVIRONMENT, "GITHUB_*")
                self.recorder.problems.append(Problem(where, "GitHubOAuthenticator", str(exc)))


def _parse(variable: settings.Variable, text: str) -> Any:
    if variable.parse is not None:
        return variable.parse(text)
    trait = settings.option(variable.target or "")
    try:  # as traitlets treats strings from its command line: the checks say what is wrong
        return trait.from_string(text) if trait else text
    except Exception:
        return text


# -- reading without a hub: `hubdist config show` and `check` -------------------------------------


def read(config_file: Path, override_dir: Path | None = None) -> Recorder:
    """Read the layers as the hub would, changing nothing: trial passwords are neither made
    nor read, the proxy's pid file is left alone. Errors become problems."""
    from . import trial
    from .services import proxy

    recorder = Recorder()
    with ExitStack() as stack:
        if override_dir is not None:
            stack.enter_context(mock.patch.dict(os.environ, HUBDIST_OVERRIDE_DIR=str(override_dir)))
        stack.enter_context(mock.patch.object(trial, "load_or_create", _unread_password))
        stack.enter_context(mock.patch.object(proxy, "forget_stale_pid_file", lambda path: None))
        try:
            with recorder.region(DEFAULTS, str(config_file)):
                run_python(recorder.root, config_file)
        except (Exception, SystemExit) as exc:
            recorder.problems.append(_crash(exc, config_file, override_dir))
    if not recorder.checked:
        check(recorder.root)
    return recorder


def _unread_password(path: Path, nbytes: int, min_length: int) -> Any:
    from . import trial

    return trial.Secret(path, "(kept in the file)", created=False)


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
    catalog = settings.Catalog(recorder.root, recorder.classes)
    found = []
    for path, value in sorted(leaves(recorder.root), key=lambda item: item[0]):
        name = ".".join(path)
        if is_unset(value) or (names and not any(_matches(name, wanted) for wanted in names)):
            continue
        trait = catalog.trait(path)
        if trait is not None and isinstance(value, LazyConfigValue):
            value = settings.effective(trait, value)
        origin = recorder.origin(path)
        secret = settings.looks_secret(path[-1])
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
            f"{k!r}: {REDACTED if isinstance(k, str) and settings.looks_secret(k) else display(v)}"
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
