"""Local trial mode: what a hub does when nobody has configured how users log in.

A fresh ``docker compose up`` must give a hub one can try at once, yet never one that is
silently open. So, until an authenticator is configured, the hub uses JupyterHub's
SharedPasswordAuthenticator with a random password generated on first start, kept in the
data directory (mode 0600, so it survives restarts and upgrades) and shown once in the log.

SharedPasswordAuthenticator rather than DummyAuthenticator: its ``password`` setting is
deprecated since JupyterHub 5.3, it compares in constant time, and admins get a password
of their own, so knowing the trial password does not make anyone an admin. hubdist's
TrialAuthenticator extends that second password to every user whose roles (their own or
their groups') grant more than the standard user role: with the trial password anyone can
log in under any name, so such a name must not open with it. The login page says that the
hub is in trial mode.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from hmac import compare_digest
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

from jupyterhub import orm, roles, scopes
from jupyterhub.auth import Authenticator
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator

from ..services import secrets

USER_PASSWORD_FILE = "trial-password"
ADMIN_PASSWORD_FILE = "trial-admin-password"
# SharedPasswordAuthenticator's minimums are 8 (users) and 32 (admins) characters.
USER_PASSWORD_BYTES = 18  # 24 characters
ADMIN_PASSWORD_BYTES = 32  # 43 characters
ADMIN_PASSWORD_MIN_LENGTH = 32
USER_PASSWORD_MIN_LENGTH = 8

LOGIN_NOTICE = (
    "<strong>Local trial mode.</strong> This hub has no real login configured: anyone "
    "with the shared trial password can log in under any name. Do not keep anything "
    "private here."
)


class TrialError(Exception):
    """A password file the hub cannot use; the message says how to fix it."""


class TrialRefused(SystemExit):
    """A configuration that must never run in trial mode: the hub stops, saying why."""


def _spawner_class(c: Any) -> type | None:
    """The spawner class ``c`` selects (entry point name, import string or class)."""
    from ..config import catalog

    value = c.JupyterHub.get("spawner_class")
    trait = catalog.option("JupyterHub.spawner_class")
    if value is None or trait is None:
        return None
    try:
        cls = catalog.validate(trait, value, "JupyterHub")
    except Exception:  # layers.check reports a class that does not load
        return None
    return cls if isinstance(cls, type) else None


def refuse_system_users(c: Any) -> None:
    """SystemUserSpawner runs each login as the host account of that name: with a shared
    password anyone could be any host user, so trial mode refuses to start with it."""
    cls = _spawner_class(c)
    if cls is None or not any(k.__name__ == "SystemUserSpawner" for k in cls.__mro__):
        return
    raise TrialRefused(
        f"hubdist: the hub will not start: {cls.__name__} runs each user's server as the "
        "host account of the same name, and in local trial mode (no authenticator "
        "configured) anyone with the shared trial password can log in with any name, so "
        "anyone could act as any account on this host. Configure an authenticator "
        "(config.d/README.md, e.g. GitHub login through GITHUB_CLIENT_ID), or use "
        "HUBDIST_SPAWNER=docker."
    )


@dataclass
class Secret:
    path: Path
    value: str
    created: bool


def load_or_create(path: Path, nbytes: int, min_length: int) -> Secret:
    """The password stored at ``path``, made (readable by the owner only) if missing, as the
    hub's own secrets are (hubdist.services.secrets).

    An operator may write a password of their choosing into the file instead.
    """
    try:
        value, created = secrets.load_or_create(path, lambda: token_urlsafe(nbytes))
    except secrets.SecretError as exc:
        raise TrialError(str(exc)) from None
    if len(value) < min_length:
        raise TrialError(
            f"{path} holds a password shorter than {min_length} characters; "
            "write a longer one into it, or delete it to get a new random one"
        )
    return Secret(path, value, created)


def _unread(path: Path, nbytes: int, min_length: int) -> Secret:
    """A stand-in for the password at ``path``, in a dry run: nothing made, nothing read."""
    return Secret(path, "(kept in the file)", created=False)


def beyond_own_servers(db: Any, username: str) -> bool:
    """Whether the user's roles (with their groups') grant scopes beyond the standard user
    role's: any admin-like power, another user's servers, listing users, ..."""
    user = orm.User.find(db, username)
    if user is None:
        return False
    held = roles.get_roles_for(user)
    granted = roles.roles_to_expanded_scopes([r for r in held if r.name != "user"], owner=user)
    # what every user has: their own things, and whatever the "user" role grants to all
    standard = scopes.expand_scopes({"self"}, owner=user)
    everyone = orm.Role.find(db, "user")
    if everyone is not None:
        standard |= roles.roles_to_expanded_scopes([everyone], owner=user)
    return bool(set(granted) - set(standard))


class TrialAuthenticator(SharedPasswordAuthenticator):
    """SharedPasswordAuthenticator that also asks the admin password of every user whose
    roles grant more than their own servers (roles from load_roles, groups or the API)."""

    async def authenticate(self, handler: Any, data: dict) -> dict | None:
        username = self.normalize_username(data["username"])
        db = getattr(handler, "db", None)
        if username in self.admin_users or db is None or not beyond_own_servers(db, username):
            return await super().authenticate(handler, data)
        if self.admin_password and compare_digest(data["password"], self.admin_password):
            return {"name": username}  # keeps whatever admin flag and roles they have
        self.log.warning(
            "Trial mode: %s has roles beyond their own servers and must log in with the "
            "trial admin password",
            username,
        )
        return None

    def check_allow_config(self) -> None:
        # SharedPasswordAuthenticator warns about an admin password without admin_users;
        # here it also guards users with roles, so it is always set
        Authenticator.check_allow_config(self)


def configure(c: Any, data_dir: str | Path, dry_run: bool = False) -> None:
    """Switch the JupyterHub config ``c`` to local trial mode and tell the operator.

    Any username may log in with the trial password (``allow_all``); the users in
    ``Authenticator.admin_users`` log in with a separate admin password instead. A
    ``dry_run`` (``hubdist config show``) neither makes nor reads the password files.
    """
    refuse_system_users(c)
    data_dir = Path(data_dir)
    password = _unread if dry_run else load_or_create
    user = password(data_dir / USER_PASSWORD_FILE, USER_PASSWORD_BYTES, USER_PASSWORD_MIN_LENGTH)
    admins = sorted(c.Authenticator.get("admin_users", set()))
    # always made: users given roles later (through the API) need it too
    admin = password(
        data_dir / ADMIN_PASSWORD_FILE, ADMIN_PASSWORD_BYTES, ADMIN_PASSWORD_MIN_LENGTH
    )
    c.SharedPasswordAuthenticator.admin_password = admin.value
    c.JupyterHub.authenticator_class = "hubdist.auth.trial.TrialAuthenticator"
    c.SharedPasswordAuthenticator.user_password = user.value
    c.Authenticator.allow_all = True
    _label_login_page(c)
    _announce(user, admin, admins)


def _label_login_page(c: Any) -> None:
    """Say on the login page that this is trial mode, above any announcement of the admin's."""
    template_vars = dict(c.JupyterHub.get("template_vars") or {})
    theirs = template_vars.get("announcement_login")
    notice = LOGIN_NOTICE + (f"<br>{theirs}" if isinstance(theirs, str) and theirs else "")
    template_vars["announcement_login"] = notice
    c.JupyterHub.template_vars = template_vars


def _announce(user: Secret, admin: Secret | None, admins: list[str]) -> None:
    """Show a new password once, prominently; otherwise only say where the passwords are."""
    files = " and ".join(str(s.path) for s in (user, admin) if s)
    if not (user.created or (admin and admin.created)):
        _print(
            "hubdist: LOCAL TRIAL MODE (no authenticator configured); the passwords are in "
            f"{files} (e.g. docker compose exec hub cat {user.path})"
        )
        return
    rule = "=" * 72
    lines = [rule, "hubdist: LOCAL TRIAL MODE - no authenticator is configured.", ""]
    if user.created:
        lines += [
            "Log in with ANY username and this password:",
            "",
            f"    trial password: {user.value}",
            "",
        ]
    if admin and admin.created:
        who = f"Admins ({', '.join(admins)}) and users" if admins else "Users"
        lines += [
            f"{who} given roles beyond their own servers log in with this password instead:",
            "",
            f"    trial admin password: {admin.value}",
            "",
        ]
    lines += [
        f"Shown only this once; kept in {files}.",
        "Anyone with the trial password can use this hub as any user without extra roles.",
        "For real use, configure an authenticator (see config.d/README.md).",
        rule,
    ]
    _print("\n".join(lines))


def _print(text: str) -> None:
    # The config file runs before JupyterHub sets up logging; stderr reaches `docker logs`.
    print(text, file=sys.stderr, flush=True)
