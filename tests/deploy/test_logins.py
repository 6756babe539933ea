"""OpenID Connect and GitLab login, configured only through the environment, on real hubs.

Each hub is a real JupyterHub with its configurable-http-proxy (tests/hubrig.py), whose
login is set up the way the default configuration does it (hubdist.auth.environment), against
the stand-in provider of tests/fakeidp.py in this process. An HTTP client that keeps cookies
follows the real OAuth redirects, hub -> provider -> hub, as a browser does. Settings that
must not start a hub are tried on the shipped default configuration.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import requests

from hubdist.auth import gitlab, oidc

from .. import fakeidp
from ..hubrig import PREFIX, TEST_IMAGE, Hub, free_port
from .conftest import CONFIG_DIR

CLIENT_ID, CLIENT_SECRET = "hub-client", "fake-idp-secret-4f9a1c"
# who belongs where at the provider
GROUPS = {
    "staff": {"alice"},
    "course-a": {"alice", "bob"},
    "hub-admins": {"boss"},
    "visitors": {"mallory"},
    "lab/course": {"carol"},  # a GitLab subgroup
}
# the hub's settings: the environment, as an operator writes it in .env
LOGIN_FROM_ENVIRONMENT = """
import os
from hubdist.auth import environment
c.Authenticator.allow_all = False  # the rig's default; the environment decides here
c.Authenticator.admin_users = set(os.environ.get("HUBDIST_ADMIN_USERS", "").split())
environment.configure(c, os.environ)
"""


@pytest.fixture(scope="module")
def idp() -> Iterator[fakeidp.FakeIdP]:
    """The provider; its token endpoint takes the client secret only by HTTP Basic."""
    groups = {group: set(logins) for group, logins in GROUPS.items()}
    state = fakeidp.FakeIdP(CLIENT_ID, CLIENT_SECRET, groups, ("client_secret_basic",))
    server = fakeidp.Server(("127.0.0.1", 0), state, verbose=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def login_hub(workdir, idp: fakeidp.FakeIdP, **env: str) -> Hub:
    hub = Hub(workdir, LOGIN_FROM_ENVIRONMENT, prefix=PREFIX, image=TEST_IMAGE, env=env)
    callback = f"{hub.url}/hub/oauth_callback"
    hub.env.update(OAUTH_CALLBACK_URL=callback, **env)
    return hub.start()


@pytest.fixture(scope="module")
def oidc_hub(engine_ready, idp, tmp_path_factory) -> Iterator[Hub]:
    hub = login_hub(
        tmp_path_factory.mktemp("oidc"),
        idp,
        OIDC_ISSUER=idp.issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_ALLOWED_GROUPS="staff course-a",
        OIDC_ADMIN_GROUPS="hub-admins",
    )
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def gitlab_hub(engine_ready, idp, tmp_path_factory) -> Iterator[Hub]:
    hub = login_hub(
        tmp_path_factory.mktemp("gitlab"),
        idp,
        GITLAB_URL=idp.issuer,
        GITLAB_CLIENT_ID=CLIENT_ID,
        GITLAB_CLIENT_SECRET=CLIENT_SECRET,
        GITLAB_ALLOWED_GROUPS="lab/course",
        GITLAB_ADMIN_GROUPS="hub-admins",
    )
    yield hub
    hub.stop()


def sign_in(
    hub: Hub, idp: fakeidp.FakeIdP, login: str
) -> tuple[requests.Session, requests.Response]:
    """Log in as ``login`` at the provider, the way a browser does, following every redirect."""
    s = requests.Session()
    s.trust_env = False
    start = s.get(
        f"{hub.url}/hub/oauth_login",
        params={"next": "/hub/home"},
        allow_redirects=False,
        timeout=10,
    )
    assert start.status_code == 302, start.text[:500]
    authorize = start.headers["Location"]
    assert authorize.startswith(idp.issuer + "/"), authorize
    page = s.get(authorize, timeout=10)
    assert page.status_code == 200 and 'id="login"' in page.text, page.text[:300]
    return s, s.get(f"{authorize}&login={login}", timeout=30)


def user_model(hub: Hub, name: str) -> dict:
    r = hub.api("GET", f"/users/{name}")
    assert r.status_code == 200, r.text
    return r.json()


# -- OpenID Connect ------------------------------------------------------------------------


def test_a_member_of_an_allowed_group_gets_in_with_the_providers_groups(oidc_hub, idp):
    session, response = sign_in(oidc_hub, idp, "alice")

    assert response.status_code == 200 and response.url.endswith("/hub/home"), response.text[:500]
    me = session.get(f"{oidc_hub.url}/hub/api/user", timeout=10,
                     headers={"X-XSRFToken": session.cookies.get("_xsrf", "")})  # fmt: skip
    assert me.status_code == 200 and me.json()["name"] == "alice"
    alice = user_model(oidc_hub, "alice")
    assert (sorted(alice["groups"]), alice["admin"]) == (["course-a", "staff"], False)


def test_a_user_in_no_allowed_group_gets_a_403(oidc_hub, idp):
    session, response = sign_in(oidc_hub, idp, "mallory")

    assert response.status_code == 403, response.text[:500]
    assert "jupyterhub-hub-login" not in session.cookies
    assert oidc_hub.api("GET", "/users/mallory").status_code == 404


def test_a_member_of_the_admin_group_is_an_admin(oidc_hub, idp):
    _, response = sign_in(oidc_hub, idp, "boss")

    assert response.status_code == 200, response.text[:500]
    boss = user_model(oidc_hub, "boss")
    assert boss["admin"] is True and boss["groups"] == ["hub-admins"]


def test_the_hubs_groups_follow_the_provider_at_each_login(oidc_hub, idp):
    assert sign_in(oidc_hub, idp, "bob")[1].status_code == 200
    assert user_model(oidc_hub, "bob")["groups"] == ["course-a"]
    with idp.lock:
        idp.groups["course-a"].discard("bob")
        idp.groups["staff"].add("bob")
    try:
        assert sign_in(oidc_hub, idp, "bob")[1].status_code == 200
        assert user_model(oidc_hub, "bob")["groups"] == ["staff"]
    finally:
        with idp.lock:
            idp.groups["staff"].discard("bob")
            idp.groups["course-a"].add("bob")


def test_the_log_says_what_discovery_found_and_who_may_log_in(oidc_hub, idp):
    log = oidc_hub.log_path.read_text()

    assert f"OpenID Connect discovery from {idp.issuer}/.well-known/openid-configuration" in log
    assert f"sign-in at {idp.issuer}/authorize, tokens from {idp.issuer}/token" in log
    # the provider takes the secret only by HTTP Basic; the token requests show it worked
    assert "client secret sent by HTTP Basic, as the provider does not take it in the form" in log
    assert "allowed: groups course-a, staff; admin groups hub-admins" in log
    assert "OIDC LOGIN MODE" in log


# -- GitLab --------------------------------------------------------------------------------


def test_gitlab_a_member_of_an_allowed_subgroup_gets_in_and_others_get_a_403(gitlab_hub, idp):
    _, carol = sign_in(gitlab_hub, idp, "carol")
    _, mallory = sign_in(gitlab_hub, idp, "mallory")

    assert carol.status_code == 200 and carol.url.endswith("/hub/home"), carol.text[:500]
    assert mallory.status_code == 403, mallory.text[:500]
    with idp.lock:
        calls = list(idp.calls)
    carol_id = idp.number("carol")
    assert f"GET /api/v4/groups/lab%2Fcourse/members/all/{carol_id}" in calls
    log = gitlab_hub.log_path.read_text()
    assert "allowed: groups lab/course; admin groups hub-admins" in log


def test_gitlab_groups_become_the_hubs_and_the_admin_group_makes_admins(gitlab_hub, idp):
    with idp.lock:
        idp.groups["course-a"].add("boss")  # two groups: two pages of the fake's listing
    try:
        _, boss = sign_in(gitlab_hub, idp, "boss")
    finally:
        with idp.lock:
            idp.groups["course-a"].discard("boss")

    assert boss.status_code == 200, boss.text[:500]
    model = user_model(gitlab_hub, "boss")
    assert model["admin"] is True and sorted(model["groups"]) == ["course-a", "hub-admins"]
    assert sign_in(gitlab_hub, idp, "carol")[1].status_code == 200
    carol = user_model(gitlab_hub, "carol")
    assert (carol["groups"], carol["admin"]) == (["lab/course"], False)


# -- settings a hub must not start with ------------------------------------------------------


def start_default_config(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """The shipped configuration, started as the hub image starts it, with ``env`` only."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("HUBDIST_", "GITHUB_"))}
    (tmp_path / "data").mkdir(exist_ok=True)
    keep.update(
        HUBDIST_DATA_DIR=str(tmp_path / "data"),
        HUBDIST_OVERRIDE_DIR=str(tmp_path / "config.d"),
        HUBDIST_NETGUARD="off",
        CONFIGPROXY_AUTH_TOKEN="proxy-token-of-a-hub-that-never-starts",
        **env,
    )
    ports = [f"--port={free_port()}", f"--JupyterHub.hub_port={free_port()}"]
    return subprocess.run(
        [sys.executable, "-m", "hubdist.services.hub",
         "-f", str(CONFIG_DIR / "jupyterhub_config.py"), *ports],
        cwd=tmp_path, env=keep, capture_output=True, text=True, timeout=90,
    )  # fmt: skip


def test_two_logins_at_once_are_refused_naming_both(tmp_path):
    hub = start_default_config(
        tmp_path,
        GITHUB_CLIENT_ID="gh-id",
        GITHUB_CLIENT_SECRET="gh-secret",
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_ISSUER="http://127.0.0.1:9",
    )

    assert hub.returncode != 0, hub.stderr[-2000:]
    assert "hubdist: the hub will not start" in hub.stderr
    assert "GITHUB_CLIENT_ID (GitHub) and OIDC_CLIENT_ID (OpenID Connect) are set" in hub.stderr
    assert "Traceback" not in hub.stderr


def test_nobody_allowed_is_refused_at_start(tmp_path, idp):
    hub = start_default_config(
        tmp_path, OIDC_ISSUER=idp.issuer, OIDC_CLIENT_ID=CLIENT_ID, OIDC_CLIENT_SECRET="s"
    )

    assert hub.returncode == 1
    assert f"hubdist: the hub will not start: {oidc.NOBODY_ALLOWED}" in hub.stderr, hub.stderr
    assert "Traceback" not in hub.stderr


def test_an_issuer_whose_discovery_document_names_another_is_refused(tmp_path, idp):
    # the provider answers on 127.0.0.1; "localhost" is the same server, not the same issuer
    issuer = idp.issuer.replace("127.0.0.1", "localhost")
    hub = start_default_config(
        tmp_path,
        OIDC_ISSUER=issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET="s",
        OIDC_ALLOWED_USERS="alice",
    )

    assert hub.returncode != 0
    assert f"OIDC_ISSUER={issuer}: the discovery document at {issuer}/.well-known/" in hub.stderr
    assert f"is for issuer {idp.issuer}; set OIDC_ISSUER to the provider's issuer" in hub.stderr
    assert "Traceback" not in hub.stderr


def test_gitlab_nobody_allowed_is_refused_at_start(tmp_path):
    hub = start_default_config(tmp_path, GITLAB_CLIENT_ID="id", GITLAB_CLIENT_SECRET="s")

    assert hub.returncode == 1
    assert f"hubdist: the hub will not start: {gitlab.NOBODY_ALLOWED}" in hub.stderr, hub.stderr
