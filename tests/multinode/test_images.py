"""Images on every node: a machine that lacks the user's image pulls it from the registry,
and the user sees it; the pre-puller gets the image onto a new machine before any spawn."""

from __future__ import annotations

import time

from .cluster import messages, since, start_server, wait_until


def has_image(node, image: str) -> bool:
    return node.docker("image", "inspect", image, check=False).returncode == 0


def test_a_new_machine_pulls_the_image_at_the_first_spawn_with_progress_shown(cluster):
    node = cluster.add_node("w3")
    try:
        assert not has_image(node, cluster.image)

        user, events = start_server(cluster, "on-w3-cy")

        pulling = [m for m in messages(events) if m.startswith(f"Pulling {cluster.image}")]
        assert pulling and all(f"on node {node.name}" in m for m in pulling), messages(events)
        assert has_image(node, cluster.image)
        user.stop()
    finally:
        cluster.remove_node(node)


def test_the_pre_puller_puts_the_image_on_a_machine_that_joins_later(cluster):
    made = cluster.hub_exec("hubdist", "prepull")  # HUBDIST_SINGLEUSER_IMAGE, on every node
    assert "every node pulls" in made.stdout, made.stdout + made.stderr
    try:
        started = time.monotonic()
        node = cluster.add_node("w4")
        try:
            wait_until(lambda: has_image(node, cluster.image), "the pre-pull", timeout=120)
            print(f"the new node had the image {since(started)} after it was started")

            user, _ = start_server(cluster, "on-w4-di")

            assert cluster.running_task(cluster.service("on-w4-di"))["Node"] == node.name
            user.stop()
        finally:
            cluster.remove_node(node)
    finally:
        cluster.hub_exec("hubdist", "prepull", "--remove")
