"""`hubdist backup` and `hubdist restore` as commands, on a hub's folders and a SQLite
database made by JupyterHub's own ORM: what the archive holds, a copy taken while the hub
writes, a restore into a fresh deployment that brings back users, groups, roles, tokens and
named servers, and a restore that refuses to overwrite anything unless asked.

The whole drill (PostgreSQL, running servers, users' volumes, everything destroyed and
brought back) is end to end in tests/e2e/test_postgres.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading
from contextlib import closing
from pathlib import Path

from jupyterhub import orm

from .test_database import make_hub_database

REPO = Path(__file__).resolve().parents[2]


def hub_folders(root: Path, **given: str) -> dict[str, str]:
    """The environment of a hub whose data, shared and override folders are under ``root``."""
    for folder in ("data", "shared", "config.d"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    settings = ("HUBDIST_", "JPY_", "JUPYTERHUB_", "CONFIGPROXY_", "PG")  # none of the caller's
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(settings)},
        "PYTHONPATH": str(REPO),
        "HUBDIST_DATA_DIR": str(root / "data"),
        "HUBDIST_SHARED_DIR": str(root / "shared"),
        "HUBDIST_OVERRIDE_DIR": str(root / "config.d"),
        "HUBDIST_DEPLOYMENT": f"backup-test-{os.getpid()}",  # owns no volume on this engine
        "HUBDIST_PREFIX": f"backup-test-{os.getpid()}",
        **given,
    }


def hubdist(env: dict[str, str], *args: str, stdin: bytes | None = None):
    return subprocess.run(
        [sys.executable, "-m", "hubdist", *args], env=env, input=stdin, capture_output=True
    )


def old_hub(root: Path, **given: str) -> tuple[dict[str, str], dict[str, str]]:
    """A hub's folders as its start leaves them, plus a role and a named server; the
    environment and the users' API tokens."""
    env = hub_folders(root, **given)
    tokens = make_hub_database(root / "data" / "jupyterhub.sqlite")
    db = orm.new_session_factory(f"sqlite:///{root}/data/jupyterhub.sqlite")()
    bob = orm.User.find(db, "bob")
    db.add(orm.Role(name="graders", scopes=["list:users"], users=[bob]))
    db.add(orm.Spawner(user=bob, name="thesis", state={"container_id": "c-bob-thesis"}))
    db.commit()
    db.close()
    for folder, name, value in (
        ("data", "jupyterhub_cookie_secret", "ab" * 32),
        ("data", "jupyterhub_crypt_key", "cd" * 32),
        ("data", "trial_password", "open-sesame"),
        ("shared", "proxy_auth_token", "ef" * 32),
    ):
        path = root / folder / name
        path.write_text(value + "\n")
        path.chmod(0o600)
    (root / "config.d" / "50-site.py").write_text("c.Spawner.mem_limit = '2G'\n")
    return env, tokens


def test_the_archive_holds_the_database_secrets_and_configuration(tmp_path):
    env, _ = old_hub(tmp_path / "old", JUPYTERHUB_CRYPT_KEY_FILE="", HUBDIST_DOCTOR_TOKEN="x" * 64)
    done = hubdist(env, "backup", "-o", str(tmp_path / "backup.tar.gz"))
    assert done.returncode == 0, done.stderr.decode()
    report = done.stderr.decode()
    assert "2 users, 2 api_tokens, 1 groups" in report
    assert (tmp_path / "backup.tar.gz").stat().st_mode & 0o777 == 0o600  # it holds secrets
    with tarfile.open(tmp_path / "backup.tar.gz") as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert {
        "database.sqlite", "data/jupyterhub_cookie_secret", "data/jupyterhub_crypt_key",
        "data/trial_password", "shared/proxy_auth_token", "config.d/50-site.py",
        "secrets/doctor_api_token",  # given in the environment, not generated
    } <= names  # fmt: skip
    assert "data/jupyterhub.sqlite" not in names  # the live file: only its consistent copy
    assert manifest["rows"]["users"] == 2 and manifest["revision"]
    # an archive is never written over another file
    again = hubdist(env, "backup", "-o", str(tmp_path / "backup.tar.gz"))
    assert again.returncode == 1 and b"exists; name a new file" in again.stderr


def test_a_backup_taken_while_the_hub_writes_is_a_consistent_database(tmp_path):
    env, _ = old_hub(tmp_path / "old")
    live = tmp_path / "old" / "data" / "jupyterhub.sqlite"
    stop, written = threading.Event(), []

    def write_users():  # the hub at work: a new user every few milliseconds
        with closing(sqlite3.connect(live, timeout=30)) as db:
            while not stop.is_set():
                name = f"user{len(written)}"
                db.execute(
                    "INSERT INTO users (name, admin, cookie_id) VALUES (?, 0, ?)", (name, name)
                )
                db.commit()
                written.append(name)

    writer = threading.Thread(target=write_users)
    writer.start()
    try:
        done = hubdist(env, "backup", "-o", str(tmp_path / "b.tar.gz"))
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 0, done.stderr.decode()
    assert len(written) > 10, "the hub kept writing during the backup"
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        tar.extract("database.sqlite", tmp_path, filter="data")
        manifest = json.loads(tar.extractfile("manifest.json").read())
    with closing(sqlite3.connect(tmp_path / "database.sqlite")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        users = db.execute("SELECT count(*) FROM users").fetchone()[0]
    assert users == manifest["rows"]["users"] >= 2  # one moment's state, counted from it


def test_a_restore_into_a_fresh_deployment_brings_the_hub_back(tmp_path):
    old_env, tokens = old_hub(tmp_path / "old", JPY_COOKIE_SECRET="12" * 32)
    archive = hubdist(old_env, "backup").stdout  # to standard output, as docs say
    new_env = hub_folders(tmp_path / "new")
    config_dir = tmp_path / "restored-config"
    done = hubdist(new_env, "restore", "-", "--config-dir", str(config_dir), stdin=archive)
    assert done.returncode == 0, done.stderr.decode()

    db = orm.new_session_factory(f"sqlite:///{tmp_path}/new/data/jupyterhub.sqlite")()
    assert orm.APIToken.find(db, tokens["bob"]).user.name == "bob"  # the same token works
    bob = orm.User.find(db, "bob")
    assert [g.name for g in bob.groups] == ["class"]
    assert "graders" in [r.name for r in bob.roles]
    assert sorted(bob.orm_spawners) == ["", "thesis"]  # the named server too
    assert orm.User.find(db, "alice").admin
    db.close()
    new = tmp_path / "new"
    assert (new / "data" / "jupyterhub_crypt_key").read_text().strip() == "cd" * 32
    assert (new / "data" / "trial_password").read_text().strip() == "open-sesame"
    assert (new / "shared" / "proxy_auth_token").read_text().strip() == "ef" * 32
    # a secret the old hub was given (a variable) is kept like a generated one here
    assert (new / "data" / "jupyterhub_cookie_secret").read_text().strip() == "12" * 32
    assert (new / "data" / "jupyterhub_cookie_secret").stat().st_mode & 0o777 == 0o600
    assert (config_dir / "50-site.py").read_text() == "c.Spawner.mem_limit = '2G'\n"


def test_a_restore_overwrites_nothing_unless_asked_and_then_keeps_the_old(tmp_path):
    old_env, _ = old_hub(tmp_path / "old")
    archive = hubdist(old_env, "backup").stdout
    new_env, new_tokens = old_hub(tmp_path / "new")  # a hub already running here
    secret = tmp_path / "new" / "data" / "jupyterhub_crypt_key"
    secret.write_text("99" * 32 + "\n")
    database = tmp_path / "new" / "data" / "jupyterhub.sqlite"
    before = database.read_bytes()

    refused = hubdist(new_env, "restore", "-", stdin=archive)
    assert refused.returncode == 1
    message = refused.stderr.decode()
    assert f"{database} (a hub's database, with users)" in message
    assert str(secret) in message and "--replace" in message
    assert database.read_bytes() == before and secret.read_text() == "99" * 32 + "\n"

    replaced = hubdist(new_env, "restore", "-", "--replace", stdin=archive)
    assert replaced.returncode == 0, replaced.stderr.decode()
    assert secret.read_text().strip() == "cd" * 32
    assert (secret.parent / "jupyterhub_crypt_key.before-restore").read_text() == "99" * 32 + "\n"
    assert (database.parent / "jupyterhub.sqlite.before-restore").read_bytes() == before


def killed_hub_with_a_log(database: Path, user: str) -> None:
    """A hub killed (SIGKILL) after committing ``user`` into ``database`` in the
    write-ahead log it writes with by default: the commit is in ``-wal`` only."""
    with closing(sqlite3.connect(database)) as db:
        db.execute("PRAGMA journal_mode=WAL")
    hub = (
        "import os, signal, sqlite3\n"
        f"db = sqlite3.connect({str(database)!r})\n"
        "db.execute('PRAGMA wal_autocheckpoint=0')\n"
        f"db.execute(\"INSERT INTO users (name, admin, cookie_id) VALUES ('{user}', 0, 'x')\")\n"
        "db.commit()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", hub], check=False)
    assert Path(f"{database}-wal").stat().st_size > 0


def test_a_restore_over_a_killed_hubs_log_neither_replays_it_nor_loses_it(tmp_path):
    """SQLite replays a log onto whatever file bears its name: a killed hub's, left beside
    a database the restore replaces, must go into the file kept, not into the restored one."""
    old_env, _ = old_hub(tmp_path / "old")
    archive = hubdist(old_env, "backup").stdout
    new_env, _ = old_hub(tmp_path / "new")
    (tmp_path / "new" / "config.d" / "50-site.py").unlink()  # only the database differs
    database = tmp_path / "new" / "data" / "jupyterhub.sqlite"
    killed_hub_with_a_log(database, "carol")

    done = hubdist(new_env, "restore", "-", "--replace", stdin=archive)
    assert done.returncode == 0, done.stderr.decode()

    def users(path: Path) -> list[str]:
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            return sorted(row[0] for row in db.execute("SELECT name FROM users"))

    assert users(database) == ["alice", "bob"]  # the archive's, nothing of the killed hub
    kept = database.with_name("jupyterhub.sqlite.before-restore")
    assert users(kept) == ["alice", "bob", "carol"]  # its last commit kept with it


def test_something_that_is_no_backup_is_refused_saying_so(tmp_path):
    env = hub_folders(tmp_path)
    done = hubdist(env, "restore", "-", stdin=b"not an archive")
    assert done.returncode == 1
    assert done.stderr.decode().startswith("hubdist restore: cannot read the archive -")
    assert not (tmp_path / "data" / "jupyterhub.sqlite").exists()
