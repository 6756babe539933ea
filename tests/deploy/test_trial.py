"""Trial mode: passwords made once, private to the owner, replaceable by the operator; the
second password guards every user with roles, on a real hub."""

from __future__ import annotations

import stat

import pytest
import requests

from hubdist.auth import trial


def test_a_new_password_is_random_long_enough_and_private(tmp_path):
    path = tmp_path / "pw"

    made = trial.load_or_create(path, 18, 8)
    other = trial.load_or_create(tmp_path / "other", 18, 8)

    assert made.created and len(made.value) >= 24
    assert made.value != other.value
    assert path.read_text() == made.value + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_password_is_kept_even_one_the_operator_wrote(tmp_path):
    path = tmp_path / "pw"
    path.write_text("  my own choice  \n")
    path.chmod(0o644)
    with pytest.raises(trial.TrialError, match="readable by every user.*chmod 600"):
        trial.load_or_create(path, 18, 8)  # as for the hub's own secrets
    path.chmod(0o600)

    kept = trial.load_or_create(path, 18, 8)

    assert (kept.value, kept.created) == ("my own choice", False)


def test_a_too_short_password_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "pw"
    path.write_text("short\n")
    path.chmod(0o600)

    with pytest.raises(trial.TrialError, match="shorter than 8 characters.*delete it"):
        trial.load_or_create(path, 18, 8)


# the hub rig's config, switched to trial mode as the shipped config does when no
# authenticator is set; "ops" holds a role of their own, "eve" one through a group
TRIAL_WITH_ROLES = """
from hubdist.auth import trial
c.JupyterHub.load_groups = {"auditors": {"users": ["eve"]}}
c.JupyterHub.load_roles.append({"name": "user-admin", "scopes": ["admin:users"], "users": ["ops"]})
c.JupyterHub.load_roles.append(
    {"name": "auditor", "scopes": ["list:users", "read:users"], "groups": ["auditors"]}
)
trial.configure(c, ".")
"""


def login(hub, username: str, password: str) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    page = session.get(f"{hub.url}/hub/login", timeout=30)
    assert page.status_code == 200
    data = {"username": username, "password": password, "_xsrf": session.cookies["_xsrf"]}
    r = session.post(f"{hub.url}/hub/login", data=data, allow_redirects=False, timeout=30)
    return session, r


def test_users_with_roles_need_the_admin_password_and_the_login_page_says_trial(make_hub):
    """Attack: "ops" holds a role with admin:users, "eve" list:users through her group.
    Before the fix anyone with the shared trial password could log in as either (302, and
    the session listed every user); only names in admin_users needed the second password."""
    hub = make_hub(TRIAL_WITH_ROLES, name="trial")
    user_password = (hub.workdir / trial.USER_PASSWORD_FILE).read_text().strip()

    for name in ("ops", "eve"):
        _, r = login(hub, name, user_password)
        assert r.status_code == 403, f"{name} logged in with the shared trial password"

    admin_password = (hub.workdir / trial.ADMIN_PASSWORD_FILE).read_text().strip()
    session, r = login(hub, "ops", admin_password)
    assert r.status_code == 302, r.text
    listed = session.get(
        f"{hub.url}/hub/api/users",
        headers={"X-XSRFToken": session.cookies["_xsrf"]},
        timeout=30,
    )
    assert listed.status_code == 200, "the role still works with the admin password"
    assert not any(u["name"] == "ops" and u["admin"] for u in listed.json())

    _, r = login(hub, "anyone-else", user_password)
    assert r.status_code == 302, "a user without roles logs in with the trial password"
    page = requests.get(f"{hub.url}/hub/login", timeout=30).text
    assert "Local trial mode." in page and "anyone with the shared trial password" in page
