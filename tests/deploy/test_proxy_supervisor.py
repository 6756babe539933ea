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

from ..hubrig import free_port

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

    def __init__(self, shared: Path):
        assert shutil.which(proxy.PROXY_COMMAND), "configurable-http-proxy is missing (tests/run)"
        self.port, self.api_port = free_port(), free_port()
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
                "http://127.0.0.1:9",
            ],
            env=env,
            stdout=self.log.open("w"),
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
