"""Which login the environment configures, and the OpenID Connect and GitLab settings it makes
(hubdist.auth.environment, .oidc, .gitlab). No hub: the settings are read from dicts, the
discovery checks run on documents, and the default config is loaded as JupyterHub loads it.
tests/deploy/test_logins.py logs in through them on real hubs."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path

import pytest
import yaml
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from hubdist.auth import environment, gitlab, oauth, oidc, trial
from hubdist.config.variables import LOGIN_VARIABLES
from hubdist.services import proxy

from .. import fakeidp
from ..hubrig import free_port

REPO = Path(__file__).resolve().parents[2]

OIDC = {"OIDC_CLIENT_ID": "cid", "OIDC_CLIENT_SECRET": "cs", "OIDC_ISSUER": "https://idp.test/r/x/"}
GITLAB = {"GITLAB_CLIENT_ID": "gid", "GITLAB_CLIENT_SECRET": "gs"}
ISSUER = "https://idp.test/r/x"
DOCUMENT = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/auth",
    "token_endpoint": f"{ISSUER}/token",
    "userinfo_endpoint": f"{ISSUER}/userinfo",
}


# -- OpenID Connect settings -------------------------------------------------------------------


def test_oidc_settings_without_groups_leave_group_management_off():
    traits = oidc.settings({**OIDC, "OIDC_ALLOWED_USERS": "Alice, bob"})

    assert traits == {
        "client_id": "cid",
        "client_secret": "cs",
        "issuer": ISSUER,
        "username_claim": "preferred_username",
        "scope": ["openid", "profile", "email"],
        "login_service": "OpenID Connect",
        "allowed_users": {"alice", "bob"},
    }


def test_oidc_groups_turn_on_group_management_with_the_claim_as_a_path():
    traits = oidc.settings(
        {**OIDC, "OIDC_ALLOWED_GROUPS": "staff /lab/course", "OIDC_ADMIN_GROUPS": "admins",
         "OIDC_GROUPS_CLAIM": "realm_access.roles", "OIDC_SCOPES": "openid groups openid",
         "OIDC_LOGIN_SERVICE": "University SSO"}
    )  # fmt: skip

    assert traits["manage_groups"] is True
    assert traits["auth_state_groups_key"] == "oauth_user.realm_access.roles"
    assert traits["allowed_groups"] == {"staff", "/lab/course"}  # names kept as given
    assert traits["admin_groups"] == {"admins"}
    assert traits["scope"] == ["openid", "groups"]
    assert traits["login_service"] == "University SSO"


def test_a_groups_claim_alone_turns_group_management_on_and_the_default_claim_is_groups():
    assert oidc.settings({**OIDC, "OIDC_GROUPS_CLAIM": "groups"})["manage_groups"] is True
    traits = oidc.settings({**OIDC, "OIDC_ADMIN_GROUPS": "admins"})
    assert traits["auth_state_groups_key"] == "oauth_user.groups"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OIDC_CLIENT_ID": "cid"}, "OIDC_CLIENT_ID is set but OIDC_CLIENT_SECRET is not"),
        ({**OIDC, "OIDC_USERNAME_CLAIM": "email sub"}, "OIDC_USERNAME_CLAIM='email sub'"),
        ({**OIDC, "OIDC_GROUPS_CLAIM": "a b"}, "OIDC_GROUPS_CLAIM='a b': name one claim"),
    ],
)
def test_unusable_oidc_settings_are_refused_naming_the_variable(env, message):
    with pytest.raises(oauth.LoginConfigError, match=message):
        oidc.settings(env)


# -- the discovery document ----------------------------------------------------------------------


def test_endpoints_come_from_the_document_of_the_same_issuer():
    assert oidc.endpoints(ISSUER + "/", DOCUMENT) == {
        "authorize_url": f"{ISSUER}/auth",
        "token_url": f"{ISSUER}/token",
        "userdata_url": f"{ISSUER}/userinfo",
    }


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({**DOCUMENT, "issuer": "https://evil.test"}, "is for issuer https://evil.test"),
        ({k: v for k, v in DOCUMENT.items() if k != "issuer"}, r"is for issuer \(none named\)"),
        (
            {k: v for k, v in DOCUMENT.items() if k != "token_endpoint"},
            "has no token_endpoint; set c.GenericOAuthenticator.token_url in config.d",
        ),
        ({**DOCUMENT, "token_endpoint": "http://idp.test/token"}, "which is not https"),
    ],
)
def test_a_document_the_hub_must_not_use_is_refused_saying_why(document, message):
    with pytest.raises(oauth.LoginConfigError, match=message):
        oidc.endpoints(ISSUER, document)


@pytest.mark.parametrize(
    ("methods", "in_form"),
    [
        (None, False),  # the standard's default: client_secret_basic
        (["client_secret_basic"], False),
        (["client_secret_basic", "client_secret_post"], True),
        (["private_key_jwt", "client_secret_post"], True),
    ],
)
def test_the_secret_goes_in_the_form_only_where_the_provider_takes_it(methods, in_form):
    document = {**DOCUMENT, "token_endpoint_auth_methods_supported": methods}
    assert oidc.sends_secret_in_form(document) is in_form


def authenticator(**options) -> oidc.OIDCAuthenticator:
    c = Config()
    for name, value in {"client_id": "cid", "client_secret": "cs", **options}.items():
        setattr(c.GenericOAuthenticator, name, value)
    return oidc.OIDCAuthenticator(config=c)


def test_without_an_issuer_or_endpoints_the_hub_is_told_to_set_oidc_issuer():
    with pytest.raises(oauth.LoginRefused, match="set OIDC_ISSUER to the issuer URL"):
        authenticator(allowed_users={"alice"}).check_allow_config()


def test_endpoints_set_in_config_need_no_issuer_and_no_discovery():
    auth = authenticator(
        allowed_users={"alice"}, authorize_url="https://p/a", token_url="https://p/t",
        userdata_url="https://p/u",
    )  # fmt: skip

    auth.check_allow_config()  # would raise: no issuer to read a document from

    assert (auth.authorize_url, auth.basic_auth) == ("https://p/a", False)


def test_nobody_allowed_is_refused_even_before_discovery_is_tried():
    auth = authenticator(issuer="http://127.0.0.1:9")  # nothing listens: never asked

    with pytest.raises(oauth.LoginRefused, match="no rule says who may log in"):
        auth.check_allow_config()


def test_an_admin_group_alone_lets_the_hub_start_and_is_logged():
    auth = authenticator(
        manage_groups=True, admin_groups={"admins"}, authorize_url="https://p/a",
        token_url="https://p/t", userdata_url="https://p/u",
    )  # fmt: skip

    auth.check_allow_config()

    assert auth.describe_allowed() == "allowed: admin groups admins"


# -- GitLab settings ---------------------------------------------------------------------------


def test_gitlab_settings_ask_for_read_api_only_to_check_memberships():
    plain = gitlab.settings({**GITLAB, "GITLAB_ALLOWED_USERS": "Carol"})
    groups = gitlab.settings(
        {**GITLAB, "GITLAB_URL": "gitlab.example.org/", "GITLAB_ALLOWED_GROUPS": "lab/course",
         "GITLAB_ALLOWED_PROJECTS": "42 7"}
    )  # fmt: skip

    assert plain["scope"] == ["read_user"] and plain["gitlab_url"] == "https://gitlab.com"
    assert plain["allowed_users"] == {"carol"}
    assert groups["scope"] == ["read_user", "read_api"]
    assert groups["gitlab_url"] == "https://gitlab.example.org"
    assert groups["allowed_gitlab_groups"] == {"lab/course"}
    assert groups["allowed_project_ids"] == {42, 7}


def test_gitlab_admin_groups_turn_group_management_on_and_ask_for_read_api():
    traits = gitlab.settings({**GITLAB, "GITLAB_ALLOWED_USERS": "x", "GITLAB_ADMIN_GROUPS": "a"})

    assert traits["manage_groups"] is True and traits["admin_groups"] == {"a"}
    assert traits["scope"] == ["read_user", "read_api"]
    assert gitlab.settings({**GITLAB, "GITLAB_MANAGE_GROUPS": "true"})["manage_groups"]
    assert "manage_groups" not in gitlab.settings({**GITLAB, "GITLAB_MANAGE_GROUPS": "false"})
    with pytest.raises(oauth.LoginConfigError, match="GITLAB_MANAGE_GROUPS='maybe': use true"):
        gitlab.settings({**GITLAB, "GITLAB_MANAGE_GROUPS": "maybe"})


def test_gitlab_projects_by_name_are_refused_asking_for_their_ids():
    with pytest.raises(oauth.LoginConfigError, match="GITLAB_ALLOWED_PROJECTS: my-project: give"):
        gitlab.settings({**GITLAB, "GITLAB_ALLOWED_PROJECTS": "12 my-project"})


# -- one login at a time -----------------------------------------------------------------------


def test_no_credentials_choose_no_login_whatever_else_is_set():
    assert environment.chosen({"OIDC_ISSUER": ISSUER, "GITLAB_ALLOWED_USERS": "x"}) is None


def test_the_login_whose_credentials_are_set_is_chosen_even_from_files():
    env = {"GITLAB_CLIENT_ID": "gid", "GITLAB_CLIENT_SECRET_FILE": "/run/secrets/gitlab"}
    assert environment.chosen(env).name == "GitLab"
    assert environment.chosen(OIDC).name == "OpenID Connect"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {**OIDC, "GITHUB_CLIENT_SECRET_FILE": "/run/secrets/gh"},
            r"GITHUB_CLIENT_SECRET_FILE \(GitHub\) and OIDC_CLIENT_ID \(OpenID Connect\) are set",
        ),
        (
            {**OIDC, "GITHUB_ALLOWED_ORGANIZATIONS": "org", "GITLAB_URL": "https://g.test"},
            "GITHUB_ALLOWED_ORGANIZATIONS, GITLAB_URL are set, but users log in through OpenID "
            r"Connect \(OIDC_CLIENT_ID is set\), so it would do nothing",
        ),
        (
            {**GITLAB, "OIDC_ALLOWED_GROUPS": "staff"},
            "OIDC_ALLOWED_GROUPS is set, but users log in through GitLab",
        ),
    ],
)
def test_two_logins_or_another_logins_settings_are_refused(env, message):
    with pytest.raises(oauth.LoginConfigError, match=message):
        environment.chosen(env)


def test_configure_puts_hubdists_own_options_on_its_class_and_the_rest_on_oauthenticators(
    capsys,
):
    c = Config()

    login = environment.configure(c, {**OIDC, "OIDC_ALLOWED_GROUPS": "staff"})

    assert login.name == "OpenID Connect"
    assert c.JupyterHub.authenticator_class == oidc.AUTHENTICATOR
    assert c.OIDCAuthenticator.issuer == ISSUER and "issuer" not in c.GenericOAuthenticator
    assert c.GenericOAuthenticator.allowed_groups == {"staff"}
    assert f"OIDC LOGIN MODE - users log in through {ISSUER}" in capsys.readouterr().err


def test_compose_passes_every_login_variable_to_the_hub():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    passed = set(compose["services"]["hub"]["environment"])
    read = {name for options in LOGIN_VARIABLES.values() for name in options.values()}
    read |= {f"{p}_CLIENT_{part}_FILE" for p in LOGIN_VARIABLES for part in ("ID", "SECRET")}

    assert read - passed == set()


def test_an_issuer_that_does_not_answer_stops_the_hub_naming_it():
    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    auth = authenticator(issuer=issuer, allowed_users={"alice"}, discovery_timeout=5)

    with pytest.raises(oauth.LoginRefused) as refused:
        auth.check_allow_config()

    assert str(refused.value).startswith(
        f"hubdist: the hub will not start: OIDC_ISSUER={issuer}: the discovery document "
        f"{issuer}/.well-known/openid-configuration could not be read: "
    )


@pytest.fixture
def provider():
    state = fakeidp.FakeIdP("cid", "cs", {}, auth_methods=("client_secret_basic",))
    server = fakeidp.Server(("127.0.0.1", 0), state, verbose=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def test_discovery_fills_only_what_the_configuration_left_unset(provider, caplog):
    auth = authenticator(
        issuer=provider.issuer, allowed_users={"alice"}, token_url="https://mine/token",
        userdata_from_id_token=True,
    )  # fmt: skip

    caplog.set_level(logging.INFO)
    auth.check_allow_config()

    assert auth.authorize_url == f"{provider.issuer}/authorize"
    assert (auth.token_url, auth.userdata_url) == ("https://mine/token", "")
    assert auth.basic_auth is True  # the provider takes the secret by HTTP Basic only
    said = caplog.text
    assert "user info from the id token; kept from the configuration: token_url" in said
    assert f"OIDC_ISSUER {provider.issuer} is plain http" in said


def test_the_default_config_sets_up_oidc_and_an_override_still_wins(tmp_path, monkeypatch):
    monkeypatch.setattr(proxy, "forget_stale_pid_file", lambda path: None)
    for name in list(os.environ):
        if name.startswith(("HUBDIST_", "GITHUB_", "OIDC_", "GITLAB_", "OAUTH_")):
            monkeypatch.delenv(name)
    overrides = tmp_path / "config.d"
    overrides.mkdir()
    (overrides / "50-oidc.py").write_text("c.GenericOAuthenticator.allowed_groups = {'lab'}\n")
    env = {**OIDC, "OIDC_ALLOWED_GROUPS": "staff", "HUBDIST_ADMIN_USERS": "Boss",
           "HUBDIST_DATA_DIR": str(tmp_path), "HUBDIST_OVERRIDE_DIR": str(overrides)}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    c = PyFileConfigLoader("jupyterhub_config.py", path=str(REPO / "config")).load_config()
    auth = oidc.OIDCAuthenticator(config=c)

    assert c.JupyterHub.authenticator_class == oidc.AUTHENTICATOR
    assert (auth.issuer, auth.client_secret) == (ISSUER, "cs")
    assert (auth.allowed_groups, auth.admin_users, auth.manage_groups) == ({"lab"}, {"boss"}, True)
    assert not (tmp_path / trial.USER_PASSWORD_FILE).exists()


@pytest.mark.parametrize(
    ("claim", "groups"),
    [(["staff", "lab"], {"staff", "lab"}), ("staff", {"staff"}), (None, set()), ([], set())],
)
def test_the_groups_claim_gives_the_users_groups_a_single_string_as_one(claim, groups):
    auth = authenticator(manage_groups=True, auth_state_groups_key="oauth_user.realm.groups")
    state = {"oauth_user": {"realm": {"groups": claim}}}

    assert asyncio.run(auth.get_user_groups(state)) == groups
