"""GitHub login from the environment (hubdist.auth.github), and the fake GitHub the e2e tests use.

No hub, no container: the settings are read from a dict, the default config is loaded as
JupyterHub loads it, the allow check runs on the real authenticator class, and the fake
serves on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from hubdist.auth import github, oauth, trial
from hubdist.services import proxy

from .. import fakegithub

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
CREDENTIALS = {"GITHUB_CLIENT_ID": "id1", "GITHUB_CLIENT_SECRET": "secret1"}


def test_without_credentials_nothing_is_configured():
    assert github.settings({}) is None
    assert github.settings({"GITHUB_CLIENT_ID": " ", "GITHUB_ALLOWED_USERS": "alice"}) is None


def test_settings_from_the_environment():
    traits = github.settings(
        {
            **CREDENTIALS,
            "GITHUB_ALLOWED_ORGANIZATIONS": "my-org, Other_Org:lab-team\n",
            "GITHUB_ALLOWED_USERS": "Alice bob,",
            "OAUTH_CALLBACK_URL": "https://hub.example.org/hub/oauth_callback",
            "GITHUB_URL": "github.example.org/",
        }
    )

    assert traits == {
        "client_id": "id1",
        "client_secret": "secret1",
        "allowed_organizations": {"my-org", "Other_Org:lab-team"},
        "scope": ["read:org"],
        "allowed_users": {"alice", "bob"},
        "oauth_callback_url": "https://hub.example.org/hub/oauth_callback",
        "github_url": "https://github.example.org",
    }


def test_no_organizations_means_no_extra_scope():
    traits = github.settings({**CREDENTIALS, "GITHUB_ALLOWED_USERS": "alice"})

    assert "scope" not in traits and "allowed_organizations" not in traits


def test_credentials_from_files_and_a_secret_file_must_be_private(tmp_path):
    (tmp_path / "id").write_text("id-from-file\n")
    secret = tmp_path / "secret"
    secret.write_text("secret-from-file\n")
    secret.chmod(0o600)
    env = {"GITHUB_CLIENT_ID_FILE": str(tmp_path / "id"), "GITHUB_CLIENT_SECRET_FILE": str(secret)}

    traits = github.settings(env)
    assert (traits["client_id"], traits["client_secret"]) == ("id-from-file", "secret-from-file")

    secret.chmod(0o644)
    with pytest.raises(github.GitHubConfigError, match="readable by every user"):
        github.settings(env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GITHUB_CLIENT_ID": "id1"}, "GITHUB_CLIENT_ID is set but GITHUB_CLIENT_SECRET is not"),
        ({"GITHUB_CLIENT_SECRET": "s"}, "GITHUB_CLIENT_SECRET is set but GITHUB_CLIENT_ID is not"),
        (
            {**CREDENTIALS, "GITHUB_CLIENT_SECRET_FILE": "/run/secrets/x"},
            "both GITHUB_CLIENT_SECRET and GITHUB_CLIENT_SECRET_FILE",
        ),
        (
            {"GITHUB_CLIENT_ID": "id1", "GITHUB_CLIENT_SECRET_FILE": "/nonexistent/secret"},
            "/nonexistent/secret, which does not exist",
        ),
        (
            {**CREDENTIALS, "GITHUB_ALLOWED_ORGANIZATIONS": "ok-org a:b:c https://x/y"},
            "GITHUB_ALLOWED_ORGANIZATIONS: a:b:c, https://x/y: each entry",
        ),
    ],
)
def test_unusable_settings_are_refused_with_what_to_change(env, message):
    with pytest.raises(github.GitHubConfigError, match=message.replace("*", r"\*")):
        github.settings(env)


# -- the default configuration -------------------------------------------------------------


@pytest.fixture
def load(tmp_path, monkeypatch):
    """The default config, loaded with the given environment (nothing else of ours)."""
    monkeypatch.setattr(proxy, "forget_stale_pid_file", lambda path: None)

    def load(env: dict[str, str], **overrides_py: str) -> Config:
        for name in list(os.environ):
            if name.startswith(("HUBDIST_", "GITHUB_", "OAUTH_")):
                monkeypatch.delenv(name)
        overrides = tmp_path / "config.d"
        overrides.mkdir(exist_ok=True)
        for name, text in overrides_py.items():
            (overrides / name).write_text(text)
        env = {"HUBDIST_DATA_DIR": str(tmp_path), "HUBDIST_OVERRIDE_DIR": str(overrides), **env}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return PyFileConfigLoader("jupyterhub_config.py", path=str(CONFIG_DIR)).load_config()

    return load


def test_credentials_switch_the_default_config_to_github_login(load, tmp_path, capsys):
    c = load(
        {**CREDENTIALS, "GITHUB_ALLOWED_ORGANIZATIONS": "my-org", "HUBDIST_ADMIN_USERS": "Boss"}
    )

    assert c.JupyterHub.authenticator_class == github.AUTHENTICATOR
    assert c.GitHubOAuthenticator.allowed_organizations == {"my-org"}
    assert c.Authenticator.admin_users == {"boss"}
    assert not (tmp_path / trial.USER_PASSWORD_FILE).exists()
    err = capsys.readouterr().err
    assert "GITHUB LOGIN MODE" in err and "TRIAL" not in err


def test_without_credentials_the_default_config_stays_in_trial_mode(load):
    c = load({"GITHUB_ALLOWED_USERS": "alice"})

    assert c.JupyterHub.authenticator_class == "hubdist.auth.trial.TrialAuthenticator"
    assert "GitHubOAuthenticator" not in c


def test_an_override_can_change_what_the_environment_set(load):
    c = load(CREDENTIALS, **{"50-gh.py": "c.GitHubOAuthenticator.allowed_users = {'zoe'}\n"})

    assert c.GitHubOAuthenticator.allowed_users == {"zoe"}


# -- the allow check, when the hub starts -------------------------------------------------


def authenticator(c: Config) -> github.GitHubAuthenticator:
    return github.GitHubAuthenticator(config=c)


def test_nobody_allowed_refuses_to_start(load):
    auth = authenticator(load(CREDENTIALS))

    with pytest.raises(oauth.LoginRefused, match="will not start: GitHub login is configured"):
        auth.check_allow_config()


@pytest.mark.parametrize(
    ("env", "override", "said"),
    [
        ({"GITHUB_ALLOWED_ORGANIZATIONS": "o1 o2:t"}, "", "organizations/teams o1, o2:t"),
        ({"GITHUB_ALLOWED_USERS": "alice"}, "", "users alice"),
        ({"HUBDIST_ADMIN_USERS": "boss"}, "", "admins boss"),
        ({}, "c.GitHubOAuthenticator.allow_all = True", "every GitHub user"),
        ({}, "c.Authenticator.allowed_users = {'zoe'}", "users zoe"),
    ],
)
def test_any_allow_rule_lets_the_hub_start_and_is_logged(load, caplog, env, override, said):
    auth = authenticator(load({**CREDENTIALS, **env}, **{"50-allow.py": override}))

    auth.check_allow_config()

    assert said in auth.describe_allowed()


# -- the fake GitHub ------------------------------------------------------------------------


@pytest.fixture
def fake():
    state = fakegithub.FakeGitHub(
        "cid", "csecret", fakegithub.parse_members(["org1=alice", "org1:lab=Carol"])
    )
    server = fakegithub.Server(("127.0.0.1", 0), state, verbose=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    s = requests.Session()
    s.trust_env = False
    s.base = f"http://127.0.0.1:{server.server_port}"
    yield s
    server.shutdown()
    server.server_close()


def authorize(s, login: str, **extra) -> dict[str, str]:
    params = {"client_id": "cid", "redirect_uri": "http://hub.test/cb", "state": "st1", **extra}
    page = s.get(f"{s.base}/login/oauth/authorize", params=params, allow_redirects=False)
    assert page.status_code == 200 and 'id="authorize"' in page.text
    redirect = s.get(
        f"{s.base}/login/oauth/authorize", params={**params, "login": login}, allow_redirects=False
    )
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["Location"])
    assert location.netloc == "hub.test" and location.path == "/cb"
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def token(s, code: str, **extra) -> requests.Response:
    form = {
        "client_id": "cid",
        "client_secret": "csecret",
        "code": code,
        "redirect_uri": "http://hub.test/cb",
        **extra,
    }
    return s.post(
        f"{s.base}/login/oauth/access_token", data=form, headers={"Accept": "application/json"}
    )


def test_fake_github_runs_the_oauth_flow_and_answers_membership(fake):
    back = authorize(fake, "Carol", scope="read:org")
    assert back["state"] == "st1"
    granted = token(fake, back["code"]).json()
    assert granted["token_type"] == "bearer" and granted["scope"] == "read:org"
    auth = {"Authorization": f"Bearer {granted['access_token']}"}

    def get(path):
        return fake.get(f"{fake.base}/api/v3{path}", headers=auth)

    assert get("/user").json()["login"] == "Carol" and get("/user").json()["email"] is None
    assert get("/user/teams").json()[0]["slug"] == "lab"
    assert get("/orgs/org1/teams/lab/members/carol").status_code == 204
    assert get("/orgs/org1/members/carol").status_code == 404
    assert get("/orgs/org1/members/alice").status_code == 204
    assert fake.get(f"{fake.base}/api/v3/user").status_code == 401
    # a code is good once
    assert token(fake, back["code"]).json()["error"] == "bad_verification_code"


def test_fake_github_checks_the_client_secret_and_pkce(fake):
    assert token(fake, authorize(fake, "a")["code"], client_secret="x").json()["error"] == (
        "incorrect_client_credentials"
    )
    verifier = "v" * 43
    back = authorize(fake, "a", code_challenge=fakegithub.pkce(verifier))
    assert token(fake, back["code"], code_verifier="wrong").json()["error"] == "invalid_grant"
    back = authorize(fake, "a", code_challenge=fakegithub.pkce(verifier))
    assert "access_token" in token(fake, back["code"], code_verifier=verifier).json()
