"""GitLab login configured from the environment, on gitlab.com or a self-hosted GitLab.

  GITLAB_CLIENT_ID, GITLAB_CLIENT_SECRET   the application's; or their *_FILE variants
  OAUTH_CALLBACK_URL                       https://HOST/hub/oauth_callback, as registered
  GITLAB_URL                               a self-hosted GitLab, https://HOST (gitlab.com)
  GITLAB_ALLOWED_GROUPS                    groups by full path (my-group/sub-group) whose
                                           members may log in
  GITLAB_ALLOWED_PROJECTS                  project IDs whose Developers (and above) may
  GITLAB_ALLOWED_USERS                     GitLab user names that may
  GITLAB_MANAGE_GROUPS                     true: the hub's groups follow the user's GitLab
                                           groups (their full paths), at each login
  GITLAB_ADMIN_GROUPS                      groups whose members are admins (implies the above)

Membership is asked of GitLab's API at each login, which needs the ``read_api`` scope; it is
requested only then (``read_user`` otherwise). Subgroups work (oauthenticator 17.4 alone
escapes their paths twice and never finds them), and oauthenticator has no way to make
GitLab groups JupyterHub groups: :class:`GitLabAuthenticator` adds both. The settings go to
``c.GitLabOAuthenticator``. See docs/authentication.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from oauthenticator.gitlab import GitLabOAuthenticator, _api_headers

from . import oauth

AUTHENTICATOR = "hubdist.auth.gitlab.GitLabAuthenticator"
DEFAULT_URL = "https://gitlab.com"
#: GitLab's largest page; a user in more groups than this many pages hold keeps the first
GROUPS_PER_PAGE, MAX_GROUP_PAGES = 100, 20
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}

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
    admin_groups = oauth.entries(environ, "GITLAB_ADMIN_GROUPS")
    manage = _flag(environ, "GITLAB_MANAGE_GROUPS") or bool(admin_groups)
    if manage:
        traits["manage_groups"] = True
    if admin_groups:
        traits["admin_groups"] = admin_groups
    api = groups or projects or manage  # GitLab tells memberships with read_api only
    traits["scope"] = ["read_user", "read_api"] if api else ["read_user"]
    users = oauth.usernames(environ, "GITLAB_ALLOWED_USERS")
    if users:
        traits["allowed_users"] = users
    traits.update(oauth.callback(environ))
    return traits


def where(traits: Mapping[str, Any]) -> str:
    return traits["gitlab_url"]


def _flag(environ: Mapping[str, str], variable: str) -> bool:
    value = environ.get(variable, "").strip().lower()
    if value not in _TRUE | _FALSE:
        raise oauth.LoginConfigError(f"{variable}={value!r}: use true or false")
    return value in _TRUE


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
            "admin groups": self.admin_groups,
        }

    async def get_user_groups(self, auth_state: dict) -> set[str]:
        """The full paths of the user's GitLab groups, for ``manage_groups``; or, with
        ``auth_state_groups_key`` set, what oauthenticator reads there."""
        if self.auth_state_groups_key:
            return await super().get_user_groups(auth_state)
        headers = _api_headers(auth_state["access_token"])
        paths: set[str] = set()
        page = "1"
        for _ in range(MAX_GROUP_PAGES):
            query = f"min_access_level=10&per_page={GROUPS_PER_PAGE}&page={page}"
            answer = await self.httpfetch(
                f"{self.gitlab_api}/groups?{query}",
                "fetching the user's groups",
                parse_json=False,
                method="GET",
                headers=headers,
                validate_cert=self.validate_server_cert,
            )
            paths.update(group["full_path"] for group in json.loads(answer.body))
            page = answer.headers.get("X-Next-Page", "")
            if not page.isdigit():
                break
        return paths

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
