"""The compose deployment with GitHub login, against the fake GitHub of tests/fakegithub.py.

The fake must be reachable by two parties on two sides of Docker's network: the browser
(or the test's HTTP client) on the host, and the hub inside the compose network. So it runs
as a container of its own on the deployment's network, under the alias ``fakegithub``, and
is published on 127.0.0.1 at the same port number. The hub is configured the way an
operator would configure it for GitHub Enterprise, through the environment
(GITHUB_URL=http://fakegithub:PORT, so it gets tokens and calls the API by the alias),
and one override moves only the page the browser is sent to onto 127.0.0.1:PORT.

The fake runs from the base image with the script mounted: it needs only python3, and no
image is built or left behind for it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from ..hubrig import docker, free_port
from .deployment import REPO, Deployment, deployed, http_session, require_base_image

FAKE_SCRIPT = REPO / "tests" / "fakegithub.py"
ALIAS = "fakegithub"
CLIENT_ID = "hubdist-e2e-client"
ORG = "e2e-org"
TEAM = "e2e-lab:research"  # an organization's team, by slug
#: who belongs where at the fake; the hub allows ORG, TEAM, ALLOWED_USER and ADMIN
MEMBERS = {ORG: ["alice", "bob", "boss"], TEAM: ["carol"], "other-org": ["mallory"]}
ALLOWED_USER = "dave"  # in no organization: allowed by GITHUB_ALLOWED_USERS
ADMIN = "boss"


@dataclass
class FakeGitHub:
    container: str
    url: str  # as the browser reaches it

    def calls(self) -> list[str]:
        return http_session().get(f"{self.url}/_calls", timeout=5).json()

    def logs(self) -> str:
        return docker("logs", self.container, check=False).stderr


@dataclass
class GitHubHub:
    dep: Deployment
    github: FakeGitHub
    client_secret: str
    #: what the test's HTTP client trusts for the hub: a CA file over HTTPS (requests' verify)
    verify: str | bool = True

    @property
    def url(self) -> str:
        return self.dep.url


@contextmanager
def github_deployment(config_dir: Path) -> Iterator[GitHubHub]:
    """A compose deployment whose users log in through the fake GitHub; all removed after."""
    fake_port, hub_port = free_port(), free_port()
    client_secret = secrets.token_hex(20)
    (config_dir / "50-fake-github.py").write_text(
        "# the browser reaches the fake GitHub on the host's loopback, the hub by its alias\n"
        f'c.GitHubOAuthenticator.authorize_url = "{browser_url(fake_port)}/login/oauth/authorize"\n'
    )
    settings = {
        "GITHUB_CLIENT_ID": CLIENT_ID,
        "GITHUB_CLIENT_SECRET": client_secret,
        "GITHUB_URL": f"http://{ALIAS}:{fake_port}",
        "OAUTH_CALLBACK_URL": f"http://127.0.0.1:{hub_port}/hub/oauth_callback",
        "GITHUB_ALLOWED_ORGANIZATIONS": f"{ORG}, {TEAM}",
        "GITHUB_ALLOWED_USERS": ALLOWED_USER,
        "HUBDIST_ADMIN_USERS": ADMIN,
    }
    with deployed("github", config_dir, port=hub_port, **settings) as dep:
        fake = start_fake(dep, fake_port, client_secret)
        try:
            yield GitHubHub(dep, fake, client_secret)
        finally:
            docker("rm", "-f", fake.container, check=False)


def browser_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def start_fake(dep: Deployment, port: int, client_secret: str) -> FakeGitHub:
    """The fake GitHub on the deployment's network and on 127.0.0.1:port, answering."""
    container = f"{dep.project}-fakegithub"  # the project's prefix: tear_down checks for it
    members = [f"--member={group}={','.join(logins)}" for group, logins in MEMBERS.items()]
    docker(
        "run", "-d", "--name", container,
        "--network", dep.project, "--network-alias", ALIAS,
        "--publish", f"127.0.0.1:{port}:{port}",
        "--volume", f"{FAKE_SCRIPT}:/srv/fakegithub.py:ro",
        require_base_image(),
        "python3", "/srv/fakegithub.py", f"--port={port}",
        f"--client-id={CLIENT_ID}", f"--client-secret={client_secret}", *members,
    )  # fmt: skip
    fake = FakeGitHub(container, browser_url(port))
    deadline = time.monotonic() + 30
    while True:
        try:
            fake.calls()
            return fake
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise AssertionError(f"the fake GitHub did not answer:\n{fake.logs()}") from None
            time.sleep(0.2)


def github_login(
    hub: GitHubHub, login: str, next_url: str = "/hub/home"
) -> tuple[requests.Session, requests.Response]:
    """Log in as GitHub user ``login``, the way a browser does it, following every redirect.

    /hub/oauth_login sends the client to the fake's authorize page (on 127.0.0.1), whose form
    adds ``login`` to the same query; the fake then sends it back to the hub's callback.
    """
    s = http_session()
    s.verify = hub.verify
    start = s.get(
        f"{hub.url}/hub/oauth_login", params={"next": next_url}, allow_redirects=False, timeout=10
    )
    assert start.status_code == 302, start.text[:500]
    authorize = start.headers["Location"]
    assert authorize.startswith(f"{hub.github.url}/login/oauth/authorize?"), authorize
    page = s.get(authorize, timeout=10)
    assert page.status_code == 200 and 'id="authorize"' in page.text, page.text[:500]
    response = s.get(f"{authorize}&{urlencode({'login': login})}", timeout=30)
    return s, response


def query(url: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


def hub_image(dep: Deployment) -> str:
    return f"hubdist/hub:{dep.project}"
