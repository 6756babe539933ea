"""Which database the hub uses, from one setting, ``HUBDIST_DATABASE``:

- ``sqlite`` (the default): a file in the hub's data volume, nothing else to run;
- ``postgres``: the compose service ``postgres`` (the profile of the same name, which
  ./hubdist-up turns on), database and role ``hubdist``;
- a ``postgresql://`` URL: a PostgreSQL server of your own.

PostgreSQL's password never goes into the URL (``hubdist config show`` prints db_url): the
hub hands it to libpq as ``PGPASSWORD``, resolved like the hub's other secrets
(hubdist.services.secrets): ``PGPASSWORD``, ``PGPASSWORD_FILE`` (a Docker secret), or, for
the compose service, the file it made once in the volume both share.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..services import secrets

SETTING = "HUBDIST_DATABASE"
CHOICES = ("sqlite", "postgres")
SQLITE_FILE = "jupyterhub.sqlite"
#: the compose (and stack) service, its database and role, made by images/postgres
SERVICE_URL = "postgresql+psycopg://hubdist@postgres:5432/hubdist"
DRIVER = "postgresql+psycopg"  # psycopg 3 (setup.cfg's postgres extra), on Debian's libpq
PASSWORD = secrets.Spec("PGPASSWORD", "postgres_password", "PostgreSQL password")
DEFAULT_SECRET_DIR = "/run/hubdist-database"


def parse(value: str) -> str:
    """``sqlite``, ``postgres`` or a PostgreSQL URL (with hubdist's driver named)."""
    value = value.strip()
    if value in CHOICES:
        return value
    scheme, sep, rest = value.partition("://")
    if sep and scheme in ("postgres", "postgresql", DRIVER):
        return f"{DRIVER}://{rest}"
    raise ValueError(
        f"{SETTING}={value!r}: use sqlite (the default), postgres (the compose service of "
        "that name) or a URL postgresql://USER@HOST:PORT/DATABASE"
    )


def db_url(choice: str, data_dir: str | Path) -> str:
    """JupyterHub's db_url for a parsed ``HUBDIST_DATABASE``."""
    if choice == "sqlite":
        return sqlite_url(data_dir)
    if choice == "postgres":
        return SERVICE_URL
    return choice


def sqlite_url(data_dir: str | Path) -> str:
    return f"sqlite:///{Path(data_dir) / SQLITE_FILE}"


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres:"))


def secret_dir(environ: Mapping[str, str]) -> Path:
    """The folder shared with the postgres service, where its password is made once."""
    return Path(environ.get("HUBDIST_DATABASE_SECRET_DIR") or DEFAULT_SECRET_DIR)


def password(environ: Mapping[str, str], choice: str) -> secrets.Resolved | None:
    """PostgreSQL's password: given, or for the compose service made once and shared with
    it; None for SQLite, or for a server of your own whose URL or ~/.pgpass holds it."""
    if choice == "sqlite":
        return None
    if choice == "postgres":
        return secrets.resolve(PASSWORD, environ, secret_dir(environ))
    given = secrets.from_environment(environ, PASSWORD.variable)
    return secrets.Resolved(PASSWORD, *given) if given else None


def configured(environ: Mapping[str, str]) -> str:
    """The parsed ``HUBDIST_DATABASE`` of ``environ`` (``sqlite`` when unset)."""
    return parse(environ.get(SETTING, "").strip() or "sqlite")
