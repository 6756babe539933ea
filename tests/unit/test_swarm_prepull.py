"""The pre-puller's service: what runs on every node (hubdist.services.prepull)."""

from hubdist.services import prepull


def test_one_validly_named_service_per_image():
    name = prepull.service_name("hubdist", "registry.example.org:5000/team/singleuser:4.2")
    assert name == "hubdist-prepull-registry.example.org-5000-team-singleuser-4.2"
    assert prepull.service_name("hubdist", "a:1") != prepull.service_name("hubdist", "a:2")


def test_the_task_only_waits_with_nothing_to_spare():
    spec = prepull.service_spec("hubdist", "hubdist/singleuser:latest", ["node.role==worker"])
    container = spec["container"]
    assert container["image"] == "hubdist/singleuser:latest"
    assert container["command"][:2] == ["sh", "-c"]  # replaces the server's entry point
    assert container["user"] == "65534:65534" and container["cap_drop"] == ["ALL"]
    assert container["healthcheck"] == {"Test": ["NONE"]}
    assert spec["resources"] == {"mem_limit": 32 * 1024**2, "cpu_limit": 10**7}
    assert spec["placement"] == {"constraints": ["node.role==worker"]}
    # not a user's server: the hub's swarm view must not see it
    assert "org.jupyter.hubdist.managed" not in spec["labels"]
