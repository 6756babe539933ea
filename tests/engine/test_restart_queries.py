"""hubdist-hub's rounds over every running server make no database query per user
(hubdist.services.hub): plain JupyterHub 6.1 makes five per running server in a restart,
which at 500 servers is most of it (benchmarks S9), and one in each activity round."""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from .test_fault_drills import _wait_until_settled

STUB_SERVER = 'c.Spawner.cmd = ["python3", "-m", "http.server", "8888"]\n'
# the same, answering 200 at the user's prefix: the proxy records activity only for answers
# that are not errors
STUB_WITH_A_PAGE = (
    'c.Spawner.cmd = ["sh", "-c", \'mkdir -p "www/user/$JUPYTERHUB_USER" && cd www && '
    "exec python3 -m http.server 8888']\n"
)
USERS = 8


def restart_log(hub) -> str:
    """What the hub logged from its last start up to "Initialized N spawners"."""
    text = hub.log_path.read_text(errors="replace")
    last = text.rindex("Running JupyterHub version")
    end = text.index("Initialized", last)
    return text[last : text.index("\n", end)]


def test_the_activity_round_writes_what_the_proxy_saw_without_a_query_per_user(make_hub, username):
    """JupyterHub's round (every last_activity_interval) reads each route's activity from
    the proxy; plain JupyterHub 6.1 then finds each route's user with a query of its own."""
    hub = make_hub(
        STUB_WITH_A_PAGE
        + "c.JupyterHub.last_activity_interval = 2\n"
        + "c.JupyterHub.debug_db = True\n"  # SQLAlchemy logs every statement
    )
    users = [f"{username[:20]}-{i}" for i in range(USERS)]
    with ThreadPoolExecutor(USERS) as pool:
        list(pool.map(hub.spawn, users))
    time.sleep(1.5)  # activity later than anything the database has, to the second
    used_at = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    for user in users:  # through the proxy, which records each route's last activity
        assert hub.user_get(user, "").status_code == 200, user

    logged_from = hub.log_path.stat().st_size
    deadline = time.monotonic() + 30
    while True:
        written = last_activity(hub, users)
        if written.keys() == set(users) and min(written.values()) >= used_at:
            break
        assert time.monotonic() < deadline, f"no activity written since {used_at}: {written}"
        time.sleep(0.5)
    time.sleep(2.5)  # a further round, all of it in the log
    rounds = hub.log_path.read_text(errors="replace")[logged_from:]
    one_user = re.findall(r"FROM users\s+WHERE users\.name = \?", rounds)
    assert not one_user, f"{len(one_user)} queries for one user by name in the rounds"
    assert "users.name IN" in rounds, "no round of the users' activity was logged"
    for user in users:
        hub.stop_server(user)


def last_activity(hub, users: list[str]) -> dict[str, datetime]:
    """Each user's last activity as the hub's database has it (read beside the hub, so
    that the hub's own log shows only its rounds)."""
    with contextlib.closing(sqlite3.connect(hub.workdir / "jupyterhub.sqlite")) as db:
        rows = db.execute(
            f"SELECT name, last_activity FROM users WHERE name IN ({','.join('?' * len(users))})",
            users,
        ).fetchall()
    return {name: datetime.fromisoformat(when) for name, when in rows if when}


def test_restart_with_servers_running_fetches_no_user_on_its_own(make_hub, username):
    hub = make_hub(STUB_SERVER)
    users = [f"{username[:20]}-{i}" for i in range(USERS)]
    with ThreadPoolExecutor(USERS) as pool:
        list(pool.map(hub.spawn, users))

    hub.stop(signal.SIGKILL)  # no cleanup: the servers stay, as after a crash or an upgrade
    hub.config += "c.JupyterHub.debug_db = True\n"  # SQLAlchemy logs every statement
    hub.start()

    settled = _wait_until_settled(hub, users)
    assert all(model and model["ready"] for model in settled.values()), settled
    for user in users:  # found again: each one's stub answers through the proxy
        assert hub.user_get(user, "").headers.get("Server", "").startswith("SimpleHTTP"), user
    log = restart_log(hub)
    assert f"Initialized {USERS} spawners" in log, log[-2000:]
    # one user's spawners, or one user, fetched on its own (parameter first: SQLAlchemy's
    # lazy load of a relationship)
    one_users_spawners = re.findall(r"WHERE \? = spawners\.user_id", log)
    one_user = re.findall(r"FROM users\s+WHERE users\.id = \?", log)
    assert not one_users_spawners and not one_user, (
        f"{len(one_users_spawners)} queries for one user's spawners and {len(one_user)} for "
        f"one user while {USERS} servers were checked"
    )
    for user in users:
        hub.stop_server(user)
