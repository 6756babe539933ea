"""GitHub login configured from the environment, for a hub that has a GitHub OAuth app.

The default configuration reads these (hubdist.auth.environment) before the overrides in
config.d run. Without GitHub credentials they change nothing, and the hub stays in local trial mode
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
log in refuses to start (hubdist.auth.oauth). See docs/github.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from oauthenticator.github import GitHubOAuthenticator

from . import oauth

#: what the default configuration sets ``c.JupyterHub.authenticator_class`` to
AUTHENTICATOR = "hubdist.auth.github.GitHubAuthenticator"
#: lets the membership checks see private memberships, not only public ones
ORG_SCOPE = "read:org"

_ORG_ENTRY = re.compile(r"[\w.-]+(:[\w.-]+)?")

NOBODY_ALLOWED = (
    "GitHub login is configured (a client ID and secret are set) but no rule says who may "
    "log in, so nobody could. Set GITHUB_ALLOWED_ORGANIZATIONS (org or org:team-slug), "
    "GITHUB_ALLOWED_USERS or HUBDIST_ADMIN_USERS, or allow everyone with a GitHub account "
    "explicitly in config.d: c.GitHubOAuthenticator.allow_all = True (see docs/github.md)"
)

#: the name this module's errors had before the other logins came
GitHubConfigError = oauth.LoginConfigError


def settings(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """GitHubOAuthenticator trait values from ``environ``; None without credentials."""
    traits: dict[str, Any] | None = oauth.credentials(environ, "GITHUB", "GitHub")
    if traits is None:
        return None
    orgs = oauth.entries(environ, "GITHUB_ALLOWED_ORGANIZATIONS")
    malformed = sorted(entry for entry in orgs if not _ORG_ENTRY.fullmatch(entry))
    if malformed:
        raise GitHubConfigError(
            f"GITHUB_ALLOWED_ORGANIZATIONS: {', '.join(malformed)}: each entry is an "
            "organization (my-org) or an organization's team by its slug (my-org:my-team)"
        )
    if orgs:
        traits["allowed_organizations"] = orgs
        traits["scope"] = [ORG_SCOPE]
    users = oauth.usernames(environ, "GITHUB_ALLOWED_USERS")
    if users:
        traits["allowed_users"] = users
    traits.update(oauth.callback(environ))
    url = oauth.url(environ, "GITHUB_URL")
    if url:  # set here, as OAuthenticator keeps a trailing slash from the variable
        traits["github_url"] = url
    return traits


def where(traits: Mapping[str, Any]) -> str:
    """The provider, for the line that says which login mode the hub is in."""
    return traits.get("github_url", "https://github.com")


class GitHubAuthenticator(oauth.RefusesNobodyAllowed, GitHubOAuthenticator):
    """GitHubOAuthenticator that will not start with nobody allowed, and logs who is."""

    login = "GitHub"
    nobody_allowed = NOBODY_ALLOWED

    def where(self) -> str:
        return self.github_url

    def allow_rules(self) -> dict[str, Any]:
        return {"organizations/teams": self.allowed_organizations, **super().allow_rules()}
