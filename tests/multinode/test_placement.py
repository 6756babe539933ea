"""The shipped stack on three machines: hub and proxy on the manager, users' servers on
workers, chosen by the scheduler or by an admin's constraint, reached through the proxy."""

from __future__ import annotations

from .cluster import User, messages, start_server


def test_the_hub_and_proxy_run_on_the_manager_and_servers_on_workers(cluster):
    for service in ("hub", "proxy"):
        assert cluster.running_task(f"{cluster.stack}_{service}")["Node"] == cluster.manager.name

    user, events = start_server(cluster, "ada")

    node = cluster.running_task(cluster.service("ada"))["Node"]
    assert node in (cluster.w1.name, cluster.w2.name)
    assert f"Running on node {node}" in messages(events), "the spawn page says where"
    user.stop()


def test_a_constraint_chosen_per_user_puts_the_server_on_the_labelled_machine(cluster):
    user, events = start_server(cluster, "big-bo")

    assert cluster.running_task(cluster.service("big-bo"))["Node"] == cluster.w2.name
    assert f"Running on node {cluster.w2.name}" in messages(events)
    user.stop()


def test_a_gpu_profile_lands_on_the_machine_with_a_free_gpu(cluster):
    """w1 advertises one (fake) GPU: a server of the GPU profile runs there, and a second
    one, with no GPU left anywhere, fails at once with Swarm's reason instead of waiting.

    Swarm's constraint enforcer rejects a task holding a generic resource whenever its node
    is updated ("assigned node no longer meets constraints", docs/profiles.md), and a
    node's first task on the users' network updates the node (its network attachment): a
    server on w1 first, as on any machine in use, keeps this test about placement."""
    start_server(cluster, "on-w1-gia")[0].stop()
    user, events = start_server(cluster, "gpu-gus", {"profile": "gpu"})
    task = cluster.running_task(cluster.service("gpu-gus"))
    assert task["Node"] == cluster.w1.name
    assert f"Running on node {cluster.w1.name}" in messages(events)

    second = User(cluster, "gpu-gil")
    message = second.start_failure({"profile": "gpu"})
    assert "insufficient resources" in message, message
    user.stop()
