"""GitLab login configured from the environment, on gitlab.com or a self-hosted GitLab.

  GITLAB_CLIENT_ID, GITLAB_CLIENT_SECRET   the application's; or their *_FILE variants
  OAUTH_CALLBACK_URL                       https://HOST/hub/oauth_callback, as registered
  GITLAB_URL                               a self-hosted GitLab, https://HOST (gitlab.com)
  GITLAB_ALLOWED_GROUPS                    groups by full path (my-group/sub-group) whose
                                           members may log in
  GITLAB_ALLOWED_PROJECTS                  project IDs whose Developers (and above) may
  GITLAB_ALLOWED_USERS                     GitLab user names that may

Membership is asked of GitLab's API at each login, which needs the ``read_api`` scope; it is
requested only then (``read_user`` otherwise). Subgroups work (oauthenticator 17.4 alone
escapes their paths twice and never finds them). The settings go to ``c.GitLabOAuthenticator``.
See docs/authentication.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from oauthenticator.gitlab import GitLabOAuthenticator, _api_headers

from . import oauth

AUTHENTICATOR = "hubdist.auth.gitlab.GitLabAuthenticator"
DEFAULT_URL = "https://gitlab.com"

NOBODY_ALLOWED = (
    "GitLab login is configured (a client ID and secret are set) but no rule says who may "
    "log in, so nobody could. Set GITLAB_ALLOWED_GROUPS (full paths, e.g. my-group/sub-group), "
    "GITLAB_ALLOWED_PROJECTS (project IDs), GITLAB_ALLOWED_USERS or HUBDIST_ADMIN_USERS, or "
    "allow every GitLab user explicitly in config.d: c.GitLabOAuthenticator.allow_all = True "
    "(see docs/authentication.md)"
)


def settings(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """GitLabOAuthenticator trait values from ``environ``; None without credentials."""
    traits: dict[str, Any] | None = oauth.credentials(environ, "GITLAB", "GitLab")
    if traits is None:
        return None
    traits["gitlab_url"] = oauth.url(environ, "GITLAB_URL") or DEFAULT_URL
    groups = oauth.entries(environ, "GITLAB_ALLOWED_GROUPS")
    projects = oauth.entries(environ, "GITLAB_ALLOWED_PROJECTS")
    not_ids = sorted(project for project in projects if not project.isdigit())
    if not_ids:
        raise oauth.LoginConfigError(
            f"GITLAB_ALLOWED_PROJECTS: {', '.join(not_ids)}: give projects by their ID, the "
            "number on the project's page (Settings > General), not by name"
        )
    if groups:
        traits["allowed_gitlab_groups"] = groups
    if projects:
        traits["allowed_project_ids"] = {int(project) for project in projects}
    traits["scope"] = ["read_user", "read_api"] if groups or projects else ["read_user"]
    users = oauth.usernames(environ, "GITLAB_ALLOWED_USERS")
    if users:
        traits["allowed_users"] = users
    traits.update(oauth.callback(environ))
    return traits


def where(traits: Mapping[str, Any]) -> str:
    return traits["gitlab_url"]


class GitLabAuthenticator(oauth.RefusesNobodyAllowed, GitLabOAuthenticator):
    """GitLabOAuthenticator that will not start with nobody allowed, and logs who is."""

    login = "GitLab"
    nobody_allowed = NOBODY_ALLOWED

    def where(self) -> str:
        return self.gitlab_url

    def allow_rules(self) -> dict[str, Any]:
        return {
            "groups": self.allowed_gitlab_groups,
            "projects": self.allowed_project_ids,
            **super().allow_rules(),
        }

    async def _check_membership_allowed_groups(self, user_id: int, access_token: str) -> bool:
        # oauthenticator 17.4 escapes a group's path twice, so a subgroup (my-group/sub) is
        # never found (jupyterhub/oauthenticator#423); GitLab's API wants it escaped once
        await self._set_gitlab_version(access_token)
        for group in sorted(self.allowed_gitlab_groups):
            path = f"groups/{quote(group, safe='')}/members/{self.member_api_variant}{int(user_id)}"
            answer = await self.httpfetch(
                f"{self.gitlab_api}/{path}",
                parse_json=False,
                raise_error=False,
                method="GET",
                headers=_api_headers(access_token),
                validate_cert=self.validate_server_cert,
            )
            if answer.code == 200:
                return True
        return False
