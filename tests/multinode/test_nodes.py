"""The node library itself (tests/nodes.py): an engine in a container that can be restarted
under its containers, as a machine's engine is by an upgrade."""

from __future__ import annotations

from ..hubrig import BASE_IMAGE, PREFIX, docker
from ..nodes import EngineNode, make_network, remove_network


def test_a_nodes_engine_restarts_and_with_live_restore_keeps_its_containers(engine_ready):
    network = make_network(f"{PREFIX}-solo")
    node = EngineNode.start(f"{PREFIX}-solo", network, ["--live-restore"])
    try:
        node.load_image(BASE_IMAGE)
        container = node.docker("run", "-d", BASE_IMAGE, "sleep", "600").stdout.strip()
        engine_id = node.docker("info", "-f", "{{.ID}}").stdout

        node.restart_engine(["--debug"])

        assert node.docker("info", "-f", "{{.Debug}}").stdout.strip() == "true"
        running = node.docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip()
        assert running == "true", "live-restore kept the container through the restart"
        assert node.docker("info", "-f", "{{.ID}}").stdout == engine_id  # same engine data
    finally:
        node.remove()
        remove_network(network)
    assert docker("volume", "inspect", node.volume, check=False).returncode != 0
