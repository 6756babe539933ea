"""A consistent copy of the hub's database, taken while the hub runs, as one SQLite file.

- SQLite: the library's online backup API, which copies pages while the hub keeps writing
  and starts over on its own when a write lands mid-copy, so the copy is one moment's state.
- PostgreSQL: every table (as the server has it, whatever JupyterHub revision made it) read
  inside one REPEATABLE READ, read-only transaction, so all rows come from one snapshot, and
  written into a new SQLite file with the same columns. No pg_dump, so no client whose
  version must match the server's; the file restores into SQLite or into PostgreSQL
  (``hubdist db migrate`` does the latter), and ``sqlite3`` opens it for a look.

Used by ``hubdist backup``, and before the hub upgrades its database's schema.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import sqlalchemy
from sqlalchemy import Column, MetaData, Table
from sqlalchemy.engine import URL, make_url

from . import reach


class SnapshotError(Exception):
    """The copy cannot be made; the message says why and what to do."""


def take(db_url: str | URL, destination: Path) -> dict[str, int]:
    """Copy the database at ``db_url`` into the new SQLite file ``destination``; the
    number of rows per table."""
    url = make_url(db_url)
    if destination.exists():
        raise SnapshotError(f"{destination} exists already; name a new file")
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        if url.get_backend_name() == "sqlite":
            _sqlite_backup(Path(url.database or ""), destination)
        else:
            _copy_tables(url, destination)
    except BaseException:
        destination.unlink(missing_ok=True)  # never leave a half copy looking like one
        raise
    destination.chmod(0o600)  # it holds token hashes and encrypted auth state
    return row_counts(destination)


def _sqlite_backup(source: Path, destination: Path) -> None:
    if not source.is_file():
        raise SnapshotError(f"no SQLite database at {source}")
    # read-only: a backup must never create or change the hub's file
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src:
        with closing(sqlite3.connect(destination)) as dst:
            src.backup(dst)


def _copy_tables(url: URL, destination: Path) -> None:
    from . import migrate  # JupyterHub's ORM: loaded only when a PostgreSQL copy is made

    source = sqlalchemy.create_engine(url, isolation_level="REPEATABLE READ")
    target = sqlalchemy.create_engine(f"sqlite:///{destination}")
    try:
        with source.connect() as src, target.begin() as dst:
            src = src.execution_options(postgresql_readonly=True)
            found = MetaData()
            found.reflect(src)
            if "users" not in found.tables:
                raise SnapshotError(f"{reach.shown(url)} holds no JupyterHub database")
            copies = _portable(found)
            copies.create_all(dst)
            for table in found.sorted_tables:
                migrate.copy_rows(src, dst, table, into=copies.tables[table.name])
    except sqlalchemy.exc.OperationalError as exc:
        raise SnapshotError(f"cannot read {reach.shown(url)}: {exc.orig or exc}") from None
    finally:
        source.dispose()
        target.dispose()


def _portable(found: MetaData) -> MetaData:
    """The tables of ``found`` with generic column types (a PostgreSQL type SQLite has
    not, such as TIMESTAMP WITHOUT TIME ZONE, becomes its generic kind) and their keys;
    no server defaults or sequences, which are the source server's."""
    copies = MetaData()
    for table in found.sorted_tables:
        columns = [
            Column(c.name, _generic(c.type), primary_key=c.primary_key, nullable=c.nullable)
            for c in table.columns
        ]
        Table(table.name, copies, *columns)
    return copies


def _generic(kind: sqlalchemy.types.TypeEngine) -> sqlalchemy.types.TypeEngine:
    try:
        return kind.as_generic()
    except NotImplementedError:  # a server-only type: its text survives the round trip
        return sqlalchemy.Text()


def row_counts(path: Path) -> dict[str, int]:
    """Rows per table of the SQLite file ``path``."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def revision(path: Path) -> str:
    """The JupyterHub schema revision recorded in the SQLite file ``path`` ("" if none)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            row = None
    return row[0] if row else ""
