"""GitHub login in the compose deployment, configured only through the environment.

Against the fake GitHub (tests/fakegithub.py, see tests/e2e/github.py for how the hub and
the client both reach it), with a real HTTP client that keeps cookies and follows redirects
as a browser does: members of the allowed organization or team get in, others get a 403;
a member starts a server and runs code in a kernel over its websocket, through the proxy.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from hubdist.auth.github import NOBODY_ALLOWED

from ..hubrig import docker
from .deployment import api, http_session, server_api, wait_for_server, wait_until
from .github import ADMIN, ALLOWED_USER, CLIENT_ID, ORG, TEAM, github_login, hub_image, query
from .kernel import KernelSocket

pytestmark = pytest.mark.e2e


def test_login_page_offers_github_and_the_log_says_which_mode(github_hub):
    page = http_session().get(f"{github_hub.url}/hub/login", timeout=10)

    assert page.status_code == 200
    assert "Sign in with GitHub" in page.text and 'name="password"' not in page.text
    logs = github_hub.dep.logs()
    assert "GITHUB LOGIN MODE" in logs and "TRIAL" not in logs
    org, team = sorted([ORG, TEAM])
    assert f"allowed: organizations/teams {org}, {team}; users {ALLOWED_USER}; admins" in logs


def test_the_hub_sends_users_to_github_with_its_callback_and_the_read_org_scope(github_hub):
    start = http_session().get(
        f"{github_hub.url}/hub/oauth_login", allow_redirects=False, timeout=10
    )

    assert start.status_code == 302
    asked = query(start.headers["Location"])
    assert asked["client_id"] == CLIENT_ID
    assert asked["redirect_uri"] == f"{github_hub.url}/hub/oauth_callback"
    assert asked["scope"] == "read:org"
    assert asked["code_challenge_method"] == "S256" and asked["state"]


def test_a_member_of_the_allowed_organization_gets_in(github_hub):
    session, response = github_login(github_hub, "alice")

    assert response.status_code == 200 and response.url.endswith("/hub/home"), response.text[:500]
    me = api(session, github_hub.url, "GET", "/user").json()
    assert (me["name"], me["admin"]) == ("alice", False)
    # the hub asked the fake, by its alias on the compose network, for the membership
    assert f"GET /api/v3/orgs/{ORG}/members/alice" in github_hub.github.calls()


def test_a_member_of_the_allowed_team_gets_in(github_hub):
    session, response = github_login(github_hub, "Carol")  # GitHub logins are any case

    assert response.status_code == 200, response.text[:500]
    assert api(session, github_hub.url, "GET", "/user").json()["name"] == "carol"
    org, team = TEAM.split(":")
    assert f"GET /api/v3/orgs/{org}/teams/{team}/members/carol" in github_hub.github.calls()


def test_a_user_outside_the_allowed_organizations_gets_a_403(github_hub):
    session, response = github_login(github_hub, "mallory")

    assert response.status_code == 403, response.text[:500]
    assert "not currently authorized" in response.text
    assert "jupyterhub-hub-login" not in session.cookies
    assert api(session, github_hub.url, "GET", "/user").status_code == 403


def test_an_allowed_user_and_an_admin_get_in_and_only_the_admin_is_admin(github_hub):
    for login, admin in ((ALLOWED_USER, False), (ADMIN, True)):
        session, response = github_login(github_hub, login)
        assert response.status_code == 200, response.text[:500]
        assert api(session, github_hub.url, "GET", "/user").json()["admin"] is admin


def test_a_member_starts_a_server_and_runs_code_in_a_kernel_over_its_websocket(github_hub):
    user, url = "alice", github_hub.url
    session, response = github_login(github_hub, user)
    assert response.status_code == 200, response.text[:500]

    started = time.monotonic()
    spawn = api(session, url, "POST", f"/users/{user}/server")
    assert spawn.status_code in (201, 202), spawn.text
    wait_for_server(session, url, user, github_hub.dep.logs)
    print(f"server answered through the proxy {time.monotonic() - started:.1f} s after the request")

    kernel = server_api(session, url, user, "POST", "/kernels", json={"name": "python3"})
    assert kernel.status_code == 201, kernel.text
    cookies = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    with KernelSocket.for_kernel(
        f"{url}/user/{user}/", kernel.json()["id"], headers={"Cookie": cookies}
    ) as socket:
        assert socket.url.startswith(f"ws://127.0.0.1:{url.rsplit(':', 1)[1]}/user/{user}/")
        assert socket.execute("print(6*7)") == "42\n"

    stop = api(session, url, "DELETE", f"/users/{user}/server")
    assert stop.status_code in (202, 204), stop.text
    wait_until(
        lambda: docker("inspect", github_hub.dep.user_object(user), check=False).returncode,
        what="the stopped server's container to be removed",
    )


def test_no_secret_reaches_a_log_after_logins_and_a_server(github_hub):
    # runs after the tests above: logins, refusals, a spawn, a kernel and a stop were logged
    dep = github_hub.dep
    stored = {
        "cookie secret": "/srv/jupyterhub/jupyterhub_cookie_secret",
        "auth state key": "/srv/jupyterhub/jupyterhub_crypt_key",
        "proxy token": "/srv/hubdist-shared/proxy_auth_token",
    }
    secrets = {"GitHub client secret": github_hub.client_secret}
    for what, path in stored.items():
        secrets[what] = dep.compose("exec", "-T", "hub", "cat", path).stdout.strip()
        assert len(secrets[what]) >= 32, f"the {what} was not where the hub keeps it"
    logs = dep.compose("logs", "--no-color").stdout  # every service, the proxy included
    assert "oauth_callback" in logs, "the logs cover the logins"
    leaked = [what for what, value in secrets.items() if value in logs]
    assert not leaked, f"in the logs: {leaked}"


def run_hub_image(dep, **env: str) -> subprocess.CompletedProcess:
    """The deployment's hub image, run alone (no network) with ``env``; it must not start."""
    name = f"{dep.project}-refused"
    settings = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    try:
        return subprocess.run(
            ["docker", "run", "--rm", "--name", name, "--network", "none", *settings,
             hub_image(dep)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        docker("rm", "-f", name, check=False)  # if it outlived the timeout


def test_credentials_without_any_allow_rule_refuse_to_start(github_hub):
    """The hub image itself, with GitHub credentials and nobody allowed: it must not start."""
    run = run_hub_image(github_hub.dep, GITHUB_CLIENT_ID="some-id", GITHUB_CLIENT_SECRET="s")

    assert run.returncode != 0, run.stderr[-3000:]
    output = run.stdout + run.stderr
    assert "GITHUB LOGIN MODE" in output
    assert NOBODY_ALLOWED in output, output[-3000:]


def test_a_second_login_beside_github_is_refused_naming_both(github_hub):
    """The image carries the other logins too, and will not run two at once."""
    run = run_hub_image(
        github_hub.dep, GITHUB_CLIENT_ID="some-id", GITHUB_CLIENT_SECRET="s",
        GITLAB_CLIENT_ID="other-id", GITLAB_CLIENT_SECRET="s", GITHUB_ALLOWED_USERS="alice",
    )  # fmt: skip

    assert run.returncode != 0, run.stderr[-3000:]
    assert "GITHUB_CLIENT_ID (GitHub) and GITLAB_CLIENT_ID (GitLab) are set" in run.stderr
