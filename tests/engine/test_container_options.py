"""Networks, pass-through kwargs, post-start commands and container reuse."""

from __future__ import annotations

import subprocess

from ..hubrig import PREFIX, TEST_IMAGE, docker, free_port, inspect, user_container


def test_user_network_internal_ip_and_pass_throughs(make_hub, username):
    network = f"{PREFIX}-net"
    docker("network", "create", network)
    try:
        hub = make_hub(
            f'c.DockerSpawner.network_name = "{network}"\n'
            "async def host_config(spawner):\n"
            '    return {"shm_size": "96m"}\n'
            "c.DockerSpawner.extra_host_config = host_config\n"
            'c.DockerSpawner.extra_create_kwargs = {"labels": {"owner": "{raw_username}"}}\n'
            'c.DockerSpawner.post_start_cmd = "touch /tmp/post-start-ran"\n'
        )
        hub.spawn(username)
        info = inspect("container", user_container(username))
        ip = info["NetworkSettings"]["Networks"][network]["IPAddress"]
        assert not info["HostConfig"]["PortBindings"], "internal IP: nothing published"
        assert info["HostConfig"]["ShmSize"] == 96 * 1024**2
        labels = info["Config"]["Labels"]
        assert labels["owner"] == username, "templated and merged"
        assert labels["org.jupyter.hubdist.managed"] == "true", "our labels survive the merge"
        routes = hub.api("GET", "/users/" + username).json()["servers"][""]
        assert routes["ready"]
        assert docker("exec", user_container(username), "ls", "/tmp/post-start-ran").returncode == 0
        assert hub.user_get(username, "api/status").status_code == 200
        assert ip in hub.log_tail(400), "the hub routes to the container's IP on the network"
        hub.stop_server(username)
    finally:
        docker("network", "rm", network, check=False)


def test_kept_container_is_reused_unless_its_image_changed(make_hub, username):
    alt = f"{PREFIX}-alt2:1"
    docker("tag", TEST_IMAGE, alt)
    hub = make_hub(
        "c.DockerSpawner.remove = False\n"
        f'c.DockerSpawner.allowed_images = {{"Lab": "{TEST_IMAGE}", "Alt": "{alt}"}}\n'
    )
    name = user_container(username)
    try:
        hub.spawn(username)
        first = inspect("container", name)["Id"]
        docker("exec", name, "touch", "/tmp/kept")
        hub.stop_server(username)
        assert inspect("container", name)["State"]["Running"] is False, "kept, not removed"

        hub.spawn(username)
        assert inspect("container", name)["Id"] == first, "same container started again"
        assert docker("exec", name, "ls", "/tmp/kept").returncode == 0
        assert hub.user_get(username, "api/status").status_code == 200
        hub.stop_server(username)

        hub.spawn(username, options={"image": "Alt"})
        replaced = inspect("container", name)
        assert replaced["Id"] != first and replaced["Config"]["Image"] == alt, (
            "a stopped container of another image is replaced, not started stale"
        )
        hub.stop_server(username)
    finally:
        docker("rm", "-f", name, check=False)
        docker("rmi", alt, check=False)


def test_remote_engine_through_docker_host_with_ports_on_all_interfaces(make_hub, username):
    """A tcp:// engine (here: a relay we start to the local socket) and host_ip 0.0.0.0:
    the hub finds the published port and connects to the engine's host."""
    port = free_port()
    relay = subprocess.Popen(
        ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr",
         "UNIX-CONNECT:/var/run/docker.sock"],
    )  # fmt: skip
    try:
        hub = make_hub(
            'c.DockerSpawner.host_ip = "0.0.0.0"\n',
            env={"DOCKER_HOST": f"tcp://localhost:{port}"},
        )
        hub.spawn(username)
        target = hub.routes()[f"/user/{username}"]["target"]
        host_port = inspect("container", user_container(username))["NetworkSettings"]["Ports"][
            "8888/tcp"
        ][0]["HostPort"]
        assert target == f"http://localhost:{host_port}", target
        assert hub.user_get(username, "api/status").status_code == 200
        hub.stop_server(username)
    finally:
        relay.terminate()
        relay.wait(10)


def test_jupyterhub_spawner_options_reach_the_container(make_hub, username):
    hub = make_hub(
        'c.Spawner.environment = {"TEAM": "physics", "WHO": lambda spawner: spawner.user.name}\n'
        'c.Spawner.args = ["--ServerApp.log_level=DEBUG"]\n'
        'c.Spawner.default_url = "/lab"\n'
        'c.Spawner.notebook_dir = "/tmp"\n'
    )
    hub.spawn(username)
    config = inspect("container", user_container(username))["Config"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["TEAM"] == "physics" and env["WHO"] == username
    assert env["JUPYTERHUB_DEFAULT_URL"] == "/lab" and env["JUPYTERHUB_ROOT_DIR"] == "/tmp"
    # cmd None: the image's own CMD, then args
    assert config["Cmd"] == ["jupyterhub-singleuser", "--ServerApp.log_level=DEBUG"]
    assert config["Entrypoint"][0] == "tini", "the image's entrypoint is kept"
    assert hub.user_get(username, "api/status").status_code == 200
    hub.stop_server(username)
