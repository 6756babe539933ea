"""Users' containers are locked down by default."""

from __future__ import annotations

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
