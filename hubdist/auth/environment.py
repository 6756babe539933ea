"""Which login the environment configures: GitHub, OpenID Connect, GitLab, or none.

A login is configured by its client ID and secret (PREFIX_CLIENT_ID, PREFIX_CLIENT_SECRET or
their *_FILE variants). One at a time: with two, or with another login's settings beside
the one configured (GITHUB_ALLOWED_USERS with OpenID Connect login), the hub refuses to
start, as one of them would silently do nothing. With none, the hub stays in local trial
mode (hubdist.auth.trial), and settings of a login without its credentials change nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..config.variables import LOGIN_VARIABLES
from . import github, gitlab, oauth, oidc


@dataclass(frozen=True)
class Login:
    name: str
    prefix: str  # of its variables: GITHUB_CLIENT_ID, ...
    module: ModuleType  # settings(environ), where(traits), AUTHENTICATOR
    section: str  # the config class oauthenticator's options are set on

    @property
    def variables(self) -> dict[str, str]:
        """Option -> the variable that sets it."""
        return LOGIN_VARIABLES[self.prefix]

    @property
    def authenticator(self) -> type:
        return getattr(self.module, self.module.AUTHENTICATOR.rsplit(".", 1)[1])


LOGINS = (
    Login("GitHub", "GITHUB", github, "GitHubOAuthenticator"),
    Login("OpenID Connect", "OIDC", oidc, "GenericOAuthenticator"),
    Login("GitLab", "GITLAB", gitlab, "GitLabOAuthenticator"),
)
SHARED_VARIABLES = {"OAUTH_CALLBACK_URL"}


def chosen(environ: Mapping[str, str]) -> Login | None:
    """The login whose credentials are set; refused if several are, or if another login's
    settings are set beside it."""
    configured = {login: oauth.given(environ, login.prefix) for login in LOGINS}
    configured = {login: names for login, names in configured.items() if names}
    if len(configured) > 1:
        listed = " and ".join(f"{names[0]} ({login.name})" for login, names in configured.items())
        raise oauth.LoginConfigError(
            f"{listed} are set: the hub has one login at a time. Remove the client ID and "
            "secret of all but the one users should sign in with"
        )
    if not configured:
        return None
    login = next(iter(configured))
    strays = sorted(
        variable
        for other in LOGINS
        if other is not login
        for variable in set(other.variables.values()) - SHARED_VARIABLES
        if environ.get(variable, "").strip()
    )
    if strays:
        raise oauth.LoginConfigError(
            f"{', '.join(strays)} {'is' if len(strays) == 1 else 'are'} set, but users log in "
            f"through {login.name} ({configured[login][0]} is set), so it would do nothing: "
            f"remove it, or use the {login.prefix}_* settings (see docs/authentication.md)"
        )
    return login


def configure(c: Any, environ: Mapping[str, str] = os.environ) -> Login | None:
    """Switch the JupyterHub config ``c`` to the login ``environ`` configures, if any."""
    login = chosen(environ)
    if login is None:
        return None
    traits = login.module.settings(environ)
    c.JupyterHub.authenticator_class = login.module.AUTHENTICATOR
    own = login.authenticator.class_own_traits(config=True)  # hubdist's, not oauthenticator's
    for name, value in traits.items():
        section = login.authenticator.__name__ if name in own else login.section
        setattr(getattr(c, section), name, value)
    # The config runs before JupyterHub sets up logging; stderr reaches `docker logs`.
    where = login.module.where(traits)
    print(f"hubdist: {login.prefix} LOGIN MODE - users log in through {where}", file=sys.stderr)
    return login
