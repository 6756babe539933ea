"""The hub's service is restarted (an upgrade, a config change): servers on the workers
keep running, untouched, and the new hub finds them again."""

from __future__ import annotations

from .cluster import start_server, wait_until


def test_servers_on_workers_outlive_a_hub_restart_and_are_found_again(cluster):
    user, _ = start_server(cluster, "gus")
    service = cluster.service("gus")
    task = cluster.running_task(service)["ID"]
    hub = f"{cluster.stack}_hub"
    old_hub = cluster.running_task(hub)["ID"]

    cluster.manager.docker("service", "update", "--force", "--detach", hub)
    wait_until(lambda: cluster.running_task_or_none(hub) not in (None, old_hub), "a new hub", 180)
    cluster.wait_healthy()

    model = wait_until(user.server, "the new hub to know the server", 60)
    assert model["ready"]
    assert cluster.running_task(service)["ID"] == task, "the same task, never restarted"
    assert user.get().status_code == 200
    user.stop()
