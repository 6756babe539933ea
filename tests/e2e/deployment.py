"""A compose deployment of this checkout for end-to-end tests, and a user's way through it.

Each deployment is its own compose project with its own port, network, name prefix and
image tag, and ignores the checkout's .env and config.d, so it never touches a real
deployment on the machine (or another test's). Test traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

import pytest
import requests

from ..hubrig import docker, free_port

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
MANAGED_LABEL = "org.jupyter.hubdist.managed"
BUILD_TIMEOUT = 1200  # both images from scratch on a slow machine
READY_TIMEOUT = 120


@dataclass
class Deployment:
    project: str  # also the network, the user-object prefix and the image tag
    url: str
    env: dict[str, str]
    #: the compose files, in order (docker-compose.https.yml adds the edge)
    files: tuple[Path, ...] = (COMPOSE_FILE,)

    def compose(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        cmd = ["docker", "compose", "-p", self.project]
        for file in self.files:
            cmd += ["-f", str(file)]
        # --env-file: a developer's own .env must not leak into the test
        cmd += ["--env-file", os.devnull, *args]
        return subprocess.run(
            cmd, env=self.env, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )

    def logs(self, service: str = "hub") -> str:
        return self.compose("logs", "--no-color", service).stdout

    def password(self, kind: str = "trial password") -> str:
        found = re.search(rf"{kind}: (\S+)", self.logs())
        assert found, f"the hub log shows no '{kind}':\n{self.logs()[-3000:]}"
        return found.group(1)

    def user_object(self, user: str) -> str:
        return f"{self.project}-{user}"

    def user_volume(self, user: str) -> str:
        return f"{self.project}-user-{user}"

    def container(self, service: str) -> str:
        return f"{self.project}-{service}-1"


def require_base_image() -> str:
    """The base image the tests build from; tests/run provides it and Compose v2."""
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


def isolated_env(project: str, port: int, config_dir: Path, **settings: str) -> dict[str, str]:
    """The environment for a deployment named ``project``: none of the caller's settings."""
    settings_read = ("HUBDIST_", "COMPOSE_", "GITHUB_", "OAUTH_")  # by compose or the hub
    env = {k: v for k, v in os.environ.items() if not k.startswith(settings_read)}
    env.update(
        HUBDIST_BASE_IMAGE=require_base_image(),
        HUBDIST_HTTP_PORT=str(port),
        HUBDIST_TAG=project,
        HUBDIST_NETWORK=project,
        HUBDIST_PREFIX=project,
        HUBDIST_CONFIG_DIR=str(config_dir),
        HUBDIST_NET_PREFIX=free_prefix(),
        **settings,
    )
    return env


def free_prefix() -> str:
    """A 10.X.0.0/16 no network on the engine overlaps, so a deployment's fixed-subnet
    network (docker-compose.yml) fits beside the others that are up."""
    ids = docker("network", "ls", "-q").stdout.split()
    used = [
        IPv4Network(config["Subnet"])
        for network in json.loads(docker("network", "inspect", *ids).stdout)
        for config in (network.get("IPAM") or {}).get("Config") or []
        if "." in config.get("Subnet", "")
    ]
    for x in random.sample(range(200, 250), 50):
        if not any(IPv4Network(f"10.{x}.0.0/16").overlaps(net) for net in used):
            return f"10.{x}"
    raise AssertionError(f"no free 10.200-249.0.0/16 for the test network; in use: {used}")


@contextmanager
def deployed(
    name: str, config_dir: Path, port: int | None = None, **settings: str
) -> Iterator[Deployment]:
    """``docker compose up --build`` a fresh project; everything it made is removed after.

    ``port``: the host port to serve on, for settings that must name it (default: a free one).
    """
    project = f"hubdist-test-{name}-{secrets.token_hex(3)}"
    port = port or free_port()
    dep = Deployment(project, f"http://127.0.0.1:{port}", isolated_env(project, port, config_dir))
    dep.env.update(settings)
    try:
        started = time.monotonic()
        up = dep.compose("up", "-d", "--build", timeout=BUILD_TIMEOUT)
        assert up.returncode == 0, f"docker compose up failed:\n{up.stdout[-4000:]}{up.stderr}"
        print(f"compose up --build took {time.monotonic() - started:.1f} s")
        wait_healthy(dep)
        yield dep
    finally:
        tear_down(dep)


def hubdist_up(dep: Deployment, checkout: Path = REPO) -> subprocess.CompletedProcess:
    """The README's command, ./hubdist-up of ``checkout``, on ``dep``'s project (``dep.env``
    names it, as COMPOSE_PROJECT_NAME, and keeps the developer's .env out, as
    COMPOSE_ENV_FILES)."""
    return subprocess.run(
        [str(checkout / "hubdist-up")],
        env=dep.env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        cwd="/",  # it finds its checkout itself
    )


def wait_healthy(dep: Deployment, timeout: float = READY_TIMEOUT) -> float:
    """Seconds until the hub answers /hub/health through the proxy (over HTTPS, trusting
    what ``dep.verify`` says, if it has that)."""
    started = time.monotonic()
    session = http_session(getattr(dep, "verify", True))
    while time.monotonic() < started + timeout:
        try:
            if session.get(f"{dep.url}/hub/health", timeout=5).status_code == 200:
                return time.monotonic() - started
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the hub did not answer /hub/health in {timeout} s:\n{dep.logs()[-4000:]}")


def tear_down(dep: Deployment) -> None:
    """Remove everything the run made; fail (as a teardown error) if anything is left."""
    # Users' servers first: they hold the network, which `down` would then fail to remove.
    servers = names("ps", "-a", "--filter", f"label={MANAGED_LABEL}", prefix=dep.project)
    if servers:
        docker("rm", "-fv", *servers, check=False)
    # every profile's services too (postgres), whichever the test turned on
    down = dep.compose("--profile", "*", "down", "-v", "--remove-orphans", timeout=120)
    # netguard leaves its rules when it stops (no window on upgrades): take them out
    remove_rules = [sys.executable, "-m", "hubdist", "netguard", "--remove", "--name", dep.project]
    subprocess.run(remove_rules, capture_output=True, check=False)
    volumes = names("volume", "ls", prefix=dep.project)
    if volumes:
        docker("volume", "rm", "-f", *volumes, check=False)
    for image in ("hub", "singleuser", "postgres"):
        docker("image", "rm", f"hubdist/{image}:{dep.project}", check=False)
    left = {
        "containers": names("ps", "-a", prefix=dep.project),
        "volumes": names("volume", "ls", prefix=dep.project),
        "networks": names("network", "ls", prefix=dep.project),
    }
    assert down.returncode == 0, f"docker compose down failed: {down.stderr}"
    assert not any(left.values()), f"left behind: {left}"


def names(*ls_args: str, prefix: str) -> list[str]:
    """Names of the objects listed by `docker ARGS` (ps, volume ls, ...) that start with prefix."""
    field = "{{.Names}}" if ls_args[0] == "ps" else "{{.Name}}"
    listed = docker(*ls_args, "--format", field).stdout.split()
    return [name for name in listed if name.startswith(prefix)]


# -- a user's way through the hub ----------------------------------------------------------


def http_session(verify: str | bool = True) -> requests.Session:
    """``verify``: for HTTPS, a CA file to trust (requests' verify)."""
    s = requests.Session()
    s.trust_env = False  # test traffic goes to 127.0.0.1 only, never through a proxy
    s.verify = verify
    return s


def login(
    url: str, username: str, password: str, verify: str | bool = True
) -> tuple[requests.Session, requests.Response]:
    """Log in through the form, as a browser does: its _xsrf cookie goes back in the POST."""
    s = http_session(verify)
    page = s.get(f"{url}/hub/login", timeout=10)
    assert page.status_code == 200 and "_xsrf" in s.cookies, page.text[:500]
    response = s.post(
        f"{url}/hub/login?next=/hub/home",
        data={"username": username, "password": password, "_xsrf": hub_xsrf(s)},
        timeout=10,
    )
    return s, response


def hub_xsrf(s: requests.Session) -> str:
    # the hub's; a single-user server sets its own _xsrf under /user/NAME/
    return s.cookies.get("_xsrf", "", path="/hub/")


def api(s: requests.Session, url: str, method: str, path: str, **kw) -> requests.Response:
    """A hub API call authenticated by the login cookie, so with the XSRF header."""
    headers = {"X-XSRFToken": hub_xsrf(s)}
    return s.request(method, f"{url}/hub/api{path}", headers=headers, timeout=15, **kw)


def server_api(s: requests.Session, url: str, user: str, method: str, path: str, **kw):
    """A call to the user's own server through the proxy, authenticated by its cookie."""
    headers = {"X-XSRFToken": s.cookies.get("_xsrf", "", path=f"/user/{user}/")}
    return s.request(method, f"{url}/user/{user}/api{path}", headers=headers, timeout=15, **kw)


def wait_for_server(
    s: requests.Session, url: str, user: str, logs=lambda: "", timeout: float = READY_TIMEOUT
) -> dict:
    """The server's /api/status through the proxy, once the hub says the server is ready.

    The first page visit runs the single-user server's OAuth handshake with the hub, which
    gives the session the server's cookie; its API answers 403 without it. ``logs()`` is
    shown if the server never answers.
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        model = api(s, url, "GET", f"/users/{user}").json()
        server = model["servers"].get("", {})
        if server.get("ready"):
            s.get(f"{url}/user/{user}/lab", timeout=15)
            last = s.get(f"{url}/user/{user}/api/status", timeout=15)
            if last.status_code == 200:
                return last.json()
        time.sleep(0.5)
    detail = f"{last.status_code} {last.text[:300]}" if last is not None else "never ready"
    pytest.fail(f"/user/{user}/api/status did not answer 200 ({detail}):\n{logs()[-4000:]}")


def wait_until(condition, what: str, timeout: float = 60, interval: float = 0.5):
    """The first true value of ``condition()``, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(interval)
