"""Docker engine restarted under a running hub: with live-restore servers keep running;
without it the hub marks them stopped and users can start again.

The engine under test is a node of its own (tests/nodes.py: a container running dockerd),
so restarting it disturbs nothing else on this machine; the hub on the host drives it
over TCP on the node's test network, as a hub drives a remote engine.
"""

from __future__ import annotations

import json
import time

import pytest

from ..hubrig import BASE_IMAGE, PREFIX, user_container
from ..nodes import EngineNode, make_network, remove_network

STUB = f"{PREFIX}-stub:1"
SERVER = (
    f'c.DockerSpawner.image = "{STUB}"\n'
    'c.DockerSpawner.host_ip = "0.0.0.0"\n'  # published on the node, found through DOCKER_HOST
    # a PID 1 that ends on SIGTERM, so an engine going down does not wait out its grace
    'c.Spawner.cmd = ["sh", "-c", "trap \'exit 0\' TERM; python3 -m http.server 8888 & wait"]\n'
    "c.Spawner.poll_interval = 3600\n"  # what the hub notices comes from the engine's events
)


@pytest.fixture(scope="module")
def engine(engine_ready):
    network = make_network(f"{PREFIX}-engine-net")
    node = None
    try:
        node = EngineNode.start(
            f"{PREFIX}-engine",
            network,
            ["-H", "unix:///var/run/docker.sock", "-H", "tcp://0.0.0.0:2375"],
        )
        node.load_image(BASE_IMAGE, STUB)
        yield node
    finally:
        if node is not None:
            node.remove()
        remove_network(network)


def set_live_restore(node: EngineNode, on: bool) -> None:
    """Restart the node's engine only if it runs in the other mode (restarts are slow)."""
    if getattr(node, "live_restore", False) != on:
        node.restart_engine(["--live-restore"] if on else [])
        node.live_restore = on


def started_at(node: EngineNode, name: str) -> str:
    info = json.loads(node.docker("inspect", name).stdout)[0]
    assert info["State"]["Running"], f"{name} is not running"
    return info["State"]["StartedAt"]


def answers(hub, user: str) -> bool:
    try:
        return hub.user_get(user, "").headers.get("Server", "").startswith("SimpleHTTP")
    except OSError:
        return False


def wait_for(what: str, condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


@pytest.fixture
def remote_hub(make_hub, engine):
    return make_hub(SERVER, env={"DOCKER_HOST": f"tcp://{engine.ip}:2375"})


def test_without_live_restore_the_hub_marks_servers_stopped_and_they_start_again(
    engine, remote_hub, username
):
    set_live_restore(engine, False)
    remote_hub.spawn(username)

    engine.restart_engine([])  # the engine stops every container on its way down

    wait_for("the hub to mark the server stopped", lambda: not remote_hub.server_model(username))
    assert "stopped (exit code" in remote_hub.log_tail(300)
    remote_hub.spawn(username)  # the user starts again, on the restarted engine
    assert answers(remote_hub, username)
    remote_hub.stop_server(username)


def test_with_live_restore_servers_run_on_through_an_engine_restart(engine, remote_hub, username):
    set_live_restore(engine, True)
    remote_hub.spawn(username)
    container = user_container(username)
    before = started_at(engine, container)

    engine.restart_engine(["--live-restore"])

    assert started_at(engine, container) == before, "the same process ran on"
    assert answers(remote_hub, username)
    time.sleep(5)  # the hub is back on the event stream: nothing made it think otherwise
    assert remote_hub.server_model(username)["ready"]
    # and it follows the restarted engine's events: a death now is noticed
    engine.docker("kill", container)
    wait_for("the hub to notice the killed server", lambda: not remote_hub.server_model(username))
