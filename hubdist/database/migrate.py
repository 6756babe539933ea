"""``hubdist db migrate``: copy a hub's database, SQLite to PostgreSQL, row for row.

The tables are JupyterHub's own (its ORM metadata, so a JupyterHub with new tables brings
them along), created in the target and filled in dependency order in one transaction: a
failure leaves the target as empty as it was. The source must be at the schema revision
this JupyterHub runs (the hub upgrades its database as it starts, so a hub that has run
this image once has it); the target gets the same revision stamped, so the hub starts on
it as on its old database. PostgreSQL's id sequences are moved past the copied ids, or the
next new user or token would collide with a copied one.

Run it while the hub is stopped: what the hub writes during the copy would be lost.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import sqlalchemy
from jupyterhub import orm
from sqlalchemy import Table, func, insert, select
from sqlalchemy.engine import URL, Connection, make_url

from ..services import secrets
from . import reach, settings
from .schema import VERSION_TABLE, schema_head

BATCH = 1000


class MigrationError(Exception):
    """The copy cannot be made; the message says why and what to do."""


def source_revision(connection: Connection, url: URL) -> str:
    tables = set(sqlalchemy.inspect(connection).get_table_names())
    if "users" not in tables:
        raise MigrationError(f"{reach.shown(url)} holds no JupyterHub database (no users table)")
    if VERSION_TABLE.name not in tables:
        return ""
    return connection.execute(select(VERSION_TABLE.c.version_num)).scalar() or ""


def copy(source_url: str | URL, target_url: str | URL) -> dict[str, int]:
    """Copy every JupyterHub table from ``source_url`` into the empty ``target_url``;
    the number of rows copied per table."""
    source_url, target_url = make_url(source_url), make_url(target_url)
    if source_url.get_backend_name() == "sqlite" and not Path(source_url.database or "").is_file():
        raise MigrationError(f"no SQLite database at {source_url.database} (--from)")
    head = schema_head()
    source = sqlalchemy.create_engine(source_url)
    target = sqlalchemy.create_engine(target_url)
    try:
        with source.connect() as src, target.begin() as dst:
            revision = source_revision(src, source_url)
            if revision != head:
                raise MigrationError(
                    f"{reach.shown(source_url)} is at schema revision {revision or 'unknown'}, "
                    f"this JupyterHub runs {head}: upgrade it first (start the hub on it "
                    f"once, or: jupyterhub upgrade-db --db={reach.shown(source_url)})"
                )
            orm.Base.metadata.create_all(dst)
            _refuse_data(dst, target_url)
            counts = {table.name: copy_rows(src, dst, table) for table in _tables()}
            VERSION_TABLE.create(dst, checkfirst=True)
            dst.execute(VERSION_TABLE.delete())
            dst.execute(insert(VERSION_TABLE).values(version_num=revision))
            if dst.dialect.name == "postgresql":
                _advance_sequences(dst)
    finally:
        source.dispose()
        target.dispose()
    return counts


def _tables() -> list[Table]:
    return orm.Base.metadata.sorted_tables  # parents before the tables that point at them


def _refuse_data(connection: Connection, url: URL) -> None:
    count = func.count()
    full = [t.name for t in _tables() if connection.execute(select(count).select_from(t)).scalar()]
    if full:
        raise MigrationError(
            f"{reach.shown(url)} already holds a hub's data (rows in {', '.join(full)}), "
            "perhaps because the hub started on it: migrate into an empty database (for the "
            "compose service: docker compose stop hub postgres, remove its volume "
            "PROJECT_postgres-data, start postgres again) and start the hub after the copy"
        )


def copy_rows(src: Connection, dst: Connection, table: Table, into: Table | None = None) -> int:
    """Copy every row of ``table`` into ``into`` (the same table in ``dst`` by default), in
    batches; the number of rows."""
    copied = 0
    result = src.execution_options(yield_per=BATCH).execute(select(table))
    for rows in result.mappings().partitions():
        dst.execute(insert(table if into is None else into), [dict(row) for row in rows])
        copied += len(rows)
    return copied


def _advance_sequences(connection: Connection) -> None:
    for table in _tables():
        column = table.autoincrement_column
        if column is None:
            continue
        sequence = func.pg_get_serial_sequence(table.name, column.name)
        next_id = func.coalesce(func.max(column), 0) + 1
        connection.execute(select(func.setval(sequence, next_id, False)).select_from(table))


# -- the command -----------------------------------------------------------------------------


def default_source(environ: Mapping[str, str]) -> str:
    return settings.sqlite_url(secrets.data_dir(environ))


def default_target(environ: Mapping[str, str]) -> URL:
    """The database ``HUBDIST_DATABASE`` selects, with its password as the hub gets it."""
    choice = settings.configured(environ)
    if choice == "sqlite":
        raise MigrationError(
            f"{settings.SETTING} is sqlite (or unset): set it to postgres (or a postgresql:// "
            "URL) as the hub will run, or name the target with --to"
        )
    return reach.hub_database(environ)


def _url(text: str, option: str) -> str:
    try:
        make_url(text)
    except sqlalchemy.exc.ArgumentError:
        raise MigrationError(
            f"{option} {text!r} is not a database URL; e.g. sqlite:////srv/jupyterhub/"
            "jupyterhub.sqlite or postgresql://USER@HOST:PORT/DATABASE"
        ) from None
    return text


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubdist db migrate",
        description="Copy the hub's database, e.g. its SQLite file, into an empty PostgreSQL "
        "database. Stop the hub first (docker compose stop hub); start it on the new one after.",
    )
    parser.add_argument(
        "--from",
        dest="source",
        help="database URL to copy (default: the hub's SQLite file, "
        f"sqlite:///{secrets.DEFAULT_DATA_DIR}/{settings.SQLITE_FILE})",
    )
    parser.add_argument(
        "--to",
        dest="target",
        help=f"database URL to fill, empty (default: the one {settings.SETTING} selects, "
        "with its password); a password not in the URL is taken from PGPASSWORD",
    )
    return parser


def main(argv: list[str]) -> int:
    args = make_parser().parse_args(argv)
    try:
        source = _url(args.source or default_source(os.environ), "--from")
        if args.target:
            target = args.target
            if settings.is_postgres(target):  # the driver the hub image has
                target = settings.parse(target)
            target = reach.with_password(
                _url(target, "--to"), os.environ.get(settings.PASSWORD.variable)
            )
        else:
            target = default_target(os.environ)
        print(f"hubdist db migrate: {reach.shown(source)} -> {reach.shown(target)}")
        counts = copy(source, target)
    except (MigrationError, secrets.SecretError, ValueError) as exc:
        print(f"hubdist db migrate: {exc}", file=sys.stderr)
        return 1
    except sqlalchemy.exc.OperationalError as exc:
        print(f"hubdist db migrate: cannot use the database: {exc.orig or exc}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{name} {count}" for name, count in counts.items() if count)
    print(f"hubdist db migrate: copied {sum(counts.values())} rows ({summary})")
    return 0
