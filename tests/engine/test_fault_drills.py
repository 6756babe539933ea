"""Fault drills: parts die, users keep their servers."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from ..hubrig import inspect, user_container


def test_killed_proxy_is_back_with_routes_and_servers_untouched(make_hub, username):
    hub = make_hub()
    hub.spawn(username)
    container = inspect("container", user_container(username))["Id"]

    proxy_pid = int((hub.workdir / "proxy.pid").read_text())
    os.kill(proxy_pid, signal.SIGKILL)  # the proxy this hub started, by its pid

    deadline = time.monotonic() + 60
    while True:
        try:
            if hub.user_get(username, "api/status").status_code == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the proxy and the route did not come back"
        time.sleep(0.5)
    assert inspect("container", user_container(username))["Id"] == container, "untouched"
    assert hub.server_model(username)["ready"]
    hub.stop_server(username)


def test_spawn_storm_beyond_the_limit_gets_try_again_and_nothing_sticks(make_hub, username):
    hub = make_hub(
        "c.JupyterHub.concurrent_spawn_limit = 3\n"
        'c.Spawner.cmd = ["sh", "-c", "sleep 3; exec python3 -m http.server 8888"]\n'
    )
    users = [f"{username[:20]}-{i}" for i in range(6)]
    with ThreadPoolExecutor(len(users)) as pool:
        answers = list(pool.map(hub.request_spawn, users))
    codes = sorted(r.status_code for r in answers)
    refused = [r for r in answers if r.status_code == 429]
    assert refused and all(c in (201, 202, 429) for c in codes), codes
    assert all("Retry-After" in r.headers for r in refused), "a clear 'try again'"

    for user, answer in zip(users, answers, strict=True):
        if answer.status_code == 429:
            continue
        hub.progress(user)  # wait for the admitted ones
    for user in users:  # nothing stuck pending; the refused ones can start now
        model = hub.server_model(user)
        assert model is None or (model["ready"] and not model["pending"]), model
        if model is None:
            hub.spawn(user)
    for user in users:
        hub.stop_server(user)
