"""Restarting the hub cuts nobody off; a proxy that dies comes back with every route.

The deployment of docker-compose.yml: the proxy runs apart from the hub, so a user's open
kernel websocket goes browser -> proxy -> server and never through the hub. One user logs
in, starts a server and keeps one websocket to a kernel open; the tests restart, stop and
recreate the hub and kill the proxy around it, in file order, on that one deployment.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import pytest
import requests

from ..hubrig import docker
from .deployment import (
    Deployment,
    api,
    deployed,
    login,
    server_api,
    wait_for_server,
    wait_healthy,
    wait_until,
)
from .kernel import KernelError, KernelSocket

pytestmark = pytest.mark.e2e

USER = "carol"
# A new proxy container's table is empty: the hub notices within 5 s and checks the routes
# (hubdist/services/proxy_watch.py); JupyterHub alone would wait for its activity check (300 s).
ROUTES_BACK_WITHIN = 45
CULL_TIMEOUT = 20
NAMED = "spare"  # a named server of USER, for the culler


@dataclass
class Running:
    session: requests.Session
    kernel_id: str
    socket: KernelSocket
    container_id: str

    def open_socket(self, dep: Deployment) -> KernelSocket:
        """A websocket to the user's kernel through the proxy, as JupyterLab opens one."""
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)
        return KernelSocket.for_kernel(
            f"{dep.url}/user/{USER}/", self.kernel_id, headers={"Cookie": cookies}
        )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    with deployed("restart", tmp_path_factory.mktemp("config.d")) as dep:
        yield dep


@pytest.fixture(scope="module")
def running(deployment) -> Running:
    """USER's server with a kernel that holds x = 6*7, and one websocket open to it."""
    s, response = login(deployment.url, USER, deployment.password())
    assert response.status_code == 200, response.text[:500]
    spawn = api(s, deployment.url, "POST", f"/users/{USER}/server")
    assert spawn.status_code in (201, 202), spawn.text
    wait_for_server(s, deployment.url, USER, deployment.logs)
    kernel = server_api(s, deployment.url, USER, "POST", "/kernels", json={})
    assert kernel.status_code == 201, kernel.text
    container_id = docker("inspect", "-f", "{{.Id}}", deployment.user_object(USER)).stdout
    state = Running(s, kernel.json()["id"], None, container_id.strip())
    state.socket = state.open_socket(deployment)
    assert state.socket.execute("x = 6*7\nprint(x)") == "42\n"
    yield state
    state.socket.close()


def _server_model(dep: Deployment, s: requests.Session, server: str = "") -> dict:
    response = api(s, dep.url, "GET", f"/users/{USER}")
    assert response.status_code == 200, response.text
    return response.json()["servers"].get(server, {})


def test_restarting_the_hub_keeps_the_server_and_the_open_websocket(deployment, running):
    since = str(int(time.time()) - 1)  # the engine runs on this machine: the same clock
    started = time.monotonic()
    restart = deployment.compose("restart", "hub")
    assert restart.returncode == 0, restart.stderr
    print(f"docker compose restart hub took {time.monotonic() - started:.1f} s")
    # compose kills (SIGKILL, exit code 137) a hub that takes over 10 s to stop: the culler
    # and the spawners must not hold it up
    died = docker(
        "events", "--since", since, "--until", str(int(time.time()) + 1),
        "--format", "{{.Actor.Attributes.exitCode}}",
        "--filter", f"container={deployment.container('hub')}", "--filter", "event=die",
    ).stdout.split()  # fmt: skip
    assert died and "137" not in died, f"the hub's exit codes: {died}"

    # the very same connection, opened before the restart
    assert running.socket.execute("print(x)") == "42\n"

    back = wait_healthy(deployment)
    print(f"the hub answered /hub/health {back:.1f} s after the restart returned")
    # the login survived (same cookie secret) and the hub still knows the server is running
    server = _server_model(deployment, running.session)
    assert server.get("ready") is True, server
    assert server_api(running.session, deployment.url, USER, "GET", "/status").status_code == 200
    assert docker("inspect", "-f", "{{.Id}}", deployment.user_object(USER)).stdout.strip() == (
        running.container_id
    )
    assert "Loading cookie_secret from env[JPY_COOKIE_SECRET]" in deployment.logs()
    assert "(kept)" in deployment.logs() and "(generated now)" in deployment.logs()


def test_users_keep_working_while_the_hub_is_down(deployment, running):
    stop = deployment.compose("stop", "hub")
    assert stop.returncode == 0, stop.stderr
    try:
        assert running.socket.execute("print(x + 1)") == "43\n"
        status = server_api(running.session, deployment.url, USER, "GET", "/status")
        assert status.status_code == 200, status.text[:300]
    finally:
        start = deployment.compose("start", "hub")
    assert start.returncode == 0, start.stderr
    wait_healthy(deployment)
    assert running.socket.execute("print(x)") == "42\n"


def _proxy_processes(dep: Deployment) -> dict[str, int]:
    """Host pids of the proxy container's processes: tini, the wrapper and CHP."""
    top = docker("top", dep.container("proxy"), "-eo", "pid,args").stdout.splitlines()[1:]
    found = {}
    for line in top:
        pid, args = line.split(None, 1)
        if args.startswith("tini"):
            found["tini"] = int(pid)
        elif "configurable-http-proxy" in args:
            found["chp"] = int(pid)
    return found


def _wait_for_route(dep: Deployment, s: requests.Session, since: float) -> float:
    """Seconds from ``since`` until the user's server answers through the proxy again."""

    def answers() -> bool:
        try:
            return server_api(s, dep.url, USER, "GET", "/status").status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(answers, "the user's route to come back", timeout=ROUTES_BACK_WITHIN)
    return time.monotonic() - since


def test_a_proxy_that_crashes_is_restarted_by_its_wrapper_and_gets_its_routes_back(
    deployment, running
):
    before = _proxy_processes(deployment)
    killed = time.monotonic()
    os.kill(before["chp"], signal.SIGKILL)  # CHP alone dies

    took = _wait_for_route(deployment, running.session, killed)
    print(f"the user's route was back {took:.1f} s after configurable-http-proxy was killed")
    after = _proxy_processes(deployment)
    assert after["tini"] == before["tini"]  # same container: the wrapper restarted CHP
    assert after["chp"] != before["chp"]
    assert "restarting in" in deployment.logs("proxy")
    # a new websocket reaches the same kernel, still holding x
    with running.open_socket(deployment) as socket:
        assert socket.execute("print(x)") == "42\n"


def test_a_proxy_container_that_dies_is_restarted_and_gets_its_routes_back(deployment, running):
    container = deployment.container("proxy")
    restarts = int(docker("inspect", "-f", "{{.RestartCount}}", container).stdout)
    killed = time.monotonic()
    # the container's init dies (not `docker kill`: Docker never restarts what it was told
    # to stop), so the restart policy brings it back
    os.kill(_proxy_processes(deployment)["tini"], signal.SIGKILL)

    with pytest.raises(KernelError):  # connections through the proxy die with it
        running.socket.execute("print(x)")
    took = _wait_for_route(deployment, running.session, killed)
    print(f"the user's route was back {took:.1f} s after the proxy container was killed")
    assert int(docker("inspect", "-f", "{{.RestartCount}}", container).stdout) == restarts + 1
    assert "route table was rebuilt (a new proxy): checking every route" in deployment.logs("hub")
    with running.open_socket(deployment) as socket:
        assert socket.execute("print(x)") == "42\n"
    wait_healthy(deployment)


def test_a_new_hub_container_adopts_the_running_server(deployment, running):
    # as after an upgrade: the hub's container is replaced, its volumes stay
    old = docker("inspect", "-f", "{{.Id}}", deployment.container("hub")).stdout
    up = deployment.compose("up", "-d", "--force-recreate", "--no-deps", "hub")
    assert up.returncode == 0, up.stderr
    assert docker("inspect", "-f", "{{.Id}}", deployment.container("hub")).stdout != old
    wait_healthy(deployment)

    assert _server_model(deployment, running.session).get("ready") is True
    with running.open_socket(deployment) as socket:
        assert socket.execute("print(x)") == "42\n"


def test_the_idle_culler_stops_servers_nobody_uses_named_ones_too(deployment, running):
    # a shorter idle timeout, in a new hub container; the culler's first round is at once
    deployment.env["HUBDIST_CULL_TIMEOUT"] = str(CULL_TIMEOUT)
    up = deployment.compose("up", "-d", "--no-deps", "hub")
    assert up.returncode == 0, up.stderr
    wait_healthy(deployment)
    wait_until(
        lambda: f"--timeout={CULL_TIMEOUT}" in deployment.compose("top", "hub").stdout,
        "the culler to run with the new timeout",
        timeout=30,
    )

    # a named server (on by default) nobody uses either
    spawn = api(running.session, deployment.url, "POST", f"/users/{USER}/servers/{NAMED}")
    assert spawn.status_code in (201, 202), spawn.text
    wait_until(
        lambda: _server_model(deployment, running.session, NAMED).get("ready"),
        "the named server to be ready",
        timeout=120,
    )
    named_container = f"{deployment.user_object(USER)}--{NAMED}"
    assert docker("inspect", named_container, check=False).returncode == 0

    # from here on nothing goes to the servers: only the hub is asked
    started = time.monotonic()
    for server in ("", NAMED):
        wait_until(
            lambda server=server: not _server_model(deployment, running.session, server),
            f"the idle culler to stop the server {server!r}",
            timeout=CULL_TIMEOUT + 100,
            interval=2,
        )
    print(f"culled {time.monotonic() - started:.1f} s after the culler started")
    logs = deployment.logs()
    assert f"DELETE /hub/api/users/{USER}/server (idle-culler@" in logs
    assert f"DELETE /hub/api/users/{USER}/servers/{NAMED} (idle-culler@" in logs
    for container in (deployment.user_object(USER), named_container):
        wait_until(
            lambda container=container: docker("inspect", container, check=False).returncode,
            f"the culled server's container {container} to be removed",
        )
