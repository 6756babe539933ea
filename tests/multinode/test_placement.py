"""The shipped stack on three machines: hub and proxy on the manager, users' servers on
workers, chosen by the scheduler or by an admin's constraint, reached through the proxy."""

from __future__ import annotations

from .cluster import User, messages, start_server, wait_until


def test_every_machine_is_on_the_users_network_before_its_first_server(cluster):
    """The stack's anchor service keeps every node in the users' overlay network: a server's
    start then never waits for its node to join it, which takes 30 s while another member
    hangs (benchmark S16), and never updates the node, which makes Swarm reject a GPU
    server (docs/profiles.md)."""
    idle = [node for node in cluster.workers if not cluster.running_servers(node)]
    assert idle, "a worker without servers (the tests before stop theirs)"
    for node in idle:
        wait_until(
            lambda node=node: (
                cluster.stack
                in node.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
            ),
            f"{node.name} to be on the users' network {cluster.stack} without a server",
            timeout=60,
        )


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
    is updated ("assigned node no longer meets constraints", docs/profiles.md). A node's
    first task on the users' network used to be such an update (its network attachment),
    so a GPU server as the first server on a machine failed; the stack's anchor service
    makes that attachment at deploy (no server is started on w1 first to make it)."""
    user, events = start_server(cluster, "gpu-gus", {"profile": "gpu"})
    task = cluster.running_task(cluster.service("gpu-gus"))
    assert task["Node"] == cluster.w1.name
    assert f"Running on node {cluster.w1.name}" in messages(events)

    second = User(cluster, "gpu-gil")
    message = second.start_failure({"profile": "gpu"})
    assert "insufficient resources" in message, message
    user.stop()
