"""Named volumes live on one machine: with pin_to_node a user's server starts again where
it first ran, so the user's files are there after stop and start; while that machine is
cut off, the user is told so; once it has left the swarm for good, the user is told that
too and the next start goes elsewhere."""

from __future__ import annotations

from .cluster import start_server, wait_until


def test_a_pinned_users_files_survive_stop_and_start(cluster):
    user, _ = start_server(cluster, "pin-flo")
    first = cluster.running_task(user.service)["Node"]
    assert user.put("files/notes.txt", "written on the first server").status_code == 201
    user.stop()

    user, _ = start_server(cluster, "pin-flo")

    assert cluster.running_task(user.service)["Node"] == first
    node_id = cluster.manager.docker("node", "inspect", "-f", "{{.ID}}", first).stdout.strip()
    assert f"node.id == {node_id}" in cluster.constraints(user.service)  # not by chance
    read = user.get("files/notes.txt")
    assert read.status_code == 200 and read.text == "written on the first server"
    user.stop()


def test_a_pinned_user_whose_machine_is_down_is_told_so_and_starts_there_once_it_is_back(cluster):
    user, _ = start_server(cluster, "pin-hal")
    home = next(n for n in cluster.workers if n.name == cluster.running_task(user.service)["Node"])
    user.stop()

    home.cut_off()  # a network partition: the machine runs on, unreachable
    try:
        wait_until(lambda: cluster.node_state(home) == "down", "Swarm to mark the machine down")
        failure = user.start_failure()
        assert f"pinned to node {home.name}" in failure and "is down" in failure, failure
    finally:
        home.reconnect()
    wait_until(lambda: cluster.node_state(home) == "ready", "the machine to be back", 60)

    user, _ = start_server(cluster, "pin-hal")
    assert cluster.running_task(user.service)["Node"] == home.name
    user.stop()


def test_a_pinned_user_whose_machine_left_the_swarm_is_told_so_and_then_starts_elsewhere(cluster):
    node = cluster.add_node("w5")
    try:
        set_availability(cluster, cluster.workers, "drain")  # so the first start lands on w5
        try:
            user, _ = start_server(cluster, "pin-ida")
        finally:
            set_availability(cluster, cluster.workers, "active")
        assert cluster.running_task(user.service)["Node"] == node.name
        user.stop()
    finally:
        cluster.remove_node(node)  # the machine is gone, and an admin removed it (node rm)

    failure = user.start_failure()
    assert "pinned to node" in failure and "has left the swarm" in failure, failure

    user, _ = start_server(cluster, "pin-ida")
    assert cluster.running_task(user.service)["Node"] in {w.name for w in cluster.workers}
    user.stop()


def set_availability(cluster, nodes, availability: str) -> None:
    for node in nodes:
        cluster.manager.docker("node", "update", "--availability", availability, node.name)
