"""Configuration written for jupyterhub/dockerspawner works unchanged in hubdist."""

from __future__ import annotations

from hubdist import names

from ..hubrig import TEST_IMAGE, docker, exists, inspect, user_container

# The DockerSpawner lines from dockerspawner's README and docs, verbatim except for the
# image name, which must be one this machine has.
DOCKERSPAWNER_README_LINES = f"""
import os
notebook_dir = os.environ.get('DOCKER_NOTEBOOK_DIR') or '/home/jovyan/work'
c.DockerSpawner.notebook_dir = notebook_dir
c.DockerSpawner.volumes = {{ 'jupyterhub-user-{{username}}': notebook_dir }}
c.Spawner.mem_limit = '2G'
c.DockerSpawner.container_image = '{TEST_IMAGE}'
c.DockerSpawner.host_ip = "0.0.0.0"
c.DockerSpawner.remove_containers = True
"""


def test_dockerspawner_readme_config_runs_verbatim(make_hub, username):
    volume = f"jupyterhub-user-{names.escape(username)}"
    hub = make_hub("c.DockerSpawner.image = 'not-this-one'\n" + DOCKERSPAWNER_README_LINES)
    try:
        hub.spawn(username)
        info = inspect("container", user_container(username))
        assert info["Config"]["Image"] == TEST_IMAGE, "container_image is honoured"
        assert info["HostConfig"]["Memory"] == 2 * 1024**3
        assert info["HostConfig"]["PortBindings"]["8888/tcp"][0]["HostIp"] == "0.0.0.0"
        mounts = {m["Destination"]: m for m in info["Mounts"]}
        assert mounts["/home/jovyan/work"]["Name"] == volume

        # notebook_dir is the server's root: a file saved at the root lands in the volume
        saved = hub.user_request(
            "PUT", username, "api/contents/readme.txt",
            json={"type": "file", "format": "text", "content": "hello"},
        )  # fmt: skip
        assert saved.status_code in (200, 201), saved.text
        listing = docker("run", "--rm", "-v", f"{volume}:/v", TEST_IMAGE, "ls", "/v").stdout
        assert "readme.txt" in listing

        hub.stop_server(username)
        assert not exists("container", user_container(username)), "remove_containers honoured"
        assert "container_image is deprecated" in hub.log_tail(400)
    finally:
        docker("volume", "rm", "-f", volume, check=False)
