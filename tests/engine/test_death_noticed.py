"""A server killed from outside is noticed from the engine's events, not the next poll."""

from __future__ import annotations

import re
import time

from ..e2e.deployment import login
from ..hubrig import EVERY_PROGRESS_EVENT, docker, user_container


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

    # the user's home page offers the start button again, and it works
    session, answer = login(hub.url, username, "any")  # the dummy authenticator takes any
    assert answer.status_code == 200, answer.text[:300]
    home = session.get(f"{hub.url}/hub/home", timeout=10).text
    assert 'id="stop"' not in home and re.search(r"Start\s+My Server", home), home[-2000:]
    start = re.search(r'id="start"[^>]*href="([^"]+)"', home, re.S).group(1)
    session.get(f"{hub.url}{start}", timeout=30)  # what the button does: /hub/spawn/USER
    deadline = time.monotonic() + 120
    while not (hub.server_model(username) or {}).get("ready"):
        assert time.monotonic() < deadline, f"no server after the start button:\n{hub.log_tail()}"
        time.sleep(0.3)
    assert hub.user_get(username, "api/status").status_code == 200
    hub.stop_server(username)


HOG = """
import http.server, threading, time
time.sleep(2)  # answer late, so the spawn's progress events can be read
server = http.server.HTTPServer(("0.0.0.0", 8888), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
time.sleep(3)
hog = [bytearray(b"x") * (16 * 1024 * 1024) for _ in range(64)]  # 1 GiB, written
time.sleep(600)
"""


def test_a_server_killed_for_memory_is_reported_as_out_of_memory(make_hub, username):
    hub = make_hub(
        f'c.Spawner.mem_limit = "128M"\nc.Spawner.cmd = ["python3", "-c", {HOG!r}]\n'
        + EVERY_PROGRESS_EVENT
    )
    hub.spawn(username)
    deadline = time.monotonic() + 30
    while hub.server_model(username) is not None:
        assert time.monotonic() < deadline, "the server was not stopped for its memory use"
        time.sleep(0.2)

    events = hub.spawn(username)  # starting again tells the user what happened
    messages = [e["message"] for e in events]
    assert any("ran out of memory" in m and "128 MiB" in m for m in messages), messages
