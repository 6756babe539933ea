"""What the OAuth logins configured from the environment share (GitHub, OpenID Connect, GitLab).

Each login module (hubdist.auth.github, .oidc, .gitlab) reads its own variables, PREFIX_*:
the app's client ID and secret (or PREFIX_CLIENT_ID_FILE, PREFIX_CLIENT_SECRET_FILE naming
files, for Docker secrets), who may log in, and where the provider is. OAUTH_CALLBACK_URL
and HUBDIST_ADMIN_USERS are common to all. hubdist.auth.environment picks the one login the
environment configures.

The authenticators derive from oauthenticator's, with :class:`RefusesNobodyAllowed` mixed
in: OAuthenticator starts with no rule saying who may log in, only warns, and lets nobody
in, which looks like a broken login rather than a missing setting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from ..services import secrets
from ..tls.settings import public_origin

_SEPARATORS = re.compile(r"[\s,]+")


class LoginConfigError(Exception):
    """Login settings the hub must not start with; the message says what to change."""


class LoginRefused(SystemExit):
    """The same, found when the hub starts: it stops with the message and no traceback
    (JupyterHub logs any other exception from its start as one, burying the message)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"hubdist: the hub will not start: {message}")


def given(environ: Mapping[str, str], prefix: str) -> list[str]:
    """The variables of ``prefix``'s client ID and secret that are set, to tell whether
    (and by what) that login is configured without reading any file."""
    names = (f"{prefix}_CLIENT_{part}{file}" for part in ("ID", "SECRET") for file in ("", "_FILE"))
    return [name for name in names if environ.get(name, "").strip()]


def credentials(environ: Mapping[str, str], prefix: str, login: str) -> dict[str, str] | None:
    """``client_id`` and ``client_secret`` from PREFIX_CLIENT_ID/_SECRET (or their files);
    None if neither is set; both must be."""
    client_id = read(environ, f"{prefix}_CLIENT_ID", private=False)
    client_secret = read(environ, f"{prefix}_CLIENT_SECRET", private=True)
    if not (client_id or client_secret):
        return None
    if not (client_id and client_secret):
        have, missing = ("ID", "SECRET") if client_id else ("SECRET", "ID")
        raise LoginConfigError(
            f"{prefix}_CLIENT_{have} is set but {prefix}_CLIENT_{missing} is not: set both "
            f"(or their *_FILE variants) for {login} login, or neither for local trial mode"
        )
    return {"client_id": client_id, "client_secret": client_secret}


def callback(environ: Mapping[str, str]) -> dict[str, str]:
    """``oauth_callback_url`` from OAUTH_CALLBACK_URL, if set (the same for every login);
    with HTTPS (HUBDIST_DOMAIN) it defaults to the hub's public https:// address."""
    url = environ.get("OAUTH_CALLBACK_URL", "").strip()
    if not url and public_origin(environ):
        url = f"{public_origin(environ)}/hub/oauth_callback"
    return {"oauth_callback_url": url} if url else {}


def read(environ: Mapping[str, str], variable: str, private: bool) -> str:
    """The value of ``variable``, or of the file ``<variable>_FILE`` names; "" if neither."""
    try:
        found = secrets.from_environment(environ, variable, private)
    except secrets.SecretError as exc:
        raise LoginConfigError(str(exc)) from None
    return found[0] if found else ""


def split(text: str) -> list[str]:
    """The entries of a list separated by commas or spaces, in order, each once."""
    return list(dict.fromkeys(entry for entry in _SEPARATORS.split(text) if entry))


def entries(environ: Mapping[str, str], variable: str) -> set[str]:
    """The entries of a list variable."""
    return set(split(environ.get(variable, "")))


def usernames(environ: Mapping[str, str], variable: str) -> set[str]:
    """User names from a list variable, lowercased as JupyterHub stores them."""
    return {name.lower() for name in entries(environ, variable)}


def url(environ: Mapping[str, str], variable: str) -> str:
    """An address without a trailing slash (https:// if no scheme is given); "" if unset."""
    value = environ.get(variable, "").strip()
    if not value:
        return ""
    return (value if "://" in value else f"https://{value}").rstrip("/")


class RefusesNobodyAllowed:
    """For an OAuthenticator subclass: refuse to start when nobody may log in, and log who may.

    The check runs when the hub starts, after every override, so a rule set in config.d
    (``allowed_users``, ``allow_all``, ...) counts as much as one from the environment.
    """

    #: the login's name in the log ("GitHub")
    login: ClassVar[str]
    #: why the hub refuses to start with nobody allowed, and what to set
    nobody_allowed: ClassVar[str]

    def check_allow_config(self) -> None:
        # any_allow_config: any truthy allow* setting; admins (and admin groups) may log in too
        if not (self.any_allow_config or any(self.allow_rules().values())):
            raise LoginRefused(self.nobody_allowed)
        self.check_provider()
        # not calling the base class: it only warns about what was just refused
        self.log.info(
            "hubdist: %s login at %s; %s", self.login, self.where(), self.describe_allowed()
        )

    def check_provider(self) -> None:
        """What else the login must settle before the hub starts (default: nothing)."""

    def where(self) -> str:
        """The provider's address, for the log."""
        raise NotImplementedError

    def allow_rules(self) -> dict[str, Any]:
        """Who may log in, by kind of rule, as the log lists them."""
        return {"users": self.allowed_users, "admins": self.admin_users}

    def describe_allowed(self) -> str:
        if self.allow_all:
            return f"every {self.login} user may log in (allow_all)"
        rules = self.allow_rules().items()
        said = [f"{kind} {', '.join(sorted(map(str, names)))}" for kind, names in rules if names]
        return "allowed: " + ("; ".join(said) or "by other allow settings in config.d")
