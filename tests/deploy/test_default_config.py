"""The configuration shipped in the hub image: defaults, environment, overrides, trial mode.

Loaded the way JupyterHub loads it (a traitlets Python config file), without a hub: the
``load`` fixture of conftest.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from hubdist.auth import trial

from ..hubrig import free_port
from .conftest import CONFIG_DIR


def test_defaults_run_users_servers_in_containers_that_keep_files_in_a_volume(load):
    c = load()

    assert c.JupyterHub.spawner_class == "hubdist.DockerSpawner"
    assert c.DockerSpawner.image == "hubdist/singleuser:latest"
    assert c.DockerSpawner.network_name == "hubdist"
    assert c.DockerSpawner.remove is True
    # the default server keeps its volume's name; named servers get one each
    volumes = {"{prefix}-user-{username}{servername_suffix}": "/home/jovyan/work"}
    assert c.DockerSpawner.volumes == volumes
    assert c.DockerSpawner.prefix == "hubdist"
    assert c.JupyterHub.cleanup_servers is False
    assert c.JupyterHub.hub_connect_ip == "hub"
    assert c.JupyterHub.db_url == f"sqlite:///{load.data}/jupyterhub.sqlite"
    assert c.JupyterHub.cookie_secret_file == f"{load.data}/jupyterhub_cookie_secret"
    assert not c.ConfigurableHTTPProxy.pid_file.startswith(str(load.data))


def test_named_servers_are_on_with_a_small_limit_that_the_environment_sets(load, monkeypatch):
    c = load()
    assert c.JupyterHub.allow_named_servers is True
    assert c.JupyterHub.named_server_limit_per_user == 3

    monkeypatch.setenv("HUBDIST_NAMED_SERVERS", "1")
    assert load().JupyterHub.named_server_limit_per_user == 1
    monkeypatch.setenv("HUBDIST_NAMED_SERVERS", "0")  # off (JupyterHub's 0 means no limit)
    c = load()
    assert c.JupyterHub.allow_named_servers is False
    assert "named_server_limit_per_user" not in c.JupyterHub


def test_environment_chooses_image_network_prefix_and_admins(load, monkeypatch):
    monkeypatch.setenv("HUBDIST_SINGLEUSER_IMAGE", "example.org/lab:1")
    monkeypatch.setenv("HUBDIST_NETWORK", "net1")
    monkeypatch.setenv("HUBDIST_PREFIX", "p1")
    monkeypatch.setenv("HUBDIST_ADMIN_USERS", " Alice, bob  carol,")

    c = load()

    assert c.DockerSpawner.image == "example.org/lab:1"
    assert c.DockerSpawner.network_name == "net1"
    assert c.DockerSpawner.prefix == "p1"
    assert c.Authenticator.admin_users == {"alice", "bob", "carol"}


def test_without_an_authenticator_the_hub_is_in_trial_mode_with_a_stored_password(load, capsys):
    c = load()

    stored = load.data / trial.USER_PASSWORD_FILE
    assert c.JupyterHub.authenticator_class == "hubdist.auth.trial.TrialAuthenticator"
    assert c.SharedPasswordAuthenticator.user_password == stored.read_text().strip()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert c.Authenticator.allow_all is True
    # made even without admins: users given roles through the API log in with it
    admin_file = load.data / trial.ADMIN_PASSWORD_FILE
    assert c.SharedPasswordAuthenticator.admin_password == admin_file.read_text().strip()
    assert "trial mode" in c.JupyterHub.template_vars["announcement_login"].lower()
    assert (
        f"trial password: {c.SharedPasswordAuthenticator.user_password}" in capsys.readouterr().err
    )


def test_the_password_survives_restarts_and_is_shown_only_once(load, capsys):
    first = load().SharedPasswordAuthenticator.user_password
    capsys.readouterr()

    again = load().SharedPasswordAuthenticator.user_password

    assert again == first
    err = capsys.readouterr().err
    assert first not in err and "LOCAL TRIAL MODE" in err


def test_admins_get_their_own_long_password(load, monkeypatch, capsys):
    monkeypatch.setenv("HUBDIST_ADMIN_USERS", "boss")

    c = load()

    admin_password = c.SharedPasswordAuthenticator.admin_password
    assert len(admin_password) >= 32
    assert admin_password != c.SharedPasswordAuthenticator.user_password
    assert (load.data / trial.ADMIN_PASSWORD_FILE).read_text().strip() == admin_password
    assert f"trial admin password: {admin_password}" in capsys.readouterr().err


def test_a_chosen_authenticator_turns_trial_mode_off(load, capsys):
    c = load(**{"50-auth.py": 'c.JupyterHub.authenticator_class = "github"\n'})

    assert c.JupyterHub.authenticator_class == "github"
    assert "SharedPasswordAuthenticator" not in c
    assert not (load.data / trial.USER_PASSWORD_FILE).exists()
    assert "TRIAL" not in capsys.readouterr().err


def test_overrides_run_in_name_order_on_the_same_config_and_only_python_files(load):
    c = load(
        **{
            "20-b.py": 'c.DockerSpawner.volumes["shared"] = "/data"\nc.Spawner.cmd = ["b"]\n',
            "10-a.py": 'c.Spawner.cmd = ["a"]\nc.DockerSpawner.image = "mine:1"\n',
            "30-notes.txt": "not python (",
        }
    )

    assert c.Spawner.cmd == ["b"]
    assert c.DockerSpawner.image == "mine:1"
    # the override extended the default instead of replacing it
    assert c.DockerSpawner.volumes == {
        "{prefix}-user-{username}{servername_suffix}": "/home/jovyan/work",
        "shared": "/data",
    }


def test_a_broken_override_names_its_file(load):
    with pytest.raises(NameError) as failure:
        load(**{"50-broken.py": "c.Spawner.cmd = undefined_name\n"})

    assert "50-broken.py" in str(failure.traceback[-1].path)


def test_trial_mode_refuses_system_user_spawner_before_making_a_password(load):
    """Attack: with HUBDIST_SPAWNER=system-user and no authenticator, anyone with the trial
    password could log in as any host account's name (root included) and get a server as
    that account. Before the fix the hub started so; now it refuses, saying why."""
    for setting in ({"HUBDIST_SPAWNER": "system-user"}, {}):
        overrides = (
            {} if setting else {"50-su.py": 'c.JupyterHub.spawner_class = "hubdist-system-user"\n'}
        )
        with pytest.MonkeyPatch.context() as env:
            for name, value in setting.items():
                env.setenv(name, value)
            with pytest.raises(trial.TrialRefused) as refused:
                load(**overrides)
        message = str(refused.value)
        assert "SystemUserSpawner" in message and "trial mode" in message
        assert "Configure an authenticator" in message
        assert not (load.data / trial.USER_PASSWORD_FILE).exists()


def test_the_real_hub_stops_when_trial_mode_meets_system_users(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBDIST_", "GITHUB_"))}
    env.update(
        HUBDIST_SPAWNER="system-user",
        HUBDIST_DATA_DIR=str(tmp_path / "data"),
        HUBDIST_OVERRIDE_DIR=str(tmp_path / "config.d"),
    )
    (tmp_path / "data").mkdir()
    ports = [f"--port={free_port()}", f"--JupyterHub.hub_port={free_port()}"]
    hub = subprocess.run(
        [sys.executable, "-m", "hubdist.services.hub",
         "-f", str(CONFIG_DIR / "jupyterhub_config.py"), *ports],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert hub.returncode == 1, hub.stdout + hub.stderr
    assert "hubdist: the hub will not start: SystemUserSpawner" in hub.stderr, hub.stderr
    assert "Traceback" not in hub.stderr + hub.stdout
    assert not (tmp_path / "data" / trial.USER_PASSWORD_FILE).exists()


def test_the_login_page_notice_keeps_the_admins_own_announcement(load):
    c = load(**{"50-news.py": 'c.JupyterHub.template_vars = {"announcement_login": "Hi!"}\n'})

    notice = c.JupyterHub.template_vars["announcement_login"]
    assert notice.startswith("<strong>Local trial mode.</strong>") and notice.endswith("Hi!")
