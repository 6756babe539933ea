"""Keep the hub's database layer out of the single-user server (run once, at image build).

JupyterHub's single-user server imports SQLAlchemy, alembic and ``jupyterhub.orm`` (about
0.4 of the ~1 CPU-second a server start costs in this image) through four module-level
imports of names it never uses without the hub's database: an ``isinstance`` check against
a hub handler (log.py), an ``except`` clause of a hub-only decorator (utils.py), a hub-only
metric (metrics.py) and the database lookups of scopes.py (a single-user server checks
scopes without a database). Each import moves to where the name is used; what runs, and
its result, is the same. The files are JupyterHub's, edited in this image only (BSD-3
permits it); docs/performance.md says why and how to check them.

Every edit must match exactly once (editing.py), and afterwards importing
``jupyterhub.singleuser`` must load none of the three, or the build fails.
"""

from __future__ import annotations

from pathlib import Path

import editing  # beside this script
import jupyterhub

PACKAGE = Path(jupyterhub.__file__).parent
KEPT_OUT = ("sqlalchemy", "alembic", "jupyterhub.orm")

EDITS: list[editing.Edit] = [
    (
        "log.py",
        "import json\nimport logging\n",
        "import json\nimport logging\nimport sys  # hubdist: for log_request's look-up\n",
    ),
    (
        "log.py",
        "from .handlers.pages import HealthCheckHandler\n",
        "# hubdist: HealthCheckHandler is looked up where it is used (log_request)\n",
    ),
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
    (
        "utils.py",
        "from sqlalchemy.exc import SQLAlchemyError\n",
        "# hubdist: SQLAlchemyError is imported where it is used (catch_db_error)\n",
    ),
    (
        "utils.py",
        '    """Catch and rollback database errors"""\n\n',
        '    """Catch and rollback database errors"""\n'
        "    # hubdist: imported by the hub code that uses it, not with utils\n"
        "    from sqlalchemy.exc import SQLAlchemyError\n\n",
    ),
    (
        "metrics.py",
        "from . import orm\nfrom .utils import utcnow\n",
        "from .utils import utcnow  # hubdist: orm is imported where used\n",
    ),
    (
        "metrics.py",
        "        now = utcnow()\n        cutoffs = {\n",
        "        from . import orm  # hubdist: not imported with metrics\n\n"
        "        now = utcnow()\n        cutoffs = {\n",
    ),
    (
        "scopes.py",
        "import functools\nimport inspect\n",
        "import functools\nimport importlib  # hubdist: for _ImportedOnFirstUse\nimport inspect\n",
    ),
    (
        "scopes.py",
        "import sqlalchemy as sa\nfrom tornado import web\n",
        "from tornado import web  # hubdist: sa, orm and roles: _ImportedOnFirstUse\n",
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
    editing.fail(__file__, message, "JupyterHub", jupyterhub.__version__)


def main() -> None:
    editing.apply(PACKAGE, EDITS, __file__, fail)
    # what a server start loads, in a fresh interpreter (the edited files compile, too)
    loaded = editing.run_python(
        "import sys, jupyterhub.singleuser, jupyterhub.singleuser.extension\n"
        f"print(' '.join(m for m in {KEPT_OUT!r} if m in sys.modules))",
        fail,
    ).split()
    if loaded:
        fail(f"importing jupyterhub.singleuser still loads {', '.join(loaded)}")
    print(
        f"jupyterhub {jupyterhub.__version__}: {len(EDITS)} edits; "
        f"the single-user server loads none of {', '.join(KEPT_OUT)}"
    )


if __name__ == "__main__":
    main()
