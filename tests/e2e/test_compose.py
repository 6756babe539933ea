"""`docker compose up` in the repository builds both images and serves a working hub.

The path a new user takes: build, start, read the trial password from the log, log in
through the form, start a server, reach it through the hub's proxy, stop it. Each run is
its own compose project with its own port, network, name prefix and image tag, and ignores
the checkout's .env and config.d, so it never touches a real deployment on the machine.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ..hubrig import docker, free_port

REPO = Path(__file__).resolve().parents[2]
MANAGED_LABEL = "org.jupyter.hubdist.managed"
ADMIN = "boss"
BUILD_TIMEOUT = 1200  # both images from scratch on a slow machine
READY_TIMEOUT = 120

pytestmark = pytest.mark.e2e


@dataclass
class Deployment:
    project: str  # also the network, the user-object prefix and the image tag
    url: str
    env: dict[str, str]

    def compose(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        cmd = ["docker", "compose", "-p", self.project, "-f", str(REPO / "docker-compose.yml")]
        # --env-file: a developer's own .env must not leak into the test
        cmd += ["--env-file", os.devnull, *args]
        return subprocess.run(
            cmd, env=self.env, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "hub").stdout

    def password(self, kind: str = "trial password") -> str:
        found = re.search(rf"{kind}: (\S+)", self.logs())
        assert found, f"the hub log shows no '{kind}':\n{self.logs()[-3000:]}"
        return found.group(1)

    def user_object(self, user: str) -> str:
        return f"{self.project}-{user}"

    def user_volume(self, user: str) -> str:
        return f"{self.project}-user-{user}"


def _require_tools() -> str:
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    assert version.returncode == 0, (
        "Docker Compose v2 is missing (`docker compose version` failed); tests/run installs it: "
        + version.stderr
    )
    base = os.environ.get("HUBDIST_BASE_IMAGE")
    assert base, "HUBDIST_BASE_IMAGE is not set; run the tests through tests/run"
    assert docker("image", "inspect", base, check=False).returncode == 0, (
        f"base image {base} is missing; tests/run makes it"
    )
    return base


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Deployment:
    base = _require_tools()
    project = f"hubdist-test-e2e-{secrets.token_hex(3)}"
    port = free_port()
    overrides = tmp_path_factory.mktemp("config.d")
    # Two overrides run in name order with one `c`; anything but *.py is ignored.
    (overrides / "10-first.py").write_text(
        'c.JupyterHub.template_vars = {"announcement_login": "e2e-first"}\n'
    )
    (overrides / "20-second.py").write_text(
        'c.JupyterHub.template_vars["announcement_login"] += " e2e-second"\n'
    )
    (overrides / "30-ignored.txt").write_text("this is not Python(\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBDIST_", "COMPOSE_"))}
    env.update(
        HUBDIST_BASE_IMAGE=base,
        HUBDIST_HTTP_PORT=str(port),
        HUBDIST_TAG=project,
        HUBDIST_NETWORK=project,
        HUBDIST_PREFIX=project,
        HUBDIST_CONFIG_DIR=str(overrides),
        HUBDIST_ADMIN_USERS=ADMIN,
    )
    dep = Deployment(project, f"http://127.0.0.1:{port}", env)
    try:
        started = time.monotonic()
        up = dep.compose("up", "-d", "--build", timeout=BUILD_TIMEOUT)
        assert up.returncode == 0, f"docker compose up failed:\n{up.stdout[-4000:]}{up.stderr}"
        print(f"compose up --build took {time.monotonic() - started:.1f} s")
        _wait_healthy(dep)
        yield dep
    finally:
        _tear_down(dep)


def _wait_healthy(dep: Deployment) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if _session().get(f"{dep.url}/hub/health", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    pytest.fail(f"the hub did not answer /hub/health in {READY_TIMEOUT} s:\n{dep.logs()[-4000:]}")


def _tear_down(dep: Deployment) -> None:
    """Remove everything the run made; fail (as a teardown error) if anything is left."""
    # Users' servers first: they hold the network, which `down` would then fail to remove.
    servers = _names("ps", "-a", "--filter", f"label={MANAGED_LABEL}", prefix=dep.project)
    if servers:
        docker("rm", "-fv", *servers, check=False)
    down = dep.compose("down", "-v", "--remove-orphans", timeout=120)
    volumes = _names("volume", "ls", prefix=dep.project)
    if volumes:
        docker("volume", "rm", "-f", *volumes, check=False)
    for image in ("hub", "singleuser"):
        docker("image", "rm", f"hubdist/{image}:{dep.project}", check=False)
    left = {
        "containers": _names("ps", "-a", prefix=dep.project),
        "volumes": _names("volume", "ls", prefix=dep.project),
        "networks": _names("network", "ls", prefix=dep.project),
    }
    assert down.returncode == 0, f"docker compose down failed: {down.stderr}"
    assert not any(left.values()), f"left behind: {left}"


def _names(*ls_args: str, prefix: str) -> list[str]:
    """Names of the objects listed by `docker ARGS` (ps, volume ls, ...) that start with prefix."""
    field = "{{.Names}}" if ls_args[0] == "ps" else "{{.Name}}"
    listed = docker(*ls_args, "--format", field).stdout.split()
    return [name for name in listed if name.startswith(prefix)]


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # test traffic goes to 127.0.0.1 only, never through a proxy
    return session


def _login(
    dep: Deployment, username: str, password: str
) -> tuple[requests.Session, requests.Response]:
    """Log in through the form, as a browser does: its _xsrf cookie goes back in the POST."""
    session = _session()
    page = session.get(f"{dep.url}/hub/login", timeout=10)
    assert page.status_code == 200 and "_xsrf" in session.cookies, page.text[:500]
    response = session.post(
        f"{dep.url}/hub/login?next=/hub/home",
        data={"username": username, "password": password, "_xsrf": _hub_xsrf(session)},
        timeout=10,
    )
    return session, response


def _hub_xsrf(session: requests.Session) -> str:
    # the hub's; a single-user server sets its own _xsrf under /user/NAME/
    return session.cookies.get("_xsrf", "", path="/hub/")


def _api(session: requests.Session, dep: Deployment, method: str, path: str) -> requests.Response:
    """A hub API call authenticated by the login cookie, so with the XSRF header."""
    headers = {"X-XSRFToken": _hub_xsrf(session)}
    return session.request(method, f"{dep.url}/hub/api{path}", headers=headers, timeout=15)


def test_wrong_password_gets_the_login_page_again_and_no_session(deployment):
    session, response = _login(deployment, "mallory", "not-the-trial-password")

    assert response.status_code == 403
    assert 'name="password"' in response.text and "Invalid username or password" in response.text
    assert "jupyterhub-hub-login" not in session.cookies
    assert _api(session, deployment, "GET", "/user").status_code == 403


def test_override_files_run_in_name_order_with_the_same_config(deployment):
    page = _session().get(f"{deployment.url}/hub/login", timeout=10)

    assert "e2e-first e2e-second" in page.text


def test_admin_logs_in_with_the_admin_password_only(deployment):
    _, with_user_password = _login(deployment, ADMIN, deployment.password())
    assert with_user_password.status_code == 403

    session, response = _login(deployment, ADMIN, deployment.password("trial admin password"))
    assert response.status_code == 200, response.text[:500]
    assert _api(session, deployment, "GET", "/user").json()["admin"] is True


def test_user_logs_in_starts_reaches_and_stops_a_server(deployment):
    user = "alice"
    session, response = _login(deployment, user, deployment.password())
    assert response.status_code == 200 and response.url.endswith("/hub/home"), response.text[:500]
    me = _api(session, deployment, "GET", "/user").json()
    assert (me["name"], me["admin"]) == (user, False)

    started = time.monotonic()
    spawn = _api(session, deployment, "POST", f"/users/{user}/server")
    assert spawn.status_code in (201, 202), spawn.text
    status = _wait_for_server(session, deployment, user)
    print(f"server answered through the proxy {time.monotonic() - started:.1f} s after the request")
    assert "started" in status

    container = json.loads(docker("inspect", deployment.user_object(user)).stdout)[0]
    assert deployment.project in container["NetworkSettings"]["Networks"]
    mounts = {m.get("Name"): m["Destination"] for m in container["Mounts"]}
    assert mounts.get(deployment.user_volume(user)) == "/home/jovyan/work"

    stop = _api(session, deployment, "DELETE", f"/users/{user}/server")
    assert stop.status_code in (202, 204), stop.text
    _wait_until(
        lambda: docker("inspect", deployment.user_object(user), check=False).returncode,
        what="the stopped server's container to be removed",
    )
    # the container is gone, the user's files are not
    assert docker("volume", "inspect", deployment.user_volume(user), check=False).returncode == 0


def _wait_for_server(session: requests.Session, dep: Deployment, user: str) -> dict:
    """The server's /api/status through the proxy, once the hub says the server is ready.

    The first page visit runs the single-user server's OAuth handshake with the hub, which
    gives the session the server's cookie; its API answers 403 without it.
    """
    deadline = time.monotonic() + READY_TIMEOUT
    last = None
    while time.monotonic() < deadline:
        model = _api(session, dep, "GET", f"/users/{user}").json()
        server = model["servers"].get("", {})
        if server.get("ready"):
            session.get(f"{dep.url}/user/{user}/lab", timeout=15)
            last = session.get(f"{dep.url}/user/{user}/api/status", timeout=15)
            if last.status_code == 200:
                return last.json()
        time.sleep(0.5)
    detail = f"{last.status_code} {last.text[:300]}" if last is not None else "never ready"
    pytest.fail(f"/user/{user}/api/status did not answer 200 ({detail}):\n{dep.logs()[-4000:]}")


def _wait_until(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
