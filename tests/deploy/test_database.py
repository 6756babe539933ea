"""The hub's database: HUBDIST_DATABASE chooses it, `hubdist start` settles PostgreSQL's
password and refuses to start, saying why, when the database does not answer, and
`hubdist db migrate` copies a hub's database made by JupyterHub's own ORM.

PostgreSQL itself is exercised end to end in tests/e2e/test_postgres.py; here the copy goes
SQLite to SQLite, which runs the same code but the sequence step.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy
from jupyterhub import orm

from hubdist.config.recording import ConfigError
from hubdist.database import migrate, reach, settings
from hubdist.services import start

REPO = Path(__file__).resolve().parents[2]


def test_sqlite_in_the_data_folder_is_the_default(load):
    assert load().JupyterHub.db_url == f"sqlite:///{load.data}/jupyterhub.sqlite"


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("postgres", "postgresql+psycopg://hubdist@postgres:5432/hubdist"),
        ("postgresql://hub@db.example.org/hub", "postgresql+psycopg://hub@db.example.org/hub"),
        ("postgres://hub@db:6432/x", "postgresql+psycopg://hub@db:6432/x"),
    ],
)
def test_hubdist_database_sets_db_url_without_a_password(load, monkeypatch, value, url):
    monkeypatch.setenv("HUBDIST_DATABASE", value)
    assert load().JupyterHub.db_url == url


def test_a_bad_hubdist_database_stops_the_hub_naming_it(load, monkeypatch):
    monkeypatch.setenv("HUBDIST_DATABASE", "mysql://x@y/z")
    with pytest.raises(ConfigError) as error:
        load()
    assert "HUBDIST_DATABASE='mysql://x@y/z': use sqlite" in str(error.value)


def _environ(tmp_path: Path, **more: str) -> dict[str, str]:
    return {
        "HUBDIST_DATA_DIR": str(tmp_path / "data"),
        "HUBDIST_DATABASE_SECRET_DIR": str(tmp_path / "database"),
        **more,
    }


def test_the_postgres_password_is_made_once_and_handed_to_libpq(tmp_path):
    environ = _environ(tmp_path, HUBDIST_DATABASE="postgres")
    first = start.prepare(environ)
    made = tmp_path / "database" / "postgres_password"
    assert environ["PGPASSWORD"] == made.read_text().strip()
    assert oct(made.stat().st_mode & 0o777) == "0o600"
    assert any(item.spec is settings.PASSWORD and "generated now" in item.source for item in first)
    again = _environ(tmp_path, HUBDIST_DATABASE="postgres")
    start.prepare(again)
    assert again["PGPASSWORD"] == environ["PGPASSWORD"]


def test_with_sqlite_there_is_no_database_password(tmp_path):
    environ = _environ(tmp_path)
    start.prepare(environ)
    assert "PGPASSWORD" not in environ
    assert not (tmp_path / "database").exists()


def _refusing(message: str):
    def connect(url):
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception(message))

    return connect


def test_a_database_that_does_not_answer_is_named_with_its_setting():
    connect = _refusing('could not translate host name "postgres" to address')
    with pytest.raises(reach.DatabaseError) as error:
        reach.wait_reachable("postgres", "secret", "a file", wait=0, connect=connect)
    message = str(error.value)
    assert message.startswith(
        "the database HUBDIST_DATABASE=postgres selects, "
        "postgresql+psycopg://hubdist:***@postgres:5432/hubdist, did not answer in 0 s: "
        'could not translate host name "postgres" to address.'
    )
    assert "docker compose --profile postgres up -d" in message
    assert "HUBDIST_DATABASE=sqlite" in message
    assert "secret" not in message.replace("selects", "")


def test_a_refused_password_fails_at_once_saying_where_it_came_from():
    connect = _refusing('FATAL:  password authentication failed for user "hubdist"')
    with pytest.raises(reach.DatabaseError) as error:
        reach.wait_reachable(
            "postgres", "secret", "/run/x (PGPASSWORD_FILE)", wait=3600, connect=connect
        )
    assert "refuses the password (from /run/x (PGPASSWORD_FILE))" in str(error.value)


# -- hubdist db migrate ------------------------------------------------------------------------


def make_hub_database(path: Path) -> dict[str, str]:
    """A database as a hub leaves it: users (one admin, in a group), a running server with
    its state, an API token each; made by JupyterHub's own ORM. The tokens, by user."""
    session = orm.new_session_factory(f"sqlite:///{path}")()
    session.add(orm.OAuthClient(identifier="jupyterhub"))  # the hub's own, which tokens name
    group = orm.Group(name="class")
    tokens = {}
    for name, admin in (("alice", True), ("bob", False)):
        user = orm.User(name=name, admin=admin)
        user.groups.append(group)
        session.add(user)
        session.commit()
        spawner = orm.Spawner(user=user, name="", state={"container_id": f"c-{name}"})
        session.add(spawner)
        if name == "alice":
            spawner.server = orm.Server(ip="10.213.128.5", port=8888, base_url="/user/alice/")
        session.commit()
        tokens[name] = user.new_api_token(note="migration test")
    session.close()
    return tokens


def _read(url: str):
    return orm.new_session_factory(url)()


def test_migrate_copies_users_servers_and_tokens_that_keep_working(tmp_path):
    tokens = make_hub_database(tmp_path / "old.sqlite")
    counts = migrate.copy(f"sqlite:///{tmp_path}/old.sqlite", f"sqlite:///{tmp_path}/new.sqlite")
    assert counts["users"] == 2 and counts["api_tokens"] == 2 and counts["servers"] == 1

    db = _read(f"sqlite:///{tmp_path}/new.sqlite")
    alice = orm.User.find(db, "alice")
    assert alice.admin and [g.name for g in alice.groups] == ["class"]
    spawner = alice.orm_spawners[""]
    assert spawner.state == {"container_id": "c-alice"}
    assert (spawner.server.ip, spawner.server.port) == ("10.213.128.5", 8888)
    assert orm.APIToken.find(db, tokens["bob"]).user.name == "bob"
    # the hub goes on writing: a new user gets an id of its own
    db.add(orm.User(name="carol"))
    db.commit()
    assert sorted(u.name for u in db.query(orm.User)) == ["alice", "bob", "carol"]


def test_migrate_refuses_a_target_that_holds_data_and_leaves_it_alone(tmp_path):
    make_hub_database(tmp_path / "old.sqlite")
    target = f"sqlite:///{tmp_path}/used.sqlite"
    db = _read(target)
    db.add(orm.User(name="zed"))
    db.commit()
    with pytest.raises(migrate.MigrationError, match="already holds a hub's data .*users"):
        migrate.copy(f"sqlite:///{tmp_path}/old.sqlite", target)
    assert [u.name for u in _read(target).query(orm.User)] == ["zed"]


def test_migrate_refuses_a_missing_source_or_an_old_schema(tmp_path):
    with pytest.raises(migrate.MigrationError, match="no SQLite database at"):
        migrate.copy(f"sqlite:///{tmp_path}/none.sqlite", f"sqlite:///{tmp_path}/new.sqlite")
    make_hub_database(tmp_path / "old.sqlite")
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path}/old.sqlite")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = 'abc'"))
    with pytest.raises(
        migrate.MigrationError, match="revision abc, this JupyterHub runs .*upgrade"
    ):
        migrate.copy(f"sqlite:///{tmp_path}/old.sqlite", f"sqlite:///{tmp_path}/new.sqlite")
    assert not _read(f"sqlite:///{tmp_path}/new.sqlite").query(orm.User).count()


def test_the_command_copies_into_the_url_given_and_says_what_it_did(tmp_path):
    make_hub_database(tmp_path / "old.sqlite")
    command = [sys.executable, "-m", "hubdist", "db", "migrate"]
    command += [
        "--from",
        f"sqlite:///{tmp_path}/old.sqlite",
        "--to",
        f"sqlite:///{tmp_path}/n.sqlite",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "copied" in done.stdout and "users 2" in done.stdout
    again = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.startswith("hubdist db migrate: ") and "already holds" in again.stderr
    assert "Traceback" not in again.stderr


def test_the_command_without_a_target_needs_hubdist_database(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HUBDIST_DATA_DIR": str(tmp_path)}
    env.pop("HUBDIST_DATABASE", None)
    done = subprocess.run(
        [sys.executable, "-m", "hubdist", "db", "migrate"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 1
    assert "HUBDIST_DATABASE is sqlite (or unset): set it to postgres" in done.stderr
