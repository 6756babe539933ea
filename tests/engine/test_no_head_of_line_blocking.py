"""A slow Docker operation for one user never holds up another user's spawn."""

from __future__ import annotations

import time

STUBBORN = """
def stubborn_server(spawner):
    # this user's server ignores SIGTERM, so its stop waits out the whole grace period
    if spawner.user.name.startswith("stubborn"):
        spawner.cmd = ["sh", "-c", "trap '' TERM; exec python3 -m http.server 8888"]
c.Spawner.pre_spawn_hook = stubborn_server
c.DockerSpawner.stop_timeout = 15
"""


def test_spawn_completes_while_another_users_stop_waits_out_its_grace(make_hub, username):
    hub = make_hub(STUBBORN)
    stubborn = f"stubborn-{username}"[:40]
    hub.spawn(stubborn)

    r = hub.api("DELETE", hub.server_path(stubborn))
    assert r.status_code == 202, "the stop is still waiting for the server to exit"

    hub.spawn(username)  # a JupyterLab spawn, with its many engine calls, meanwhile
    assert hub.user_get(username, "api/status").status_code == 200
    stubborn_model = hub.server_model(stubborn)
    assert stubborn_model is not None and stubborn_model["pending"] == "stop", (
        "the other user's spawn finished while the stop was still in its grace period"
    )

    deadline = time.monotonic() + 60
    while hub.server_model(stubborn) is not None:
        assert time.monotonic() < deadline, "the stubborn server was never killed"
        time.sleep(0.5)
    hub.stop_server(username)
