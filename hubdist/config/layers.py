"""The hub's configuration in layers, every value knowing which layer set it.

Each layer can change what the ones before it set:

  1. defaults: config/jupyterhub_config.py, shipped in the hub image;
  2. the environment: the variables of hubdist.config.variables, and the logins'
     (GitHub, OpenID Connect, GitLab: hubdist.auth.environment);
  3. the override folder (config.d): ``*.py`` files run with the same ``c``, and ``*.yaml``,
     ``*.yml``, ``*.json`` files of ``Class: {option: value}``, together in file-name order.

Then the result is checked (hubdist.config.catalog): an unknown class or option, or a value
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

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from traitlets.config import Config, Configurable

from ..services import secrets
from . import dockerspawner_paths
from .catalog import Catalog, option
from .recording import (
    DEFAULTS,
    ENVIRONMENT,
    OVERRIDE,
    ConfigError,
    Origin,
    Problem,
    Recorder,
    RecordingConfig,
    _recorder,
)
from .tree import KeyPath, is_section
from .variables import BY_NAME, VARIABLES, Variable

DATA_SUFFIXES = (".yaml", ".yml", ".json")
OVERRIDE_SUFFIXES = (".py", *DATA_SUFFIXES)


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


def dry_run(c: Config) -> bool:
    """True while ``hubdist config show``/``check`` read the layers: the defaults file then
    makes, reads and removes no file (trial passwords, the proxy's pid file)."""
    return _recorder(c).target is None


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
    catalog = Catalog(c, recorder.classes)
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

    # a line naming dockerspawner's modules would fail (or import another package): refuse
    # them all at once, each with the line to write instead
    layer = recorder._regions[-1].layer if recorder._regions else OVERRIDE
    refused = dockerspawner_paths.problems(path, layer)
    if refused:
        raise ConfigError(refused)
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
    """The environment layer: hubdist.config.variables, then the login's variables."""

    def __init__(self, c: Config, environ: Mapping[str, str] | None = None) -> None:
        self.c, self.recorder = c, _recorder(c)
        self.environ = environ if environ is not None else self.recorder.environ or os.environ

    def given(self, name: str) -> bool:
        variable = BY_NAME.get(name)  # also asked about the logins' variables
        names = (name, f"{name}_FILE") if variable and variable.from_file else (name,)
        return any(self.environ.get(each, "").strip() for each in names)

    def value(self, name: str) -> Any:
        """The variable's value, parsed; its default if unset or (a problem noted) invalid."""
        variable = BY_NAME[name]
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
            for variable in VARIABLES:
                if variable.target and self.given(variable.name):
                    value = self._given_value(variable)
                    if value is not _INVALID:
                        path = tuple(variable.target.split("."))
                        self.recorder.assign(path, value, Origin(ENVIRONMENT, variable.name))
            self._login()

    def _given_value(self, variable: Variable) -> Any:
        text = ""
        try:
            text = self._given_text(variable)
            return _parse(variable, text)
        except Exception as exc:
            message = str(exc)
            if not message.startswith(variable.name):
                shown = "(a secret, not shown)" if variable.from_file else repr(text)
                message = f"{variable.name}={shown}: {message}"
            where = Origin(ENVIRONMENT, variable.name)
            self.recorder.problems.append(Problem(where, variable.target or "", message))
            return _INVALID

    def _given_text(self, variable: Variable) -> str:
        if not variable.from_file:
            return self.environ[variable.name].strip()
        found = secrets.from_environment(self.environ, variable.name)
        return found[0] if found else ""

    def _login(self) -> None:
        from ..auth import environment, oauth

        try:
            login = environment.chosen(self.environ)
        except oauth.LoginConfigError as exc:
            prefixes = ", ".join(f"{login.prefix}_*" for login in environment.LOGINS)
            self._login_problem(str(exc), prefixes, "JupyterHub.authenticator_class")
            return
        if login is None:
            return
        client_id = f"{login.prefix}_CLIENT_ID"

        def origin(path: KeyPath) -> Origin:
            name = login.variables.get(path[-1], client_id)
            if not self.given(name) and self.given(f"{name}_FILE"):
                name = f"{name}_FILE"
            return Origin(ENVIRONMENT, name)

        with self.recorder.explicit(origin):
            try:
                environment.configure(self.c, self.environ)
            except oauth.LoginConfigError as exc:
                self._login_problem(str(exc), f"{login.prefix}_*", login.section)

    def _login_problem(self, message: str, variables: str, key: str) -> None:
        self.recorder.problems.append(Problem(Origin(ENVIRONMENT, variables), key, message))


def _parse(variable: Variable, text: str) -> Any:
    if variable.parse is not None:
        return variable.parse(text)
    trait = option(variable.target or "")
    try:  # as traitlets treats strings from its command line: the checks say what is wrong
        return trait.from_string(text) if trait else text
    except Exception:
        return text
