"""Does the hub's database answer? Asked before JupyterHub starts, because JupyterHub's own
message for a database it cannot reach suggests ``jupyterhub upgrade-db``, which is wrong
here: the PostgreSQL service is not running, not reachable, or refuses the password."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import sqlalchemy
from sqlalchemy.engine import URL, make_url

from ..services import secrets
from . import settings

WAIT = 60.0  # seconds: the postgres service may still be starting (on a stack, nothing orders them)


class DatabaseError(Exception):
    """The database cannot be used; the message names the setting and what to do."""


def with_password(url: str, password: str | None) -> URL:
    parsed = make_url(url)
    return parsed.set(password=password) if password and parsed.password is None else parsed


def hub_database(environ: Mapping[str, str]) -> URL:
    """The database the hub opens, as ``HUBDIST_DATABASE`` selects it, with PostgreSQL's
    password as the hub gets it."""
    choice = settings.configured(environ)
    password = settings.password(environ, choice)
    url = settings.db_url(choice, secrets.data_dir(environ))
    return with_password(url, password.value if password else None)


def shown(url: str | URL) -> str:
    return make_url(url).render_as_string(hide_password=True)


def connect_once(url: URL) -> None:
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    finally:
        engine.dispose()


def wait_reachable(
    choice: str,
    password: str | None,
    password_source: str = "",
    wait: float = WAIT,
    connect: Callable[[URL], None] = connect_once,
) -> None:
    """Return once the PostgreSQL server ``HUBDIST_DATABASE`` names answers; raise
    DatabaseError after ``wait`` seconds, or at once if it refuses the password."""
    url = with_password(settings.db_url(choice, ""), password)
    setting = f"{settings.SETTING}={choice if choice == 'postgres' else shown(url)}"
    deadline = time.monotonic() + wait
    while True:
        try:
            connect(url)
            return
        except sqlalchemy.exc.OperationalError as exc:
            reason = " ".join(str(exc.orig or exc).split())
        if "password authentication failed" in reason or "no password supplied" in reason:
            source = f" (from {password_source})" if password_source else ""
            raise DatabaseError(
                f"the database {setting} selects, {shown(url)}, refuses the password"
                f"{source}: {reason}. A database keeps the password it was made with; give "
                f"that one ({settings.PASSWORD.variable} or {settings.PASSWORD.file_variable}"
                ")."
            )
        if time.monotonic() >= deadline:
            hint = (
                " With compose, the postgres service runs only under its profile: "
                "./hubdist-up starts it when .env says HUBDIST_DATABASE=postgres (or run "
                "docker compose --profile postgres up -d); its log: docker compose logs postgres."
                if choice == "postgres"
                else ""
            )
            raise DatabaseError(
                f"the database {setting} selects, {shown(url)}, did not answer in "
                f"{wait:.0f} s: {reason}.{hint} To keep SQLite instead: "
                f"{settings.SETTING}=sqlite."
            )
        time.sleep(1)
