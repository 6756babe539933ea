"""A real JupyterHub (with its real configurable-http-proxy) in a subprocess, for tests.

Each Hub gets its own directory, ports, database, proxy pid file and a service token with
admin scopes; tests drive it through the public REST API and the proxy, as a user would.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import requests

from hubdist import names

TOKEN = "hubdist-test-token-0123456789abcdef"
TEST_IMAGE = os.environ.get("HUBDIST_TEST_IMAGE", "hubdist/singleuser:test")
BASE_IMAGE = os.environ.get("HUBDIST_BASE_IMAGE", "hubdist/base:bookworm")
#: every object a test run creates starts with this, so the run can remove them all
PREFIX = f"hubdist-test-{secrets.token_hex(3)}"
#: config for a hub whose test reads a whole spawn's progress: every spawn request answered
#: at once (202), so the progress stream replays every event. With these hubs' default
#: (1 s) a server ready within the request (201, a second here) leaves only 'ready' to read
EVERY_PROGRESS_EVENT = 'c.JupyterHub.tornado_settings["slow_spawn_timeout"] = 0\n'


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now and that this run has not handed out before: a port
    handed out is free until its program binds it, and the kernel may offer it again
    meanwhile (test_edge's upstream was once answered by another server's "404 page not
    found", most likely pebble's DNS server given the same port)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def docker_json(*args: str):
    return json.loads(docker(*args).stdout)


def task_logs(service: str, run=docker) -> str:
    """Logs of a Swarm service's task containers on the engine `run` talks to, oldest first.

    Read per container with `docker logs`: `docker service logs` goes through the Swarm's log
    broker and now and then returns nothing at all for a running service (CI saw it).
    """
    label = f"label=com.docker.swarm.service.name={service}"
    listed = run("ps", "-a", "--filter", label, "--format", "{{.CreatedAt}}\t{{.ID}}", check=False)
    logs = []
    for line in sorted(listed.stdout.splitlines()):
        shown = run("logs", line.split("\t")[-1], check=False)
        logs.append(shown.stdout + shown.stderr)
    return "".join(logs)


def inspect(kind: str, name: str) -> dict:
    return docker_json(kind, "inspect", name)[0]


def exists(kind: str, name: str) -> bool:
    return docker(kind, "inspect", name, check=False).returncode == 0


def user_container(user: str, server: str = "", prefix: str = PREFIX) -> str:
    """The default container (or service) name: {prefix}-{escaped user}[--{escaped server}].

    Written out, not computed by the naming code under test: the tests' names are short
    enough to be used as they are (tests/unit/test_names_fuzz.py covers long ones).
    """
    rendered = f"{prefix}-{names.escape(user)}" + (f"--{names.escape(server)}" if server else "")
    assert len(rendered) < names.DNS_LABEL_MAX, f"{rendered!r} would be shortened"
    return rendered


def bridge_gateway() -> str:
    """Where containers on the default bridge reach the host (the hub listens there)."""
    config = docker_json("network", "inspect", "bridge")[0]["IPAM"]["Config"][0]
    # the default bridge often lists only its subnet; the gateway is its first address
    return config.get("Gateway") or str(ipaddress.ip_network(config["Subnet"])[1])


class SpawnError(AssertionError):
    pass


class Hub:
    def __init__(
        self,
        workdir: Path,
        config: str,
        *,
        prefix: str,
        image: str,
        env: dict | None = None,
        python: str = sys.executable,
    ):
        """``python`` runs JupyterHub: hubdist's application (hubdist.services.hub, what the
        hub image runs), or plain JupyterHub in another environment (dockerspawner's)."""
        self.workdir = workdir
        self.python = python
        self.app = "hubdist.services.hub" if python == sys.executable else "jupyterhub"
        workdir.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.image = image
        self.port = free_port()
        self.hub_port = free_port()
        self.api_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "hub.log"
        self.proxy_token = secrets.token_hex(16)
        (workdir / "proxy-token").write_text(self.proxy_token)

    def config_text(self) -> str:
        base = f"""
        c = get_config()  # noqa
        c.JupyterHub.bind_url = "{self.url}"
        c.JupyterHub.hub_ip = "0.0.0.0"
        c.JupyterHub.hub_port = {self.hub_port}
        c.JupyterHub.hub_connect_ip = "{bridge_gateway()}"
        c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.api_port}"
        c.ConfigurableHTTPProxy.auth_token = "{self.proxy_token}"
        c.ConfigurableHTTPProxy.pid_file = "{self.workdir}/proxy.pid"
        c.JupyterHub.db_url = "sqlite:///{self.workdir}/jupyterhub.sqlite"
        c.JupyterHub.cookie_secret_file = "{self.workdir}/cookie_secret"
        c.JupyterHub.pid_file = "{self.workdir}/hub.pid"
        c.JupyterHub.authenticator_class = "dummy"
        c.Authenticator.allow_all = True
        c.JupyterHub.allow_named_servers = True
        c.JupyterHub.services = [{{"name": "tester", "api_token": "{TOKEN}"}}]
        c.JupyterHub.load_roles = [{{
            "name": "tester",
            "scopes": ["admin:users", "admin:servers", "list:users", "read:users",
                       "tokens", "access:servers"],
            "services": ["tester"],
        }}]
        c.JupyterHub.spawner_class = "hubdist.DockerSpawner"
        c.DockerSpawner.image = "{self.image}"
        c.DockerSpawner.prefix = "{self.prefix}"
        c.DockerSpawner.remove = True
        # answer slow spawns within 1 s (202); the progress stream replays every event
        c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 1, "slow_stop_timeout": 1}}
        c.Spawner.start_timeout = 120
        c.Spawner.http_timeout = 60
        """
        return textwrap.dedent(base) + "\n" + textwrap.dedent(self.config)

    # -- process --------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> Hub:
        (self.workdir / "jupyterhub_config.py").write_text(self.config_text())
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.python, "-m", self.app, "-f", "jupyterhub_config.py"],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"hub did not come up in {timeout}s:\n{self.log_tail()}")

    def routes(self) -> dict:
        """The proxy's routing table, from its own REST API."""
        token = (self.workdir / "proxy-token").read_text().strip()
        r = requests.get(
            f"http://127.0.0.1:{self.api_port}/api/routes",
            headers={"Authorization": f"token {token}"},
            timeout=10,
        )
        r.raise_for_status()
        return r.json()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        """Stop the hub process we started (and, on SIGKILL, the proxy it started)."""
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if sig == signal.SIGKILL:
            self._stop_orphaned_proxy()

    def _stop_orphaned_proxy(self) -> None:
        pid_file = self.workdir / "proxy.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pass

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- REST API -------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        headers["Authorization"] = f"token {TOKEN}"
        return requests.request(
            method, f"{self.url}/hub/api{path}", headers=headers, timeout=120, **kwargs
        )

    def ensure_user(self, user: str) -> None:
        r = self.api("POST", f"/users/{user}")
        assert r.status_code in (201, 409), r.text

    @staticmethod
    def server_path(user: str, server: str = "") -> str:
        return f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"

    def request_spawn(self, user: str, server: str = "", options: dict | None = None):
        self.ensure_user(user)
        body = {"user_options": options} if options else None
        return self.api("POST", self.server_path(user, server), json=body)

    def progress(self, user: str, server: str = "") -> list[dict]:
        """The spawn's progress events, read from the event stream until it closes."""
        events = []
        headers = {"Authorization": f"token {TOKEN}"}
        url = f"{self.url}/hub/api{self.server_path(user, server)}/progress"
        with requests.get(url, headers=headers, stream=True, timeout=180) as r:
            if r.status_code != 200:
                return [{"status": r.status_code, "message": r.text}]
            for line in r.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    events.append(json.loads(line[5:]))
        return events

    def spawn(self, user: str, server: str = "", options: dict | None = None) -> list[dict]:
        """Start a server and wait until it is ready; returns its progress events."""
        r = self.request_spawn(user, server, options)
        if r.status_code not in (201, 202):
            raise SpawnError(f"spawn refused: {r.status_code} {r.text}")
        return self.wait_ready(user, server)

    def wait_ready(self, user: str, server: str = "") -> list[dict]:
        """Wait for a requested start (the API's, or the spawn form's) to be ready; returns
        its progress events, or raises with them and the hub's log if it failed."""
        deadline = time.monotonic() + 30
        while True:
            events = self.progress(user, server)  # replays every event, or just 'ready'
            model = self.server_model(user, server)
            if model and model["ready"]:
                return events
            # 400 "not starting" with no server: a start asked in a browser (the spawn
            # form's POST) that has not reached the hub yet
            not_yet = model is None and events and events[0].get("status") == 400
            if not (not_yet and time.monotonic() < deadline):
                raise SpawnError(f"spawn failed: {events}\n{self.log_tail()}")
            time.sleep(0.2)

    def spawn_failure(self, user: str, server: str = "", options: dict | None = None) -> str:
        """Start a server that must fail; returns the message the user is shown."""
        r = self.request_spawn(user, server, options)
        if r.status_code >= 400:
            return r.json().get("message", r.text)
        events = self.progress(user, server)
        failed = [e for e in events if e.get("failed")]
        assert failed, f"spawn did not fail: {events}\n{self.log_tail()}"
        return failed[-1]["message"]

    def server_model(self, user: str, server: str = "") -> dict | None:
        r = self.api("GET", f"/users/{user}")
        assert r.status_code == 200, r.text
        return r.json()["servers"].get(server)

    def stop_server(self, user: str, server: str = "") -> None:
        r = self.api("DELETE", self.server_path(user, server))
        assert r.status_code in (202, 204), r.text
        deadline = time.monotonic() + 60
        while self.server_model(user, server) is not None:
            assert time.monotonic() < deadline, "server did not stop"
            time.sleep(0.2)

    def user_get(self, user: str, path: str, server: str = "", **kwargs) -> requests.Response:
        """A request to the user's server, through the proxy, with the service token."""
        prefix = f"/user/{user}/{server + '/' if server else ''}"
        headers = {"Authorization": f"token {TOKEN}"}
        return requests.get(f"{self.url}{prefix}{path}", headers=headers, timeout=30, **kwargs)

    def user_request(self, method: str, user: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {TOKEN}"}
        return requests.request(
            method, f"{self.url}/user/{user}/{path}", headers=headers, timeout=30, **kwargs
        )
