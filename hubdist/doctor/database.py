"""The hub's database: it opens, is sound, and has the schema this JupyterHub expects.

Read only: a SQLite file is opened read-only (nothing is created where none is), and the
schema's revision is read, never stamped or upgraded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ..database.schema import schema_head
from ..engine import Engine
from .deployment import Deployment
from .findings import OK, PROBLEM, SKIPPED, Finding, named

HUB_LOGS = "docker compose logs hub"


@named("database")
async def check_database(deployment: Deployment, engine: Engine) -> list[Finding]:
    if not deployment.db_url:
        return [
            Finding(
                "database",
                SKIPPED,
                "the hub's database is looked at in its container",
                "docker compose exec hub hubdist doctor",
            )
        ]
    return await asyncio.to_thread(_check, deployment.db_url)


def _check(url: str) -> list[Finding]:
    import sqlalchemy

    shown = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.is_file():
            return [
                Finding(
                    "database",
                    PROBLEM,
                    f"no database at {path}",
                    "the hub makes an empty one at its first start; if it had one, "
                    "its data volume is missing or another is mounted: restore it "
                    "from a backup (docs/operations.md)",
                )
            ]
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
    try:
        db = sqlalchemy.create_engine(url)
        with db.connect() as connection:
            if db.dialect.name == "sqlite":
                verdict = connection.exec_driver_sql("PRAGMA quick_check").scalar()
                if verdict != "ok":
                    return [
                        Finding(
                            "database",
                            PROBLEM,
                            f"{shown} is damaged: {verdict}",
                            "stop the hub and restore the database from a backup "
                            "(docs/operations.md)",
                        )
                    ]
            tables = set(sqlalchemy.inspect(connection).get_table_names())
            revision = None
            if "alembic_version" in tables:
                query = "SELECT version_num FROM alembic_version"
                revision = connection.exec_driver_sql(query).scalar()
            users = connection.exec_driver_sql("SELECT count(*) FROM users").scalar()
    except Exception as exc:  # the driver's own errors: what failed is in the message
        reason = " ".join(str(exc).split())[:300]
        return [
            Finding(
                "database",
                PROBLEM,
                f"{shown} cannot be opened: {reason}",
                "is it a JupyterHub database, readable by the hub, and (a server) "
                f"running and reachable? The hub's log says more: {HUB_LOGS}",
            )
        ]
    head = schema_head()
    if revision != head:
        return [
            Finding(
                "database",
                PROBLEM,
                f"{shown} has schema {revision}, this JupyterHub expects {head}",
                "the hub upgrades it when it starts (upgrade_db, with "
                f"a backup first): docker compose restart hub; see {HUB_LOGS}",
            )
        ]
    return [Finding("database", OK, f"{shown}: {users} user(s), schema {revision}")]
