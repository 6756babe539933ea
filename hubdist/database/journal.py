"""How the hub's SQLite database writes: ``HUBDIST_SQLITE_JOURNAL``.

- ``wal`` (the default): SQLite's write-ahead log with ``synchronous=NORMAL``. A commit
  appends to the log and returns without waiting for the disk; the log is merged into the
  database file every thousand pages. JupyterHub commits on its one event loop, several
  times per spawn and once per stopped server; with SQLite's own default (a rollback
  journal) each commit waits for the disk, which the engine keeps busy while it creates or
  removes containers (benchmarks/RESULTS.md: a thousand commits during the removal of 200
  containers waited 3.6-5.5 s in all, 0.2-0.45 s through the log). What it gives up: the
  last commits before a power cut or a kernel crash (never before a crash of the hub
  itself); the hub checks every server against the engine when it starts again.
- ``delete``: SQLite's default, for a data folder on a network filesystem (NFS, SMB), where
  the write-ahead log cannot work (it needs memory shared between processes).

The mode is kept in the database file; a hub started with ``delete`` turns a file that was
in ``wal`` back. PostgreSQL ignores this setting.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path

SETTING = "HUBDIST_SQLITE_JOURNAL"
#: the files SQLite keeps beside the database in ``wal`` mode while it is open
SIDE_FILES = ("-wal", "-shm")


class WriteAheadLog(sqlite3.Connection):
    """A connection to a database in SQLite's write-ahead log; its commits do not wait for
    the disk."""

    PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for pragma in self.PRAGMAS:
            self.execute(pragma)


class RollbackJournal(WriteAheadLog):
    """A connection to a database in SQLite's default rollback journal, turning a file
    that was in the log back."""

    PRAGMAS = ("PRAGMA journal_mode=DELETE", "PRAGMA synchronous=FULL")


CONNECTIONS = {"wal": WriteAheadLog, "delete": RollbackJournal}
CHOICES = tuple(CONNECTIONS)


def parse(value: str) -> str:
    choice = value.strip().lower()
    if choice not in CHOICES:
        raise ValueError(
            f"{SETTING}={value!r}: use wal (the default: commits do not wait for the disk) or "
            "delete (SQLite's own default, for a data folder on NFS or another network "
            "filesystem)"
        )
    return choice


def configured(environ: Mapping[str, str]) -> str:
    return parse(environ.get(SETTING, "").strip() or "wal")


def db_kwargs(choice: str) -> dict:
    """``JupyterHub.db_kwargs`` for a SQLite ``db_url``: its connections (made by sqlite3
    through SQLAlchemy) are of the class for ``choice``. ``check_same_thread`` is what
    JupyterHub passes when it is given no ``connect_args``."""
    connection = CONNECTIONS[parse(choice)]
    return {"connect_args": {"check_same_thread": False, "factory": connection}}


def settle(database: Path) -> None:
    """Merge a write-ahead log left beside ``database`` (by a hub that was killed) into the
    file and remove it, so that the file alone holds everything: before it is moved or
    replaced. SQLite would otherwise replay a stale log onto whatever file has that name."""
    if not any(database.with_name(database.name + side).exists() for side in SIDE_FILES):
        return
    with closing(sqlite3.connect(database)) as db:
        # the last connection to close removes the log once it is merged
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
