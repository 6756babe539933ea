"""Fault drills: parts die, users keep their servers."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from hubdist.names import LABEL

from ..hubrig import PREFIX, docker, inspect, user_container
from .test_swarm import SWARM, service_name


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


def test_the_active_server_limit_refuses_one_more_until_a_server_stops(make_hub, username):
    """The hub's count of running servers (hubdist-hub counts them its own way, faster) is
    what JupyterHub's active_server_limit reads."""
    hub = make_hub(
        "c.JupyterHub.active_server_limit = 2\n"
        'c.Spawner.cmd = ["python3", "-m", "http.server", "8888"]\n'
    )
    first, second, third = (f"{username[:20]}-{i}" for i in range(3))
    hub.spawn(first)
    hub.spawn(second)
    refused = hub.request_spawn(third)
    assert refused.status_code == 429, (refused.status_code, refused.text)
    assert "Active user limit exceeded" in refused.text
    assert hub.server_model(third) is None, "nothing left pending"
    hub.stop_server(first)
    hub.spawn(third)  # one place free again
    assert hub.server_model(third)["ready"]
    for user in (second, third):
        hub.stop_server(user)


def _containers(users: list[str]) -> set[str]:
    """The users whose server container exists (running or not)."""
    listing = docker(
        "ps", "-a", "--filter", f"label={LABEL}.managed=true", "--format",
        f'{{{{.Label "{LABEL}.user"}}}}',
    ).stdout.split()  # fmt: skip
    return set(listing) & set(users)


def _services(users: list[str]) -> set[str]:
    """The users whose server service exists."""
    listing = docker("service", "ls", "--format", "{{.Name}}").stdout.split()
    return {user for user in users if service_name(user) in listing}


def _wait_until_settled(hub, users: list[str], timeout: float = 120) -> dict:
    """Each user's server model once none is pending any more."""
    deadline = time.monotonic() + timeout
    while True:
        models = {user: hub.server_model(user) for user in users}
        if not any(m and m["pending"] for m in models.values()):
            return models
        assert time.monotonic() < deadline, f"servers stuck pending: {models}"
        time.sleep(0.5)


# servers that take a few seconds to answer, so the storm is still in flight at the kill
SLOW_SERVER = 'c.Spawner.cmd = ["sh", "-c", "sleep 6; exec python3 -m http.server 8888"]\n'


def _kill_the_hub_mid_storm(hub, users: list[str], objects) -> None:
    """Start every user's server at once, SIGKILL the hub while spawns are in flight, start
    it again; then: nothing pending, no object without a server, everyone can start again,
    and stopping removes everything."""
    with ThreadPoolExecutor(len(users)) as pool:
        answers = list(pool.map(hub.request_spawn, users))
    assert all(a.status_code in (201, 202) for a in answers), [a.text for a in answers]
    deadline = time.monotonic() + 60
    while len(objects(users)) < len(users) // 2:
        assert time.monotonic() < deadline, "the storm made no containers or services"
        time.sleep(0.2)
    pending = [u for u in users if (hub.server_model(u) or {}).get("pending") == "spawn"]
    assert pending, "the drill must interrupt spawns in flight"

    hub.stop(signal.SIGKILL)
    hub.start()

    models = _wait_until_settled(hub, users)
    running = {user for user, model in models.items() if model and model["ready"]}
    orphans = objects(users) - running
    assert not orphans, f"left without a server after the restart: {orphans}"
    for user in users:  # everyone can use a server again: the kept ones, or a new start
        if user not in running:
            hub.spawn(user)
        answer = hub.user_get(user, "")  # the stub answers 404, but it is the stub that does
        assert answer.headers.get("Server", "").startswith("SimpleHTTP"), (user, answer.text)
    for user in users:
        hub.stop_server(user)
    assert not objects(users), "stopping removed everything"


def test_hub_killed_mid_spawn_storm_leaves_no_orphan_and_everyone_starts_again(make_hub, username):
    hub = make_hub(SLOW_SERVER)
    _kill_the_hub_mid_storm(hub, [f"{username[:20]}-{i}" for i in range(6)], _containers)


def test_hub_killed_mid_swarm_spawn_storm_leaves_no_orphan_service(swarm, make_hub, username):
    hub = make_hub(SWARM + SLOW_SERVER)
    _kill_the_hub_mid_storm(hub, [f"{username[:20]}-{i}" for i in range(4)], _services)


def test_hub_killed_while_servers_run_finds_them_again_untouched(make_hub, username):
    hub = make_hub()
    users = [f"{username[:20]}-{i}" for i in range(2)]
    for user in users:
        hub.spawn(user)
    before = {u: inspect("container", user_container(u))["State"]["StartedAt"] for u in users}

    hub.stop(signal.SIGKILL)  # no cleanup at all; the proxy it started goes too
    hub.start()

    for user in users:
        model = _wait_until_settled(hub, [user])[user]
        assert model and model["ready"], f"{user}'s server was lost: {model}"
        assert hub.user_get(user, "api/status").status_code == 200, "reachable through the proxy"
        after = inspect("container", user_container(user))["State"]["StartedAt"]
        assert after == before[user], "the same container, never restarted or recreated"
    for user in users:
        hub.stop_server(user)


def test_a_server_that_cannot_be_located_at_the_hubs_start_does_not_stop_the_hub(
    make_hub, username
):
    """An admin changes network_name, or a container was taken off the network, while the
    hub was down: JupyterHub would let the error of locating that one server stop the hub.
    The hub starts; that server is stopped (it does not answer where it was); the other
    user's server is kept, untouched."""
    network = f"{PREFIX}-{username}"
    docker("network", "create", network)
    try:
        hub = make_hub(f'c.DockerSpawner.network_name = "{network}"\nc.Spawner.http_timeout = 10\n')
        lost, kept = f"{username[:20]}-0", f"{username[:20]}-1"
        for user in (lost, kept):
            hub.spawn(user)
        kept_started = inspect("container", user_container(kept))["State"]["StartedAt"]

        hub.stop(signal.SIGKILL)
        docker("network", "disconnect", network, user_container(lost))
        hub.start()

        settled = _wait_until_settled(hub, [lost, kept])
        assert settled[lost] is None, f"{lost}'s server off the network: {settled[lost]}"
        assert "cannot tell where the server is now" in hub.log_tail(400)
        assert settled[kept] and settled[kept]["ready"], settled[kept]
        assert hub.user_get(kept, "api/status").status_code == 200
        after = inspect("container", user_container(kept))["State"]["StartedAt"]
        assert after == kept_started, "the other server was never restarted"
        hub.spawn(lost)  # the user starts again
        hub.stop_server(lost)
        hub.stop_server(kept)
    finally:
        for user in (f"{username[:20]}-0", f"{username[:20]}-1"):
            docker("rm", "-f", user_container(user), check=False)
        docker("network", "rm", network, check=False)


def test_a_stop_the_engine_never_answers_is_logged_with_what_is_left_and_how_to_remove_it(
    make_hub, username, tmp_path
):
    # JupyterHub drops a failed stop's error and counts the server stopped: the container
    # the engine never stopped would run on with nothing said about it
    engine_socket = tmp_path / "engine.sock"
    relay = subprocess.Popen(  # the hub's way to the engine, frozen below like a lost link
        ["socat", f"UNIX-LISTEN:{engine_socket},fork", "UNIX-CONNECT:/var/run/docker.sock"],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not engine_socket.exists():
            assert time.monotonic() < deadline, "socat did not listen"
            time.sleep(0.05)
        hub = make_hub(
            'c.Spawner.cmd = ["python3", "-m", "http.server", "8888"]\n'
            "c.DockerSpawner.docker_timeout = 3\n"
            "c.DockerSpawner.stop_timeout = 1\n",
            env={"DOCKER_HOST": f"unix://{engine_socket}"},
        )
        hub.spawn(username)
        name = user_container(username)

        os.killpg(relay.pid, signal.SIGSTOP)
        try:
            hub.stop_server(username)  # JupyterHub says stopped once the stop gave up
            deadline = time.monotonic() + 30
            while "Could not stop" not in hub.log_path.read_text(errors="replace"):
                assert time.monotonic() < deadline, hub.log_tail()
                time.sleep(0.2)
            assert inspect("container", name)["State"]["Running"], "what the log warns of"
        finally:
            os.killpg(relay.pid, signal.SIGCONT)
        (line,) = [
            line for line in hub.log_path.read_text().splitlines() if "Could not stop" in line
        ]
        assert "did not answer stop" in line, line  # why
        assert f"container {name} may still be running" in line, line
        assert f"`docker rm -f {name}`" in line, line

        hub.spawn(username)  # and the next start of the server works
        assert hub.user_get(username, "").headers.get("Server", "").startswith("SimpleHTTP")
        hub.stop_server(username)
    finally:
        relay.terminate()
        relay.wait(timeout=10)
