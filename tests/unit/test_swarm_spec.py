"""SwarmSpawner's service spec, checked without an engine."""

from types import SimpleNamespace

from traitlets.config import Config

from hubdist import SwarmSpawner


def make(config: Config) -> SwarmSpawner:
    return SwarmSpawner(
        config=config,
        user=SimpleNamespace(name="alice", url="/user/alice/"),
        orm_spawner=SimpleNamespace(name="", server=None),
        hub=SimpleNamespace(public_host="", api_url="http://hub:8081/hub/api", base_url="/hub/"),
    )


def test_named_volumes_mount_as_volumes_and_host_paths_as_binds():
    c = Config()
    c.SwarmSpawner.volumes = {"home-{username}": "/home/jovyan/work", "/srv/data": "/data"}
    c.SwarmSpawner.read_only_volumes = {"datasets": "/datasets"}
    c.SwarmSpawner.volume_driver = "nfs-driver"
    c.SwarmSpawner.volume_driver_options = {"share": "users"}
    mounts = {m["target"]: m for m in make(c)._mounts()}
    assert mounts["/home/jovyan/work"] == {
        "target": "/home/jovyan/work",
        "source": "home-alice",
        "type": "volume",
        "read_only": False,
        "driver_config": {"name": "nfs-driver", "options": {"share": "users"}},
        # the node that creates the volume labels it as alice's (no server: all hers share it)
        "labels": {
            "org.jupyter.hubdist.managed": "true",
            "org.jupyter.hubdist.user": "alice",
            "org.jupyter.hubdist.deployment": "jupyter",
        },
    }
    assert mounts["/data"]["type"] == "bind" and "driver_config" not in mounts["/data"]
    assert mounts["/datasets"]["read_only"] is True and "labels" not in mounts["/datasets"]


async def test_spec_has_limits_placement_and_no_restart():
    c = Config()
    c.SwarmSpawner.network_name = "hubdist"
    c.SwarmSpawner.cmd = ["jupyterhub-singleuser"]
    c.SwarmSpawner.placement_constraints = ["node.labels.tier == {username}"]
    c.SwarmSpawner.extra_resources_spec = {"generic_resources": {"gpu": 1}}
    c.Spawner.mem_limit = "1G"
    c.Spawner.cpu_limit = 2.0
    spawner = make(c)
    spawner.api_token = "x"
    await spawner.resolve_limits()
    spec = await spawner._service_spec("img:1", None)
    assert spec["networks"] == ["hubdist"] and spec["endpoint"] is None
    assert spec["placement"]["constraints"] == ["node.labels.tier == alice"]
    assert spec["resources"]["mem_limit"] == 1024**3
    assert spec["resources"]["cpu_limit"] == 2_000_000_000
    assert spec["resources"]["generic_resources"] == {"gpu": 1}
    assert spec["container"]["args"] == ["jupyterhub-singleuser"]
    assert spec["container"]["healthcheck"] == {"Test": ["NONE"]}


async def test_a_profile_set_on_dockerspawner_reaches_the_service():
    """c.DockerSpawner.profiles configures SwarmSpawner too: its GPUs become a generic
    resource, its constraints join the configured ones, its guarantee a reservation."""
    c = Config()
    c.SwarmSpawner.network_name = "hubdist"
    c.DockerSpawner.placement_constraints = ["node.role == worker"]
    c.DockerSpawner.profiles = [
        {"name": "cpu"},
        {
            "name": "gpu",
            "image": "cuda:1",
            "gpus": 2,
            "mem_guarantee": "2G",
            "placement_constraints": ["node.labels.gpu == true"],
        },
    ]
    spawner = make(c)
    spawner.api_token = "x"
    spawner.user.groups = []
    spawner.user_options = {"profile": "gpu"}
    assert await spawner.choose_image() == "cuda:1"
    await spawner.resolve_limits()
    spec = await spawner._service_spec("cuda:1", None)
    assert spec["resources"]["generic_resources"] == {"NVIDIA-GPU": 2}
    assert spec["resources"]["mem_reservation"] == 2 * 1024**3
    assert spec["placement"]["constraints"] == ["node.role == worker", "node.labels.gpu == true"]

    spawner.user_options = {"profile": "cpu"}  # the next start: none of it stays
    await spawner.choose_image()
    spec = await spawner._service_spec(spawner.image, None)
    assert spec["resources"]["generic_resources"] is None
    assert spec["resources"]["mem_reservation"] is None
    assert spec["placement"]["constraints"] == ["node.role == worker"]
