"""docs/spawners.md's option tables agree with the traits: every option hubdist declares
is in its spawner's tables, every option a table names exists, and every default written
as a plain value is the default a spawner really has."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from jupyterhub.spawner import Spawner

from hubdist import DockerSpawner, SwarmSpawner, SystemUserSpawner
from hubdist.spawners.base import ContainerSpawner
from hubdist.spawners.compat import DEPRECATED_ALIASES, IGNORED_OPTIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "spawners.md"
SPAWNERS = {"DockerSpawner": DockerSpawner, "SwarmSpawner": SwarmSpawner,
            "SystemUserSpawner": SystemUserSpawner}  # fmt: skip
NOT_DOCUMENTED = {*DEPRECATED_ALIASES, *IGNORED_OPTIONS, "remove_containers"}  # own notes
_NUMBER = re.compile(r"^(-?[0-9.]+)( s)?$")


def tables(section: str) -> dict[str, str]:
    """{option: default cell} of every option table row in a spawner's section."""
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        first = cells[0].split("(")[0]  # "`image` (`container_image`)": the alias is a note
        for option in re.findall(r"`([a-z_]+)`", first):
            rows[option] = cells[1]
    return rows


def sections() -> dict[str, str]:
    text = DOC.read_text()
    parts = re.split(r"^# (\w+)\n", text, flags=re.MULTILINE)
    found = dict(zip(parts[1::2], parts[2::2], strict=True))
    return {name: body for name, body in found.items() if name in SPAWNERS}


def own_options(cls: type) -> set[str]:
    """Options hubdist declares on ``cls``: not JupyterHub's, not a parent spawner's, and
    not the shared base's (documented under DockerSpawner)."""
    inherited = set(Spawner.class_traits(config=True))
    if cls is not DockerSpawner:
        inherited |= set(ContainerSpawner.class_traits(config=True))
    for parent in cls.__mro__[1:]:
        if parent.__name__ in SPAWNERS:
            inherited |= set(parent.class_traits(config=True))
    return set(cls.class_traits(config=True)) - inherited - NOT_DOCUMENTED


def spawner(cls: type):
    return cls(
        user=SimpleNamespace(name="alice"), orm_spawner=SimpleNamespace(name="", server=None)
    )


def written_default(cell: str):
    """The value a cell states plainly (`x`, 8888, 10 s), or None for a description."""
    plain = cell.strip("`") if cell.count("`") == 2 and cell.startswith("`") else cell
    number = _NUMBER.match(plain)
    if number:
        return ast.literal_eval(number.group(1))
    if cell.count("`") == 2 and cell.startswith("`") and cell.endswith("`"):
        try:
            return ast.literal_eval(plain)
        except (ValueError, SyntaxError):
            return plain  # an unquoted string such as `bridge`
    return None


@pytest.mark.parametrize("name", SPAWNERS)
def test_every_option_is_documented_and_every_documented_option_exists(name):
    cls, documented = SPAWNERS[name], tables(sections()[name])
    missing = own_options(cls) - set(documented)
    assert not missing, f"{name} options missing from docs/spawners.md: {sorted(missing)}"
    unknown = set(documented) - set(cls.class_traits(config=True))
    assert not unknown, f"docs/spawners.md names {name} options that do not exist: {unknown}"


@pytest.mark.parametrize("name", SPAWNERS)
def test_written_defaults_are_the_real_defaults(name):
    cls, documented = SPAWNERS[name], tables(sections()[name])
    made = spawner(cls)
    wrong = {}
    for option, cell in documented.items():
        written = written_default(cell)
        if written is not None and getattr(made, option) != written:
            wrong[option] = (cell, getattr(made, option))
    assert not wrong, f"{name}: docs say (cell, real default): {wrong}"
