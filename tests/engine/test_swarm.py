"""SwarmSpawner on a real single-node swarm, with a real hub and proxy.

The hub runs on the host here, which cannot reach overlay networks, so these tests use the
host-mode published port option; the task-IP mode is exercised by the stack deployment.
"""

from __future__ import annotations

import time

import pytest

from hubdist import names

from ..hubrig import EVERY_PROGRESS_EVENT, PREFIX, docker, exists, inspect, user_container

SWARM = """
c.JupyterHub.spawner_class = "hubdist.SwarmSpawner"
c.SwarmSpawner.use_internal_ip = False
"""


def service_name(user: str) -> str:
    return user_container(user)


@pytest.fixture
def swarm_hub(swarm, make_hub):
    def make(extra: str = ""):
        return make_hub(SWARM + extra)

    return make


def test_service_spawn_reach_and_stop(swarm_hub, username):
    hub = swarm_hub(
        'c.Spawner.mem_limit = "768M"\nc.Spawner.mem_guarantee = "256M"\n'
        "c.Spawner.cpu_limit = 1.5\nc.Spawner.cpu_guarantee = 0.25\n" + EVERY_PROGRESS_EVENT
    )
    events = hub.spawn(username)
    messages = [e["message"] for e in events]
    assert "Creating service" in messages, messages
    assert any(m.startswith("Running on node ") for m in messages), messages
    assert hub.user_get(username, "api/status").status_code == 200

    spec = inspect("service", service_name(username))["Spec"]["TaskTemplate"]
    assert spec["Resources"]["Limits"] == {"MemoryBytes": 768 * 1024**2, "NanoCPUs": 1_500_000_000}
    assert spec["Resources"]["Reservations"] == {
        "MemoryBytes": 256 * 1024**2,
        "NanoCPUs": 250_000_000,
    }
    assert spec["RestartPolicy"]["Condition"] == "none", "a shutdown stays a shutdown"
    assert spec["ContainerSpec"]["CapabilityDrop"] == ["ALL"]
    assert spec["LogDriver"]["Options"]["max-size"] == "10m"

    hub.stop_server(username)
    assert not exists("service", service_name(username))


def test_named_volume_keeps_files_across_stop_and_start(swarm_hub, username):
    volume = f"{PREFIX}-swarm-{names.escape(username)}"
    hub = swarm_hub(
        f'c.SwarmSpawner.volumes = {{"{PREFIX}-swarm-{{username}}": "/home/jovyan/work"}}\n'
    )
    hub.spawn(username)
    mounts = inspect("service", service_name(username))["Spec"]["TaskTemplate"]["ContainerSpec"][
        "Mounts"
    ]
    assert mounts[0]["Type"] == "volume" and mounts[0]["Source"] == volume
    saved = hub.user_request(
        "PUT", username, "api/contents/work/kept.txt",
        json={"type": "file", "format": "text", "content": "still here"},
    )  # fmt: skip
    assert saved.status_code in (200, 201), saved.text
    hub.stop_server(username)

    hub.spawn(username)
    read = hub.user_get(username, "api/contents/work/kept.txt")
    assert read.status_code == 200 and read.json()["content"] == "still here"
    hub.stop_server(username)


def test_unsatisfiable_constraint_fails_at_once_with_the_reason(swarm_hub, username):
    hub = swarm_hub('c.SwarmSpawner.placement_constraints = ["node.labels.gpu == yes"]\n')
    message = hub.spawn_failure(username)
    assert "no suitable node" in message, message
    assert not exists("service", service_name(username)), "the failed service is removed"


def test_unknown_image_is_rejected_with_swarms_message(swarm_hub, username):
    hub = swarm_hub(f'c.SwarmSpawner.image = "{PREFIX}-nowhere:1"\n')
    message = hub.spawn_failure(username)
    assert "rejected" in message and f"{PREFIX}-nowhere" in message, message


def test_a_server_that_exits_fails_the_spawn_with_its_exit_code(swarm_hub, username):
    hub = swarm_hub('c.Spawner.cmd = ["sh", "-c", "exit 7"]\n')
    message = hub.spawn_failure(username)
    assert "exit code 7" in message, message
    assert docker("service", "ls", "-q", "--filter", f"name={service_name(username)}").stdout == ""


def test_a_server_that_dies_is_marked_stopped_within_seconds_with_the_reason(swarm_hub, username):
    hub = swarm_hub(
        'c.Spawner.cmd = ["sh", "-c", "python3 -m http.server 8888 & sleep 15; exit 3"]\n'
        "c.Spawner.poll_interval = 3600\nc.Spawner.poll_jitter = 0\n"  # no poll can do it
    )
    hub.spawn(username)

    # one listing a second for all servers (hubdist.engine.swarm), not the hub's poll
    deadline = time.monotonic() + 25
    while hub.server_model(username) is not None:
        assert time.monotonic() < deadline, "the hub did not notice the server died"
        time.sleep(0.5)

    # the reason the user is shown at the next start (tests/multinode shows that page)
    node = docker("info", "--format", "{{.Name}}").stdout.strip()  # the machine it ran on
    assert f"stopped: its task on {node} ended (failed with exit code 3)" in hub.log_tail(200)
