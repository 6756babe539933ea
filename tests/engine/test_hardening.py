"""Users' containers are locked down by default."""

from __future__ import annotations

import pytest

from ..hubrig import docker, exists, inspect, user_container


def test_containers_are_hardened_by_default(make_hub, username):
    hub = make_hub('c.Spawner.mem_limit = "1G"\n')
    hub.spawn(username)
    name = user_container(username)
    host = inspect("container", name)["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["PidsLimit"] == 4096
    assert host["MemorySwap"] == host["Memory"] == 1024**3, "no swap beyond the limit"
    assert host["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-file": "3", "max-size": "10m"},
    }
    # what the kernel says about the server's process: no capabilities, no new privileges
    status = docker("exec", name, "cat", "/proc/self/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapBnd"], 16) == 0
    assert fields["NoNewPrivs"].strip() == "1"
    assert hub.user_get(username, "api/status").status_code == 200
    hub.stop_server(username)


def test_the_docker_socket_is_never_mounted_unless_allowed(make_hub, username):
    hub = make_hub('c.DockerSpawner.volumes = {"/var/run/docker.sock": "/var/run/docker.sock"}\n')
    message = hub.spawn_failure(username)
    assert "Docker engine" in message and "allow_docker_socket" in message, message
    assert not exists("container", user_container(username))


# Each of these gave the user's container the engine before the fix, which looked only at
# the sources of volumes and read_only_volumes and only for the socket itself.
ENGINE_MOUNTS = {
    "mounts": 'c.DockerSpawner.mounts = [{"type": "bind", "source": "/var/run/docker.sock", '
    '"target": "/engine.sock"}]',
    "extra_host_config binds": 'c.DockerSpawner.extra_host_config = {"binds": '
    '["/var/run/docker.sock:/engine.sock:ro"]}',
    "extra_host_config mounts": 'c.DockerSpawner.extra_host_config = {"mounts": [{"type": '
    '"bind", "source": "/run/docker.sock", "target": "/engine.sock"}]}',
    "a parent folder": 'c.DockerSpawner.read_only_volumes = {"/var/run": "/hostrun"}',
    "a parent, written oddly": 'c.DockerSpawner.read_only_volumes = {"//run/": "/hostrun"}',
    "the containerd socket": "c.DockerSpawner.read_only_volumes = "
    '{"/run/docker/containerd/containerd.sock": "/containerd.sock"}',
}


@pytest.mark.parametrize("config", ENGINE_MOUNTS.values(), ids=list(ENGINE_MOUNTS))
def test_no_engine_socket_or_folder_holding_one_reaches_a_container(make_hub, username, config):
    """Attack: an admin config (or a callable fed by user input) that mounts an engine
    socket some other way than volumes. Before the fix every one of these spawned a ready
    server with the socket (or its folder) inside: root on the host for the user."""
    hub = make_hub(config + "\n")
    message = hub.spawn_failure(username)
    assert "control of the Docker engine" in message and "allow_docker_socket" in message, message
    assert not exists("container", user_container(username))


@pytest.fixture
def active_swarm(engine_ready):
    """This machine's engine is already a swarm manager; tests never init or leave one."""
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    assert state == "active", f"the engine is not in a swarm ({state}); tests/run makes one"


SWARM_ENGINE_MOUNTS = {
    "extra_container_spec mounts": 'c.SwarmSpawner.extra_container_spec = {"mounts": '
    '["/var/run/docker.sock:/engine.sock:ro"]}',
    "a parent folder": 'c.SwarmSpawner.read_only_volumes = {"/run": "/hostrun"}',
}


@pytest.mark.parametrize("config", SWARM_ENGINE_MOUNTS.values(), ids=list(SWARM_ENGINE_MOUNTS))
def test_no_engine_socket_reaches_a_swarm_service(active_swarm, make_hub, username, config):
    """The same attack on SwarmSpawner: before the fix both made a running service with
    the engine's socket inside."""
    hub = make_hub(
        'c.JupyterHub.spawner_class = "hubdist.SwarmSpawner"\n'
        "c.SwarmSpawner.use_internal_ip = False\n" + config + "\n"
    )
    message = hub.spawn_failure(username)
    assert "control of the Docker engine" in message and "allow_docker_socket" in message, message
    assert not exists("service", user_container(username))
