"""The shipped stack on three machines: hub and proxy on the manager, users' servers on
workers, chosen by the scheduler or by an admin's constraint, reached through the proxy."""

from __future__ import annotations

from .cluster import messages, start_server


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
