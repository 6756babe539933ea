"""The configuration shipped in the hub image: defaults, environment, overrides, trial mode.

Loaded the way JupyterHub loads it (a traitlets Python config file), without a hub: the
``load`` fixture of conftest.py.
"""

from __future__ import annotations

import stat

import pytest

from hubdist import trial


def test_defaults_run_users_servers_in_containers_that_keep_files_in_a_volume(load):
    c = load()

    assert c.JupyterHub.spawner_class == "hubdist.DockerSpawner"
    assert c.DockerSpawner.image == "hubdist/singleuser:latest"
    assert c.DockerSpawner.network_name == "hubdist"
    assert c.DockerSpawner.remove is True
    assert c.DockerSpawner.volumes == {"{prefix}-user-{username}": "/home/jovyan/work"}
    assert c.DockerSpawner.prefix == "hubdist"
    assert c.JupyterHub.cleanup_servers is False
    assert c.JupyterHub.hub_connect_ip == "hub"
    assert c.JupyterHub.db_url == f"sqlite:///{load.data}/jupyterhub.sqlite"
    assert c.JupyterHub.cookie_secret_file == f"{load.data}/jupyterhub_cookie_secret"
    assert not c.ConfigurableHTTPProxy.pid_file.startswith(str(load.data))


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
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.SharedPasswordAuthenticator.user_password == stored.read_text().strip()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert c.Authenticator.allow_all is True
    assert "admin_password" not in c.SharedPasswordAuthenticator
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
        "{prefix}-user-{username}": "/home/jovyan/work",
        "shared": "/data",
    }


def test_a_broken_override_names_its_file(load):
    with pytest.raises(NameError) as failure:
        load(**{"50-broken.py": "c.Spawner.cmd = undefined_name\n"})

    assert "50-broken.py" in str(failure.traceback[-1].path)
