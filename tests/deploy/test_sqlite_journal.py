"""How the hub's SQLite database writes (HUBDIST_SQLITE_JOURNAL, hubdist.database.journal):
the default configuration asks for the write-ahead log, JupyterHub's own connections then
get it, a hub killed mid-work loses nothing it committed, and the setting can turn a file
back for a data folder on a network filesystem. A restore over a killed hub's log is in
test_backup.py."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy
from jupyterhub import orm

from hubdist.config.recording import ConfigError
from hubdist.database import journal

REPO = Path(__file__).resolve().parents[2]


def factory(c) -> type | None:
    """The class of the hub's database connections the configuration asks for, if any."""
    if "db_kwargs" not in c.JupyterHub:
        return None
    return c.JupyterHub.db_kwargs["connect_args"]["factory"]


def test_the_default_is_the_write_ahead_log_and_the_environment_changes_it(load, monkeypatch):
    assert factory(load()) is journal.WriteAheadLog
    monkeypatch.setenv("HUBDIST_SQLITE_JOURNAL", "DELETE")
    assert factory(load()) is journal.RollbackJournal


def test_postgresql_or_db_kwargs_of_ones_own_are_left_alone(load, monkeypatch):
    monkeypatch.setenv("HUBDIST_DATABASE", "postgres")
    assert factory(load()) is None  # psycopg would refuse sqlite3's connection class
    monkeypatch.delenv("HUBDIST_DATABASE")
    c = load(**{"50-db.py": "c.JupyterHub.db_url = 'postgresql://hub@db.example.org/hub'\n"})
    assert factory(c) is None
    c = load(**{"50-db.py": "c.JupyterHub.db_kwargs = {'pool_size': 5}\n"})
    assert c.JupyterHub.db_kwargs == {"pool_size": 5}


def test_a_bad_journal_stops_the_hub_naming_the_variable_and_the_choices(load, monkeypatch):
    monkeypatch.setenv("HUBDIST_SQLITE_JOURNAL", "memory")
    with pytest.raises(ConfigError) as error:
        load()
    message = str(error.value)
    assert "HUBDIST_SQLITE_JOURNAL='memory': use wal (the default" in message
    assert "delete (SQLite's own default, for a data folder on NFS" in message


def pragmas(path: Path, choice: str, user: str) -> tuple[str, int]:
    """The file's journal mode and the synchronous level of a connection JupyterHub's ORM
    makes with the db_kwargs for ``choice``; and that it writes."""
    db = orm.new_session_factory(f"sqlite:///{path}", **journal.db_kwargs(choice))()
    try:
        mode = db.execute(sqlalchemy.text("PRAGMA journal_mode")).scalar()
        level = db.execute(sqlalchemy.text("PRAGMA synchronous")).scalar()
        db.add(orm.User(name=user))
        db.commit()
        return mode, level
    finally:
        db.close()
        db.get_bind().dispose()


def test_jupyterhubs_connections_get_the_log_and_delete_turns_the_file_back(tmp_path):
    path = tmp_path / "jupyterhub.sqlite"
    assert pragmas(path, "wal", "ada") == ("wal", 1)  # NORMAL: a commit does not wait
    with closing(sqlite3.connect(path)) as db:  # kept in the file, for any later reader
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert pragmas(path, "delete", "grace") == ("delete", 2)  # FULL, SQLite's default
    assert not Path(f"{path}-wal").exists()
    with closing(sqlite3.connect(path)) as db:
        assert sorted(r[0] for r in db.execute("SELECT name FROM users")) == ["ada", "grace"]


def test_a_hub_killed_right_after_its_commits_loses_none_of_them(tmp_path):
    """The log gives up commits at a power cut, never at a crash of the hub: SIGKILL, the
    log left beside the file, and everything committed is there at the next start."""
    path = tmp_path / "jupyterhub.sqlite"
    hub = textwrap.dedent(f"""
        import os, signal
        from jupyterhub import orm
        from hubdist.database import journal
        db = orm.new_session_factory("sqlite:///{path}", **journal.db_kwargs("wal"))()
        for i in range(50):
            db.add(orm.User(name=f"user{{i}}"))
            db.commit()
        print("committed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run(
        [sys.executable, "-c", hub], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL and done.stdout == "committed\n", done.stderr
    assert Path(f"{path}-wal").stat().st_size > 0  # the commits were in the log only
    db = orm.new_session_factory(f"sqlite:///{path}", **journal.db_kwargs("wal"))()
    assert db.query(orm.User).count() == 50
    db.close()
