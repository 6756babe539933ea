"""A snapshot of the hub's database before JupyterHub upgrades its schema.

With ``upgrade_db`` on (hubdist's config), JupyterHub migrates an older database as it
starts, and copies it first only when it is SQLite. ``hubdist start`` calls
:func:`protect` before JupyterHub runs: a database whose schema revision differs from the
one this JupyterHub runs is copied (hubdist.database.snapshot, SQLite or PostgreSQL alike)
into ``BACKUPS/pre-upgrade-REVISION-TIMESTAMP.sqlite`` in the hub's data folder, and the
log says where. A new (empty) database, or one already at this revision, is left alone.

Rolling back is restoring that file with the previous release's images (docs/upgrading.md).
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy
from sqlalchemy import select
from sqlalchemy.engine import URL, make_url

from . import reach, snapshot
from .schema import VERSION_TABLE, schema_head

BACKUPS = "backups"
UNVERSIONED = "unversioned"  # a JupyterHub database from before alembic (JupyterHub < 0.8)


def revision(url: URL) -> str | None:
    """The schema revision of the hub's database at ``url``: None when it holds no hub yet
    (no file, no users table), ``UNVERSIONED`` when it predates revisions."""
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        if not path.is_file() or path.stat().st_size == 0:
            return None
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(sqlalchemy.inspect(connection).get_table_names())
            if "users" not in tables:
                return None
            if VERSION_TABLE.name not in tables:
                return UNVERSIONED
            found = connection.execute(select(VERSION_TABLE.c.version_num)).scalar()
            return found or UNVERSIONED
    finally:
        engine.dispose()


def destination(data_dir: Path, found: str, now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return data_dir / BACKUPS / f"pre-upgrade-{found}-{stamp}.sqlite"


def protect(db_url: str | URL, data_dir: Path, say=print) -> Path | None:
    """Snapshot the database at ``db_url`` into ``data_dir``/backups if JupyterHub is about
    to upgrade its schema; the snapshot's path (None if none was needed). ``say`` gets
    one line per thing done, for the hub's log."""
    url = make_url(db_url)
    found = revision(url)
    head = schema_head()
    if found is None or found == head:
        return None
    path = destination(data_dir, found)
    say(
        f"the database ({reach.shown(url)}) is at schema revision {found}; this JupyterHub "
        f"runs {head} and will upgrade it: copying it first to {path}"
    )
    rows = snapshot.take(url, path)
    users = rows.get("users", 0)
    say(
        f"database copied to {path} ({users} users) before the upgrade of its schema. To roll "
        "back: stop the hub, restore this file, run the previous release's images "
        "(docs/upgrading.md)"
    )
    return path
