"""A hub restarted with servers running finds them again without a database query per user
(hubdist.services.hub): plain JupyterHub 6.1 makes five per running server, which at 500
servers is most of its restart (benchmarks S9)."""

from __future__ import annotations

import re
import signal
from concurrent.futures import ThreadPoolExecutor

from .test_fault_drills import _wait_until_settled

STUB_SERVER = 'c.Spawner.cmd = ["python3", "-m", "http.server", "8888"]\n'
USERS = 8


def restart_log(hub) -> str:
    """What the hub logged from its last start up to "Initialized N spawners"."""
    text = hub.log_path.read_text(errors="replace")
    last = text.rindex("Running JupyterHub version")
    end = text.index("Initialized", last)
    return text[last : text.index("\n", end)]


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
