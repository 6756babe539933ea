"""A real JupyterLab server on a worker, reached across the overlay network.

The other multi-node tests use the stub server; this one starts the single-user image the
single-machine tests use (loaded onto w2 beforehand, as an admin pre-pulls a big image)
through the "lab" profile of the cluster's config. The user logs in on the manager; their
server on w2 does the OAuth handshake with the hub across the overlay network, answers
through the proxy, runs code in a kernel, and reports its activity to the hub, where the
idle culler reads it (the server's ``last_activity`` in the REST API). All of it with the
stack's network guard on w2.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from ..e2e.deployment import server_api, wait_for_server
from ..e2e.kernel import KernelSocket
from ..hubrig import TEST_IMAGE
from .cluster import LAB_ACTIVITY_INTERVAL, Cluster, User, wait_until

USER = "on-w2-lab"


@pytest.fixture(scope="module")
def lab_on_w2(cluster: Cluster):
    cluster.w2.load_image(TEST_IMAGE)
    user = User(cluster, USER)
    try:
        yield user
    finally:
        if user.server() is not None:
            user.stop()
        cluster.w2.docker("image", "rm", TEST_IMAGE, check=False)


def activity(user: User) -> datetime:
    return datetime.fromisoformat(user.server()["last_activity"])


def test_a_lab_server_on_a_worker_logs_in_runs_code_and_reports_activity(cluster, lab_on_w2):
    user = lab_on_w2
    events = user.start({"profile": "lab"})
    assert (user.server() or {}).get("ready"), f"{events}\n{cluster.hub_logs()[-3000:]}"
    assert cluster.running_task(user.service)["Node"] == cluster.w2.name

    # the first visit runs the server's OAuth handshake with the hub (across the overlay)
    status = wait_for_server(user.session, cluster.url, USER, cluster.hub_logs)
    assert "started" in status, status
    kernel = server_api(user.session, cluster.url, USER, "POST", "/kernels", json={})
    assert kernel.status_code == 201, kernel.text
    before = activity(user)
    time.sleep(1)  # the hub's timestamps have a resolution of a second or less
    cookies = "; ".join(f"{c.name}={c.value}" for c in user.session.cookies)
    with KernelSocket.for_kernel(
        f"{cluster.url}/user/{USER}/", kernel.json()["id"], headers={"Cookie": cookies}
    ) as socket:
        assert socket.execute("import socket; print(socket.gethostname() != '')") == "True\n"

    # the server posts its activity every LAB_ACTIVITY_INTERVAL seconds; the proxy's
    # activity is read by the hub only every 5 minutes, so a newer time came from the server
    wait_until(
        lambda: activity(user) > before,
        "the server's activity to reach the hub",
        timeout=LAB_ACTIVITY_INTERVAL * 6,
    )
