"""A server killed from outside is noticed from the engine's events, not the next poll."""

from __future__ import annotations

import time

from ..hubrig import docker, user_container


def test_killed_container_is_noticed_without_polling_and_can_start_again(make_hub, username):
    # JupyterHub's own poll would come only after an hour: anything sooner is the event
    hub = make_hub("c.Spawner.poll_interval = 3600\nc.Spawner.poll_jitter = 0\n")
    hub.spawn(username)
    docker("kill", user_container(username))

    deadline = time.monotonic() + 20  # generous: the point is "not after poll_interval"
    while hub.server_model(username) is not None:
        assert time.monotonic() < deadline, "the hub did not notice the dead server"
        time.sleep(0.2)
    assert "stopped (exit code 137)" in hub.log_tail(200)

    hub.spawn(username)  # and the user can start again
    assert hub.user_get(username, "api/status").status_code == 200
    hub.stop_server(username)
