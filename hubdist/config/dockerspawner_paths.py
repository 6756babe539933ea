"""Config lines that name dockerspawner's own modules: refused, with the line to write.

hubdist takes dockerspawner's settings (``c.DockerSpawner.*``, its templates and aliases),
but a file that imports the ``dockerspawner`` package, or names one of its classes as the
spawner, needs that package. hubdist ships none and makes none up (a stand-in of that name
would hide which code runs). Each such line stops the hub before the file runs, named with
its file and line and the exact line to write instead: hubdist's class, or
hubdist.dockerspawner_compat, which keeps dockerspawner's names.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .recording import Origin, Problem

PACKAGE = "dockerspawner"
COMPAT = "hubdist.dockerspawner_compat"
#: dockerspawner's modules that hubdist.dockerspawner_compat has under the same name
COMPAT_MODULES = {"volumenamingstrategy"}
#: dockerspawner's modules whose classes hubdist.dockerspawner_compat has at its top
CLASS_MODULES = {"dockerspawner", "swarmspawner", "systemuserspawner"}

_CLASSES = ("DockerSpawner", "SwarmSpawner", "SystemUserSpawner")
#: how a config names dockerspawner's spawners (import paths, entry points) -> hubdist's
SPAWNER_CLASSES = {
    **{f"{PACKAGE}.{name}": f"hubdist.{name}" for name in _CLASSES},
    **{f"{PACKAGE}.{name.lower()}.{name}": f"hubdist.{name}" for name in _CLASSES},
    "docker": "hubdist.DockerSpawner",
    "docker-swarm": "hubdist.SwarmSpawner",
    "docker-system-user": "hubdist.SystemUserSpawner",
}


def spawner_class_problem(value: object) -> str | None:
    """Why ``value`` cannot be JupyterHub.spawner_class, if it names dockerspawner's."""
    if not isinstance(value, str) or value not in SPAWNER_CLASSES:
        return None
    return (
        f"{value!r} is dockerspawner's spawner, which hubdist does not ship; hubdist's takes "
        f'the same settings: c.JupyterHub.spawner_class = "{SPAWNER_CLASSES[value]}"'
    )


def problems(path: Path, layer: str) -> list[Problem]:
    """The lines of config file ``path`` that import dockerspawner or name its spawner,
    each with the line to write instead; [] if none (or if the file does not parse: running
    it then says what is wrong)."""
    text = path.read_text()
    try:
        tree = ast.parse(text, str(path))
    except SyntaxError:
        return []
    lines = text.splitlines()
    found = []
    for node in ast.walk(tree):
        line = lines[node.lineno - 1] if hasattr(node, "lineno") else ""
        if isinstance(node, (ast.Import, ast.ImportFrom)) and _imports_package(node):
            message = _import_message(node, line)
        elif _sets_spawner_class(node) and spawner_class_problem(node.value.value):
            message = _class_message(node.value.value, line)
        else:
            continue
        found.append(Problem(Origin(layer, str(path), node.lineno), "", message))
    return sorted(found, key=lambda problem: problem.origin.line)


def _sets_spawner_class(node: ast.AST) -> bool:
    """``X.spawner_class = "constant"`` (c.JupyterHub.spawner_class, as configs write it)."""
    return (
        isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and any(isinstance(t, ast.Attribute) and t.attr == "spawner_class" for t in node.targets)
    )


def _imports_package(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and _top(node.module or "") == PACKAGE
    return any(_top(alias.name) == PACKAGE for alias in node.names)


def _top(module: str) -> str:
    return module.split(".")[0]


def _import_message(node: ast.Import | ast.ImportFrom, line: str) -> str:
    replacement = replacement_import(node)
    indent = line[: len(line) - len(line.lstrip())]
    if replacement is None:
        return (
            f"imports {PACKAGE}, which hubdist does not ship, and {COMPAT} has no such "
            f"name; it has {', '.join(_CLASSES)} and volumenamingstrategy "
            "(see docs/migrating.md)"
        )
    return f"imports {PACKAGE}, which hubdist does not ship; write instead: {indent}{replacement}"


def replacement_import(node: ast.Import | ast.ImportFrom) -> str | None:
    """The import statement that gives the same names from hubdist.dockerspawner_compat."""
    if isinstance(node, ast.ImportFrom):
        module = _compat_module(node.module or "")
        if module is None:
            return None
        names = ", ".join(
            alias.name + (f" as {alias.asname}" if alias.asname else "") for alias in node.names
        )
        return f"from {module} import {names}"
    parts = []
    for alias in node.names:
        if _top(alias.name) != PACKAGE:
            parts.append(alias.name + (f" as {alias.asname}" if alias.asname else ""))
            continue
        module = _compat_module(alias.name) if alias.asname else COMPAT
        if module is None:
            return None
        # `import dockerspawner.x` binds the name dockerspawner: so does the replacement
        parts.append(f"{module} as {alias.asname or PACKAGE}")
    return "import " + ", ".join(parts)


def _compat_module(module: str) -> str | None:
    """The module of hubdist.dockerspawner_compat standing for dockerspawner's ``module``."""
    rest = module.split(".")[1:]
    if not rest:
        return COMPAT
    if len(rest) == 1 and rest[0] in COMPAT_MODULES:
        return f"{COMPAT}.{rest[0]}"
    if len(rest) == 1 and rest[0] in CLASS_MODULES:
        return COMPAT
    return None


def _class_message(value: str, line: str) -> str:
    new = SPAWNER_CLASSES[value]
    rewritten = next(
        (
            line.replace(f"{quote}{value}{quote}", f"{quote}{new}{quote}")
            for quote in ('"', "'")
            if f"{quote}{value}{quote}" in line
        ),
        None,
    )
    if rewritten is None or rewritten == line:
        return spawner_class_problem(value) or ""
    return (
        f"{value!r} is dockerspawner's spawner, which hubdist does not ship; hubdist's takes "
        f"the same settings; write instead: {rewritten.rstrip()}"
    )
