"""Keep the hub's database layer out of the single-user server (run once, at image build).

JupyterHub's single-user server imports SQLAlchemy, alembic and ``jupyterhub.orm`` (about
0.4 of the ~1 CPU-second a server start costs in this image) through four module-level
imports of names it never uses without the hub's database: an ``isinstance`` check against
a hub handler (log.py), an ``except`` clause of a hub-only decorator (utils.py), a hub-only
metric (metrics.py) and the database lookups of scopes.py (a single-user server checks
scopes without a database). Each import moves to where the name is used; what runs, and
its result, is the same. The edits are JupyterHub's own files, in this image only (BSD-3
permits it); docs/performance.md says why and how to check them.

Every edit must match exactly once, and afterwards importing ``jupyterhub.singleuser`` must
load none of the three: a JupyterHub whose files changed fails the build here, with what
to look at, rather than ship an image that is silently slower or different.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jupyterhub

PACKAGE = Path(jupyterhub.__file__).parent
KEPT_OUT = ("sqlalchemy", "alembic", "jupyterhub.orm")

# (file in the jupyterhub package, text as JupyterHub has it, text as this image has it)
EDITS = [
    (
        "log.py",
        "import json\nimport logging\n",
        "import json\nimport logging\nimport sys\n",
    ),
    ("log.py", "from .handlers.pages import HealthCheckHandler\n", ""),
    (
        "log.py",
        "    if status == 304 or (\n"
        "        status < 300 and isinstance(handler, StaticFileHandler | HealthCheckHandler)\n"
        "    ):\n",
        "    # hubdist: a handler can only be a HealthCheckHandler if the hub's handlers are\n"
        "    # loaded, which a single-user server never does: they are not imported for this\n"
        "    quiet = (StaticFileHandler,)\n"
        '    if pages := sys.modules.get("jupyterhub.handlers.pages"):\n'
        "        quiet += (pages.HealthCheckHandler,)\n"
        "    if status == 304 or (status < 300 and isinstance(handler, quiet)):\n",
    ),
    ("utils.py", "from sqlalchemy.exc import SQLAlchemyError\n", ""),
    (
        "utils.py",
        '    """Catch and rollback database errors"""\n\n',
        '    """Catch and rollback database errors"""\n'
        "    # hubdist: imported by the hub code that uses it, not with utils\n"
        "    from sqlalchemy.exc import SQLAlchemyError\n\n",
    ),
    ("metrics.py", "from . import orm\nfrom .utils import utcnow\n", "from .utils import utcnow\n"),
    (
        "metrics.py",
        "        now = utcnow()\n        cutoffs = {\n",
        "        from . import orm  # hubdist: not imported with metrics\n\n"
        "        now = utcnow()\n        cutoffs = {\n",
    ),
    (
        "scopes.py",
        "import functools\nimport inspect\n",
        "import functools\nimport importlib\nimport inspect\n",
    ),
    (
        "scopes.py",
        "import sqlalchemy as sa\nfrom tornado import web\n",
        "from tornado import web\n",
    ),
    (
        "scopes.py",
        "from . import orm, roles\nfrom ._memoize import DoNotCache, FrozenDict, lru_cache_key\n",
        "from ._memoize import DoNotCache, FrozenDict, lru_cache_key\n\n\n"
        "class _ImportedOnFirstUse:\n"
        '    """hubdist: one of the hub\'s database modules, imported when a function here\n'
        '    first needs it (a single-user server checks scopes without a database)"""\n\n'
        "    def __init__(self, name):\n"
        "        self._name = name\n\n"
        "    def __getattr__(self, attr):\n"
        "        return getattr(importlib.import_module(self._name), attr)\n\n\n"
        'sa = _ImportedOnFirstUse("sqlalchemy")\n'
        'orm = _ImportedOnFirstUse("jupyterhub.orm")\n'
        'roles = _ImportedOnFirstUse("jupyterhub.roles")\n',
    ),
]


def fail(message: str) -> None:
    sys.exit(
        f"{Path(__file__).name}: {message}\nThese edits were written for JupyterHub 6.1.1; "
        f"the one installed is {jupyterhub.__version__}. If the new JupyterHub no longer imports "
        f"{', '.join(KEPT_OUT)} in its single-user server, drop this step from "
        "images/singleuser/Dockerfile; otherwise update the edits to its files."
    )


def main() -> None:
    texts: dict[str, str] = {}
    for name, old, new in EDITS:
        text = texts.setdefault(name, (PACKAGE / name).read_text())
        if text.count(old) != 1:
            fail(f"jupyterhub/{name} has {text.count(old)} copies, not 1, of:\n{old}")
        texts[name] = text.replace(old, new)
    for name, text in texts.items():
        (PACKAGE / name).write_text(text)
    # a fresh interpreter: what a server start loads, and the edited files compile
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys, jupyterhub.singleuser, jupyterhub.singleuser.extension\n"
         f"print(' '.join(m for m in {KEPT_OUT!r} if m in sys.modules))"],
        capture_output=True, text=True,
    )  # fmt: skip
    if probe.returncode:
        fail(f"the edited single-user server does not import:\n{probe.stderr}")
    loaded = probe.stdout.split()
    if loaded:
        fail(f"importing jupyterhub.singleuser still loads {', '.join(loaded)}")
    print(f"jupyterhub {jupyterhub.__version__}: {len(EDITS)} edits in {len(texts)} files; "
          f"the single-user server loads none of {', '.join(KEPT_OUT)}")  # fmt: skip


if __name__ == "__main__":
    main()
