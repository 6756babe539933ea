"""`hubdist proxy`: configurable-http-proxy kept running, on the shared token, stopped cleanly.

Runs the wrapper for real around the real configurable-http-proxy (tests/run installs it),
on ports of its own on 127.0.0.1; only processes these tests start are signalled.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from hubdist.services import proxy, supervise

from ..hubrig import PREFIX, TEST_IMAGE, Hub, free_port

REPO = Path(__file__).resolve().parents[2]


def test_restarts_wait_longer_while_the_proxy_keeps_dying_and_reset_once_it_stays_up():
    backoff = supervise.Backoff(first=1, maximum=30, stable_after=60)

    quick_deaths = [backoff.after_exit(ran_for=0.5) for _ in range(7)]

    assert quick_deaths == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.after_exit(ran_for=120) == 1


def test_the_proxy_is_told_where_the_hub_and_its_error_pages_are():
    args = proxy.make_parser().parse_args(["--", "--timeout", "5000"])

    command = proxy.chp_command(args, 41234)

    pairs = dict(zip(command[1::2], command[2::2], strict=True))
    assert pairs["--default-target"] == "http://hub:8081"
    assert pairs["--error-target"] == "http://hub:8081/hub/error"
    # its API only on the loopback: the hub reaches it through the wrapper's, on 8001
    assert (pairs["--api-ip"], pairs["--api-port"]) == ("127.0.0.1", "41234")
    assert (args.api_ip, args.api_port, pairs["--port"]) == ("0.0.0.0", 8001, "8000")
    assert command[-2:] == ["--timeout", "5000"]


def test_the_health_check_fails_when_nothing_answers():
    port, api_port = free_port(), free_port()

    problem = proxy.check(port, api_port, timeout=1)

    assert problem and f"127.0.0.1:{port}" in problem


class Wrapper:
    """`hubdist proxy` in a subprocess on free ports, its token in a folder of its own."""

    def __init__(
        self,
        shared: Path,
        port: int = 0,
        api_port: int = 0,
        hub_url: str = "http://127.0.0.1:9",
    ):
        assert shutil.which(proxy.PROXY_COMMAND), "configurable-http-proxy is missing (tests/run)"
        self.port, self.api_port = port or free_port(), api_port or free_port()
        self.shared = shared
        env = {**os.environ, "HUBDIST_SHARED_DIR": str(shared), "PYTHONPATH": str(REPO)}
        env.pop("CONFIGPROXY_AUTH_TOKEN", None)
        self.log = shared.parent / "proxy.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hubdist",
                "proxy",
                *self.ports,
                "--hub-url",
                hub_url,
            ],
            env=env,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
        )

    @property
    def ports(self) -> list[str]:
        return ["--port", str(self.port), "--api-port", str(self.api_port)]

    def healthy(self) -> bool:
        check = subprocess.run(
            [sys.executable, "-m", "hubdist", "proxy", "--check", *self.ports],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
        )
        return check.returncode == 0

    def wait_healthy(self, timeout: float = 20) -> float:
        started = time.monotonic()
        while not self.healthy():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < started + timeout, self.log.read_text()
            time.sleep(0.2)
        return time.monotonic() - started

    def wait_logged(self, text: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text():
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def chp_pid(self) -> int:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        (pid,) = children.read_text().split()
        return int(pid)

    def routes(self, token: str) -> requests.Response:
        s = requests.Session()
        s.trust_env = False
        url = f"http://127.0.0.1:{self.api_port}/api/routes"
        return s.get(url, headers={"Authorization": f"token {token}"}, timeout=5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def wrapper(tmp_path):
    started = Wrapper(tmp_path / "shared")
    yield started
    started.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_the_proxy_uses_the_shared_token_and_is_restarted_when_it_dies(wrapper):
    wrapper.wait_healthy()
    token = (wrapper.shared / "proxy_auth_token").read_text().strip()
    assert wrapper.routes(token).status_code == 200
    assert wrapper.routes("wrong").status_code == 403
    first = wrapper.chp_pid()

    os.kill(first, signal.SIGKILL)
    took = wrapper.wait_healthy()

    print(f"configurable-http-proxy answered again {took:.1f} s after it was killed")
    assert wrapper.chp_pid() != first
    assert wrapper.routes(token).status_code == 200  # same token after the restart
    log = wrapper.log.read_text()
    assert "exited with code -9" in log and "restarting in 1 s" in log
    assert token not in log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_the_proxy_and_then_the_wrapper(wrapper, sig):
    wrapper.wait_healthy()
    chp = wrapper.chp_pid()

    wrapper.process.send_signal(sig)
    code = wrapper.process.wait(timeout=15)

    assert code == 0
    assert not _alive(chp)
    assert "restarting" not in wrapper.log.read_text()


def test_the_proxy_does_not_outlive_a_wrapper_that_was_killed(wrapper):
    # an orphaned proxy would keep the ports, and the wrapper's next start could never bind them
    wrapper.wait_healthy()
    chp = wrapper.chp_pid()

    wrapper.process.kill()
    wrapper.process.wait()

    deadline = time.monotonic() + 10
    while _alive(chp) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(chp), f"configurable-http-proxy (pid {chp}) outlived its killed wrapper"
    after = Wrapper(wrapper.shared, wrapper.port, wrapper.api_port)
    try:
        after.wait_healthy()  # the same ports are free for the next start
    finally:
        after.stop()


class RouteApi:
    """The proxy's API as the hub uses it, through the wrapper."""

    def __init__(self, wrapper: Wrapper):
        self.wrapper = wrapper
        self.token = (wrapper.shared / "proxy_auth_token").read_text().strip()
        self.session = requests.Session()
        self.session.trust_env = False
        self.url = f"http://127.0.0.1:{wrapper.api_port}/api/routes"

    def call(self, method: str, path: str, body=None, token: str | None = None) -> int:
        headers = {"Authorization": f"token {token or self.token}"}
        return self.session.request(
            method, f"{self.url}{path}", json=body, headers=headers, timeout=5
        ).status_code

    def after_a_kill(self) -> dict:
        """Kill CHP; the table of the new one once the wrapper said it put routes back."""
        os.kill(self.wrapper.chp_pid(), signal.SIGKILL)
        self.wrapper.wait_healthy()
        self.wrapper.wait_logged("routes back into the new proxy")
        return self.wrapper.routes(self.token).json()


ALICE = {"target": "http://127.0.0.1:9/", "user": "alice", "server_name": ""}
BOB_LAB = {"target": "http://127.0.0.1:10/", "user": "bob", "server_name": "lab"}


def test_a_restarted_proxy_gets_the_routes_back_without_waiting_for_the_hub(wrapper):
    """The hub adds routes; CHP is killed at once; the new CHP serves them again (the hub,
    here not even running, would put them back only at its next check). Before the
    wrapper relayed the API it read the table every 5 s: routes added since were lost."""
    wrapper.wait_healthy()
    api = RouteApi(wrapper)
    routes = {"/user/alice": ALICE, "/user/bob/lab": BOB_LAB}
    for path, body in routes.items():
        assert api.call("POST", path, body) == 201

    table = api.after_a_kill()

    for path, body in routes.items():
        assert path in table, f"{path} lost with the proxy: {table}\n{wrapper.log.read_text()}"
        assert {key: table[path][key] for key in body} == body
    # the two the hub added ("/", CHP's default target, comes with the new CHP itself)
    assert "put 2 routes back into the new proxy" in wrapper.log.read_text()


def test_a_removed_route_stays_removed_and_a_refused_one_is_never_kept(wrapper):
    """A server stopped just before the crash must not be routed to again; and a request
    without the proxy's token, which CHP refuses, must not reach the next CHP either."""
    wrapper.wait_healthy()
    api = RouteApi(wrapper)
    assert api.call("POST", "/user/alice", ALICE) == 201
    assert api.call("POST", "/user/bob/lab", BOB_LAB) == 201
    assert api.call("DELETE", "/user/bob/lab") == 204
    mallory = {"target": "http://127.0.0.1:11/", "user": "mallory"}
    assert api.call("POST", "/user/alice", mallory, token="guessed") == 403
    assert api.call("POST", "/user/eve", mallory, token="guessed") == 403

    table = api.after_a_kill()

    assert table["/user/alice"]["target"] == ALICE["target"]
    assert "/user/bob/lab" not in table and "/user/eve" not in table


def test_a_route_added_while_the_proxy_restarts_waits_for_it_and_is_taken(wrapper):
    """A server whose start ends just after CHP died: JupyterHub adds its route then, and a
    refused route fails the start. The wrapper holds the change until the new CHP has
    the old routes, then hands it on."""
    wrapper.wait_healthy()
    api = RouteApi(wrapper)
    assert api.call("POST", "/user/alice", ALICE) == 201
    os.kill(wrapper.chp_pid(), signal.SIGKILL)
    wrapper.wait_logged("exited with code -9")  # CHP is down now

    started = time.monotonic()
    assert api.call("POST", "/user/bob/lab", BOB_LAB) == 201
    print(f"the route change waited {time.monotonic() - started:.1f} s for the new proxy")

    table = wrapper.routes(api.token).json()
    assert table["/user/bob/lab"]["target"] == BOB_LAB["target"]
    assert table["/user/alice"]["target"] == ALICE["target"]


# -- the hub's side: RestartWatchingProxy (hubdist/services/proxy_watch.py) ------------------

VIEWER = "/services/viewer"  # a service with a URL: a route the hub keeps in the proxy
WATCHING_HUB = """
c.JupyterHub.proxy_class = "hubdist.services.proxy_watch.RestartWatchingProxy"
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.check_running_interval = 1
# JupyterHub's own default: its activity check would put routes back only after 300 s
c.JupyterHub.last_activity_interval = 300
"""


def _hub_beside(tmp_path: Path) -> Hub:
    """A real JupyterHub whose proxy (not started by it) is on the ports it chose."""
    hub = Hub(tmp_path / "hub", WATCHING_HUB, prefix=PREFIX, image=TEST_IMAGE)
    hub.hub_url = f"http://127.0.0.1:{hub.hub_port}"
    # anything that answers HTTP will do (JupyterHub waits for it): the hub's own port
    viewer = {"name": "viewer", "url": hub.hub_url}
    hub.config += f"c.JupyterHub.services.append({viewer!r})\n"
    return hub


def _start_against(hub: Hub, token: str) -> None:
    hub.proxy_token = token
    (hub.workdir / "proxy-token").write_text(token)
    hub.start()


def _wait_routed(hub: Hub, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while path not in hub.routes():
        assert time.monotonic() < deadline, f"{path} not routed:\n{hub.log_tail()}"
        time.sleep(0.2)


def test_the_hub_checks_every_route_at_once_when_a_new_proxy_replaces_the_old(tmp_path):
    """A new proxy container knows no route, and JupyterHub alone puts them back only at its
    activity check (every 300 s, a pass over every route and user): the hub asks the
    wrapper for its table's generation instead, and checks as soon as it changes."""
    shared = tmp_path / "shared"
    hub = _hub_beside(tmp_path)
    ports = {"port": hub.port, "api_port": hub.api_port, "hub_url": hub.hub_url}
    first = Wrapper(shared, **ports)
    try:
        first.wait_healthy()
        token = (shared / "proxy_auth_token").read_text().strip()
        _start_against(hub, token)
        _wait_routed(hub, VIEWER)
        # what the hub asks, only with the proxy's token (like every route it has)
        api = RouteApi(first)
        url = f"http://127.0.0.1:{first.api_port}/api/hubdist/generation"
        for wrong in ({}, {"Authorization": "token guessed"}, {"Authorization": token}):
            assert api.session.get(url, headers=wrong, timeout=5).status_code == 403
        answer = api.session.get(url, headers={"Authorization": f"token {token}"}, timeout=5)
        assert answer.status_code == 200 and set(answer.json()) == {"started", "chp_starts"}

        # the container is replaced: SIGTERM stops CHP and the wrapper, a new one starts
        first.process.send_signal(signal.SIGTERM)
        assert first.process.wait(timeout=15) == 0
        second = Wrapper(shared, **ports)
        try:
            second.wait_healthy()
            _wait_routed(hub, VIEWER)
            assert "route table was rebuilt (a new proxy)" in hub.log_tail(200)

            # CHP alone restarted by the wrapper: its table is put back, and checked
            os.kill(second.chp_pid(), signal.SIGKILL)
            second.wait_healthy()
            deadline = time.monotonic() + 30
            while "configurable-http-proxy restarted): checking" not in hub.log_tail(200):
                assert time.monotonic() < deadline, hub.log_tail()
                time.sleep(0.2)
            assert VIEWER in hub.routes()
        finally:
            second.stop()
    finally:
        hub.stop()
        first.stop()


def test_a_hub_beside_a_plain_proxy_says_so_and_notices_when_hubdist_proxy_replaces_it(
    tmp_path,
):
    """configurable-http-proxy itself (no wrapper, so no generation): the hub runs as
    JupyterHub would and its log says restarts are caught only by the activity check. When
    `hubdist proxy` takes its place (an upgrade from such a setup), its empty table is
    noticed and filled."""
    hub = _hub_beside(tmp_path)
    token = "plain-proxy-token-0123456789"
    ports = {"port": hub.port, "api_port": hub.api_port, "hub_url": hub.hub_url}
    chp = subprocess.Popen(
        [
            proxy.PROXY_COMMAND,
            "--ip",
            "127.0.0.1",
            "--port",
            str(ports["port"]),
            "--api-ip",
            "127.0.0.1",
            "--api-port",
            str(ports["api_port"]),
            "--default-target",
            hub.hub_url,
        ],  # fmt: skip
        env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wrapper = None
    try:
        _start_against(hub, token)
        _wait_routed(hub, VIEWER)
        log = hub.log_tail(200)
        assert "is not hubdist proxy (no /api/hubdist/generation): if it restarts" in log
        assert "every 300 s (JupyterHub.last_activity_interval)" in log
        assert hub.api("GET", "/users").status_code == 200

        chp.terminate()
        chp.wait(timeout=10)
        shared = tmp_path / "shared"
        shared.mkdir()
        kept = shared / "proxy_auth_token"  # the same token, as in a volume
        kept.write_text(token)
        kept.chmod(0o600)
        wrapper = Wrapper(shared, **ports)
        wrapper.wait_healthy()
        _wait_routed(hub, VIEWER)
        assert "route table was rebuilt (another proxy)" in hub.log_tail(200)
    finally:
        hub.stop()
        if chp.poll() is None:
            chp.terminate()
            chp.wait(timeout=10)
        if wrapper is not None:
            wrapper.stop()
