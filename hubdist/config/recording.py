"""A Config that records, for every value, the layer, file and line (or variable) that set
it."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import traitlets.config.loader
from traitlets.config import Config, LazyConfigValue

from .tree import KeyPath, is_section, is_unset, leaves

DEFAULTS, ENVIRONMENT, OVERRIDE = "defaults", "environment", "override"  # the layers

# frames that never set a value: this package's own and traitlets' loader
_INTERNAL = {str(path) for path in Path(__file__).parent.glob("*.py")} | {
    traitlets.config.loader.__file__
}


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

    def __init__(
        self, target: Config | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        #: the Config JupyterHub reads (filled by ``finish``); None when only inspecting
        #: (a dry run: the defaults file then changes nothing outside the config)
        self.target = target
        #: the environment the layers read (None: the process's)
        self.environ = environ
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
        raise TypeError("expected the config returned by hubdist.config.layers.record()")
    return c._recorder
