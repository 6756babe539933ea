"""GitHub login configured from the environment, for a hub that has a GitHub OAuth app.

The default configuration calls :func:`configure` before the overrides in config.d run.
Without GitHub credentials it changes nothing, and the hub stays in local trial mode
(hubdist.auth.trial). With them, users log in through GitHub, and the environment says who may:

  GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET   the OAuth app's; or GITHUB_CLIENT_ID_FILE,
                                           GITHUB_CLIENT_SECRET_FILE naming files (Docker
                                           secrets)
  OAUTH_CALLBACK_URL                       https://HOST/hub/oauth_callback, as registered
                                           (default with HTTPS: HUBDIST_DOMAIN's)
  GITHUB_ALLOWED_ORGANIZATIONS             entries ``org`` or ``org:team-slug``
  GITHUB_ALLOWED_USERS                     GitHub logins
  HUBDIST_ADMIN_USERS                      admins (the default configuration reads it)
  GITHUB_URL                               a GitHub Enterprise Server, https://HOST

Lists are separated by commas or spaces. The settings go to ``c.GitHubOAuthenticator``, so
an override can still change any of them. A hub with credentials but no rule saying who may
log in refuses to start: OAuthenticator would start, only warn, and let nobody in, which
looks like a broken login rather than a missing setting. See docs/github.md.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from oauthenticator.github import GitHubOAuthenticator

from ..services import secrets
from ..tls.settings import public_origin

#: what the default configuration sets ``c.JupyterHub.authenticator_class`` to
AUTHENTICATOR = "hubdist.auth.github.GitHubAuthenticator"
#: lets the membership checks see private memberships, not only public ones
ORG_SCOPE = "read:org"

_SEPARATORS = re.compile(r"[\s,]+")
_ORG_ENTRY = re.compile(r"[\w.-]+(:[\w.-]+)?")

NOBODY_ALLOWED = (
    "GitHub login is configured (a client ID and secret are set) but no rule says who may "
    "log in, so nobody could. Set GITHUB_ALLOWED_ORGANIZATIONS (org or org:team-slug), "
    "GITHUB_ALLOWED_USERS or HUBDIST_ADMIN_USERS, or allow everyone with a GitHub account "
    "explicitly in config.d: c.GitHubOAuthenticator.allow_all = True (see docs/github.md)"
)


class GitHubConfigError(Exception):
    """Settings the hub must not start with; the message says what to change."""


def settings(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """GitHubOAuthenticator trait values from ``environ``; None without credentials."""
    client_id = _read(environ, "GITHUB_CLIENT_ID", private=False)
    client_secret = _read(environ, "GITHUB_CLIENT_SECRET", private=True)
    if not (client_id or client_secret):
        return None
    if not (client_id and client_secret):
        given, missing = ("ID", "SECRET") if client_id else ("SECRET", "ID")
        raise GitHubConfigError(
            f"GITHUB_CLIENT_{given} is set but GITHUB_CLIENT_{missing} is not: set both "
            "(or their *_FILE variants) for GitHub login, or neither for local trial mode"
        )
    traits: dict[str, Any] = {"client_id": client_id, "client_secret": client_secret}
    orgs = _entries(environ, "GITHUB_ALLOWED_ORGANIZATIONS")
    malformed = sorted(entry for entry in orgs if not _ORG_ENTRY.fullmatch(entry))
    if malformed:
        raise GitHubConfigError(
            f"GITHUB_ALLOWED_ORGANIZATIONS: {', '.join(malformed)}: each entry is an "
            "organization (my-org) or an organization's team by its slug (my-org:my-team)"
        )
    if orgs:
        traits["allowed_organizations"] = orgs
        traits["scope"] = [ORG_SCOPE]
    users = {user.lower() for user in _entries(environ, "GITHUB_ALLOWED_USERS")}
    if users:
        traits["allowed_users"] = users  # JupyterHub lowercases logins
    callback = environ.get("OAUTH_CALLBACK_URL", "").strip()
    if not callback and public_origin(environ):
        callback = f"{public_origin(environ)}/hub/oauth_callback"
    if callback:
        traits["oauth_callback_url"] = callback
    url = environ.get("GITHUB_URL", "").strip()
    if url:
        # set here, as OAuthenticator keeps a trailing slash from the variable
        traits["github_url"] = (url if "://" in url else f"https://{url}").rstrip("/")
    return traits


def configure(c: Any, environ: Mapping[str, str] = os.environ) -> bool:
    """Switch the JupyterHub config ``c`` to GitHub login if ``environ`` has credentials."""
    traits = settings(environ)
    if traits is None:
        return False
    c.JupyterHub.authenticator_class = AUTHENTICATOR
    for name, value in traits.items():
        setattr(c.GitHubOAuthenticator, name, value)
    where = traits.get("github_url", "https://github.com")
    # The config runs before JupyterHub sets up logging; stderr reaches `docker logs`.
    print(f"hubdist: GITHUB LOGIN MODE - users log in through {where}", file=sys.stderr)
    return True


class GitHubAuthenticator(GitHubOAuthenticator):
    """GitHubOAuthenticator that will not start with nobody allowed, and logs who is.

    The check runs when the hub starts, after every override, so a rule set in config.d
    (``allowed_users``, ``allow_all``, ...) counts as much as one from the environment.
    """

    def check_allow_config(self) -> None:
        # any_allow_config: any truthy allow* setting; admins may always log in as well
        if not (self.any_allow_config or self.admin_users):
            self.log.error("hubdist: %s", NOBODY_ALLOWED)
            raise GitHubConfigError(NOBODY_ALLOWED)
        # not calling the base class: it only warns about what was just refused
        self.log.info("hubdist: GitHub login at %s; %s", self.github_url, self.describe_allowed())

    def describe_allowed(self) -> str:
        if self.allow_all:
            return "every GitHub user may log in (allow_all)"
        rules = {
            "organizations/teams": self.allowed_organizations,
            "users": self.allowed_users,
            "admins": self.admin_users,
        }
        said = [f"{kind} {', '.join(sorted(names))}" for kind, names in rules.items() if names]
        return "allowed: " + ("; ".join(said) or "by other allow settings in config.d")


def _read(environ: Mapping[str, str], variable: str, private: bool) -> str:
    """The value of ``variable``, or of the file ``<variable>_FILE`` names; "" if neither."""
    try:
        given = secrets.from_environment(environ, variable, private)
    except secrets.SecretError as exc:
        raise GitHubConfigError(str(exc)) from None
    return given[0] if given else ""


def _entries(environ: Mapping[str, str], variable: str) -> set[str]:
    return {entry for entry in _SEPARATORS.split(environ.get(variable, "")) if entry}
