"""SystemUserSpawner with real host users, a real hub, proxy and engine."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from ..hubrig import exists, inspect, user_container

SYSTEM_USER = 'c.JupyterHub.spawner_class = "hubdist.SystemUserSpawner"\n'


@pytest.fixture
def host_user():
    """A real account on this machine (uid other than 1000), removed afterwards."""
    name = f"hdt{secrets.token_hex(3)}"
    uid = 23000 + secrets.randbelow(5000)
    subprocess.run(["useradd", "--create-home", "--uid", str(uid), "--user-group", name],
                   check=True)  # fmt: skip
    try:
        yield name, uid
    finally:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


def _check_runs_as(hub, name: str, uid: int) -> None:
    hub.spawn(name)
    container = user_container(name)
    top = subprocess.run(["docker", "top", container, "-o", "pid,uid,args"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    server = [  # the server process (tini, PID 1, stays root and mentions it in its args)
        line.split()[1]
        for line in top.splitlines()
        if "jupyterhub-singleuser" in line and "tini" not in line
    ]
    assert server and set(server) == {str(uid)}, top
    saved = hub.user_request(
        "PUT", name, "api/contents/from-server.txt",
        json={"type": "file", "format": "text", "content": "written in the container"},
    )  # fmt: skip
    assert saved.status_code in (200, 201), saved.text
    on_host = Path(f"/home/{name}/from-server.txt")
    assert on_host.read_text() == "written in the container"
    assert os.stat(on_host).st_uid == uid, "the file belongs to the host user"
    env = dict(e.split("=", 1) for e in inspect("container", container)["Config"]["Env"])
    assert env["NB_UID"] == str(uid) and env["HOME"] == f"/home/{name}"
    hub.stop_server(name)


def test_server_runs_as_the_host_user_in_their_home(make_hub, host_user):
    name, uid = host_user
    hub = make_hub(SYSTEM_USER)
    _check_runs_as(hub, name, uid)


def test_run_as_root_lets_the_image_become_the_user(make_hub, host_user):
    name, uid = host_user
    hub = make_hub(SYSTEM_USER + "c.SystemUserSpawner.run_as_root = True\n")
    _check_runs_as(hub, name, uid)


def test_user_without_a_host_account_gets_a_clear_error(make_hub):
    hub = make_hub(SYSTEM_USER)
    message = hub.spawn_failure("nosuchhostuser")
    assert "no account 'nosuchhostuser' on the host" in message, message
    assert "username_map" in message


def test_a_login_named_root_gets_no_server(make_hub):
    """Attack: log in as "root". Before min_uid, the spawn succeeded: a server running as
    uid 0 with CHOWN, DAC_OVERRIDE, FOWNER, SETUID and SETGID and, with an empty
    host_homedir_format_string, the host's /root mounted read-write: host root for anyone
    who can log in with that name (trial mode lets anyone). ``--allow-root`` stands for any
    image whose server does not refuse root itself."""
    hub = make_hub(
        SYSTEM_USER
        + 'c.SystemUserSpawner.host_homedir_format_string = ""\n'
        + "c.SystemUserSpawner.run_as_root = True\n"
        + 'c.Spawner.args = ["--allow-root"]\n'
    )
    message = hub.spawn_failure("root")
    assert "'root' has uid 0, below SystemUserSpawner.min_uid (1000)" in message, message
    assert not exists("container", user_container("root"))


def test_min_uid_is_configurable_and_names_the_refused_user(make_hub, host_user):
    name, uid = host_user
    hub = make_hub(SYSTEM_USER + f"c.SystemUserSpawner.min_uid = {uid + 1}\n")
    message = hub.spawn_failure(name)
    assert f"{name!r} has uid {uid}, below SystemUserSpawner.min_uid ({uid + 1})" in message
    assert not exists("container", user_container(name))
