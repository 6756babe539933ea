"""Users' containers are locked down by default."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ..hubrig import PREFIX, TEST_IMAGE, docker, exists, inspect, user_container

ROOT_START_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]
# their bits in /proc/PID/status: CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, SETGID 6, SETUID 7
ROOT_START_MASK = (1 << 0) | (1 << 1) | (1 << 3) | (1 << 6) | (1 << 7)


def process_status(container: str, command: str) -> dict[str, str]:
    """/proc/PID/status of the container's process running ``command`` (not tini), read on
    the host: the kernel's view of the server itself, not of a `docker exec`'d process."""
    top = docker("top", container, "-eo", "pid,args").stdout.splitlines()[1:]
    pids = [line.split()[0] for line in top if command in line and "tini" not in line]
    assert len(pids) == 1, top
    return read_status(pids[0])


def read_status(pid: int | str) -> dict[str, str]:
    status = Path(f"/proc/{pid}/status").read_text()
    return dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)


def capabilities(status: dict[str, str]) -> dict[str, int]:
    return {k: int(status[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


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
    # the kernel's view of the server's own process: no capability at all, no new privileges
    status = process_status(name, "jupyterhub-singleuser")
    assert set(capabilities(status).values()) == {0}, status
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Uid"].split()[0] == "1000"
    # and of PID 1 (tini), which would keep what a root start was given
    pid1 = inspect("container", name)["State"]["Pid"]
    assert set(capabilities(read_status(pid1)).values()) == {0}
    assert hub.user_get(username, "api/status").status_code == 200
    hub.stop_server(username)


@pytest.fixture
def root_start_image(engine_ready):
    """The test image made to start as root (USER root); NB_UID makes it become uid 1000."""
    image = f"{PREFIX}-rootstart:1"
    build = subprocess.run(
        ["docker", "build", "-q", "-t", image, "-"],
        input=f"FROM {TEST_IMAGE}\nUSER root\n", capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    yield image
    docker("rmi", "-f", image, check=False)


@pytest.mark.parametrize("policy", ["ifnotpresent", "skip"])
def test_a_root_start_gets_exactly_the_capabilities_to_switch_user_and_keeps_none(
    make_hub, username, root_start_image, policy
):
    """The image starts as root and becomes uid 1000: the container gets exactly CHOWN,
    DAC_OVERRIDE, FOWNER, SETUID and SETGID, and the server, once it runs as its user, has
    none effective or permitted (only the bounding set keeps them, useless under
    no-new-privileges). With "skip" the image is inspected once to know it starts as root."""
    hub = make_hub(
        f'c.DockerSpawner.image = "{root_start_image}"\n'
        f'c.DockerSpawner.pull_policy = "{policy}"\n'
        'c.Spawner.environment = {"NB_UID": "1000", "NB_USER": "jovyan"}\n'
    )
    hub.spawn(username)
    name = user_container(username)
    assert sorted(inspect("container", name)["HostConfig"]["CapAdd"]) == ROOT_START_CAPS
    status = process_status(name, "jupyterhub-singleuser")
    caps = capabilities(status)
    assert status["Uid"].split()[0] == "1000", status
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapInh"] == caps["CapAmb"] == 0, status
    assert caps["CapBnd"] == ROOT_START_MASK, status
    assert status["NoNewPrivs"].strip() == "1"
    hub.stop_server(username)


def test_skip_adds_no_root_capabilities_to_an_image_that_starts_as_its_user(make_hub, username):
    """Attack surface: with pull_policy "skip" the spawner could not see the image and
    assumed it starts as root. Before the fix every server of such a hub got CHOWN,
    DAC_OVERRIDE, FOWNER, SETUID and SETGID (CapAdd) although the image runs as uid 1000."""
    hub = make_hub('c.DockerSpawner.pull_policy = "skip"\n')
    hub.spawn(username)
    name = user_container(username)
    assert not inspect("container", name)["HostConfig"]["CapAdd"]
    assert capabilities(process_status(name, "jupyterhub-singleuser"))["CapBnd"] == 0
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


def test_swarm_services_of_a_user_image_get_no_root_capabilities(active_swarm, make_hub, username):
    """SwarmSpawner's default pull_policy is "skip". Before the fix every service got
    CHOWN, DAC_OVERRIDE, FOWNER, SETUID and SETGID (CapabilityAdd) whatever its image; now
    the image is inspected once (it runs as uid 1000) and the server has no capability."""
    hub = make_hub(
        'c.JupyterHub.spawner_class = "hubdist.SwarmSpawner"\n'
        "c.SwarmSpawner.use_internal_ip = False\n"
    )
    hub.spawn(username)
    service = user_container(username)
    spec = inspect("service", service)["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert spec["CapabilityDrop"] == ["ALL"] and not spec.get("CapabilityAdd"), spec
    task = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}")
    status = process_status(task.stdout.split()[0], "jupyterhub-singleuser")
    assert set(capabilities(status).values()) == {0}, status
    hub.stop_server(username)
