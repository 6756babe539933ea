"""The hub's start copies its database before JupyterHub upgrades the schema.

The database is one JupyterHub's own ORM made, taken one schema revision back by
JupyterHub's own alembic migration (as a hub of an older JupyterHub leaves it), then
upgraded by ``jupyterhub upgrade-db`` after ``hubdist start``'s step ran, as the hub
does when it starts with ``upgrade_db`` on. The database copied is the one JupyterHub will
open: ``HUBDIST_DATABASE``'s, or a ``db_url`` set in config.d. On PostgreSQL:
tests/e2e/test_postgres.py.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy
import sqlalchemy.orm
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from jupyterhub import dbutil, orm
from sqlalchemy import select
from sqlalchemy.engine import make_url

from hubdist.database import migrate, preupgrade, snapshot
from hubdist.services import start

from .test_database import make_hub_database

CONFIG_FILE = Path(__file__).resolve().parents[2] / "config" / "jupyterhub_config.py"


def downgrade_one_revision(url: str) -> str:
    """Take the database at ``url`` one schema revision back, by JupyterHub's migration;
    the revision it is at then."""
    with dbutil._temp_alembic_ini(url) as ini:
        config = AlembicConfig(ini)
        older = ScriptDirectory.from_config(config).get_revision(migrate.schema_head())
        command.downgrade(config, older.down_revision)
    return older.down_revision


def older_hub(root: Path) -> tuple[dict[str, str], str, dict[str, str]]:
    """A hub's data folder whose SQLite database is one revision behind this JupyterHub:
    the hub's environment, that revision, the users' API tokens."""
    data = root / "data"
    data.mkdir(parents=True)
    tokens = make_hub_database(data / "jupyterhub.sqlite")
    older = downgrade_one_revision(f"sqlite:///{data}/jupyterhub.sqlite")
    environ = {"HUBDIST_DATA_DIR": str(data), "HUBDIST_DATABASE": "sqlite"}
    return environ, older, tokens


def revision_of(path: Path) -> str:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_a_database_at_an_older_revision_is_copied_before_jupyterhub_upgrades_it(tmp_path, capsys):
    environ, older, tokens = older_hub(tmp_path)
    data = Path(environ["HUBDIST_DATA_DIR"])
    assert older != migrate.schema_head()

    start.protect_database(environ)
    log = capsys.readouterr().err
    upgraded = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyterhub",
            "upgrade-db",
            f"--db=sqlite:///{data}/jupyterhub.sqlite",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert upgraded.returncode == 0, upgraded.stderr

    [copy] = (data / "backups").iterdir()
    assert copy.name.startswith(f"pre-upgrade-{older}-") and copy.suffix == ".sqlite"
    assert f"is at schema revision {older}; this JupyterHub runs {migrate.schema_head()}" in log
    assert f"database copied to {copy} (2 users) before the upgrade" in log
    assert "To roll back: stop the hub, restore this file" in log
    # the hub's database moved on; the copy is the database as the older hub left it
    assert revision_of(data / "jupyterhub.sqlite") == migrate.schema_head()
    assert revision_of(copy) == older == snapshot.revision(copy)
    engine = sqlalchemy.create_engine(f"sqlite:///{copy}")
    with sqlalchemy.orm.Session(engine) as db:  # the ORM's check would refuse the old revision
        assert sorted(db.scalars(select(orm.User.name))) == ["alice", "bob"]
        assert orm.APIToken.find(db, tokens["bob"]).user.name == "bob"
    engine.dispose()
    assert oct(copy.stat().st_mode & 0o777) == "0o600"  # token hashes, encrypted auth state


def test_a_new_or_current_database_is_not_copied(tmp_path, capsys):
    data = tmp_path / "data"
    environ = {"HUBDIST_DATA_DIR": str(data), "HUBDIST_DATABASE": "sqlite"}
    start.protect_database(environ)  # no file yet: the hub's first start
    data.mkdir()
    (data / "jupyterhub.sqlite").touch()
    start.protect_database(environ)  # an empty file
    make_hub_database(data / "jupyterhub.sqlite")  # at this JupyterHub's revision
    start.protect_database(environ)
    assert not (data / "backups").exists()
    assert "hubdist start" not in capsys.readouterr().err


def test_a_copy_that_cannot_be_made_stops_the_start_with_the_database_untouched(
    tmp_path, monkeypatch, capsys
):
    environ, older, _ = older_hub(tmp_path)
    data = Path(environ["HUBDIST_DATA_DIR"])
    (data / "backups").write_text("a file where the folder of copies goes\n")
    # the start exports the secrets it settles into os.environ: a copy keeps them in here
    monkeypatch.setattr(os, "environ", dict(os.environ))
    for name in ("HUBDIST_SHARED_DIR", "HUBDIST_PREFIX", "HUBDIST_DEPLOYMENT"):
        os.environ.pop(name, None)
    os.environ.update(environ)
    execs = []
    monkeypatch.setattr(os, "execvp", lambda *args: execs.append(args))

    assert start.main([]) == 1

    assert execs == []  # JupyterHub never ran, so never upgraded the database
    message = capsys.readouterr().err
    assert "could not back up the database before the upgrade of its schema" in message
    assert "The hub is not started, so the database is unchanged" in message
    assert revision_of(data / "jupyterhub.sqlite") == older


@pytest.mark.parametrize("found", [None, preupgrade.UNVERSIONED])
def test_a_database_without_users_is_new_and_one_without_revision_is_old(tmp_path, found):
    path = tmp_path / "hub.sqlite"
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "CREATE TABLE users (id INTEGER)" if found else "CREATE TABLE other (id INTEGER)"
        )
    assert preupgrade.revision(make_url(f"sqlite:///{path}")) == found


def test_a_db_url_set_in_config_d_is_the_database_copied(tmp_path, monkeypatch, capsys):
    # the hub's own database (HUBDIST_DATABASE's) is current; config.d names an older one
    data, overrides = tmp_path / "data", tmp_path / "config.d"
    data.mkdir()
    overrides.mkdir()
    make_hub_database(data / "jupyterhub.sqlite")
    _, older, _ = older_hub(tmp_path / "site")
    site_db = tmp_path / "site" / "data" / "jupyterhub.sqlite"
    (overrides / "50-database.py").write_text(f'c.JupyterHub.db_url = "sqlite:///{site_db}"\n')
    monkeypatch.setenv("HUBDIST_DATA_DIR", str(data))
    monkeypatch.setenv("HUBDIST_OVERRIDE_DIR", str(overrides))
    monkeypatch.delenv("HUBDIST_DATABASE", raising=False)

    start.protect_database(os.environ, CONFIG_FILE)

    [copy] = (data / "backups").iterdir()
    assert copy.name.startswith(f"pre-upgrade-{older}-")
    assert f"the database (sqlite:///{site_db}) is at schema revision {older}" in (
        capsys.readouterr().err
    )
