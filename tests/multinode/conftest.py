"""One multi-node swarm for all multi-node tests: building it takes most of their time."""

from __future__ import annotations

import os
import time

import pytest

from ..hubrig import BASE_IMAGE, PREFIX, docker
from ..nodes import build_node_image
from .cluster import Cluster

# tests/run sets it; the e2e helpers reused here want it when pytest runs alone
os.environ.setdefault("HUBDIST_BASE_IMAGE", BASE_IMAGE)


@pytest.fixture(scope="session")
def cluster(engine_ready, tmp_path_factory):
    build_node_image()  # tests/run made it already; this only checks
    started = time.monotonic()
    made = Cluster.create(f"{PREFIX}-mn", tmp_path_factory.mktemp("multinode"))
    print(f"\nswarm of 3 nodes with the stack deployed in {time.monotonic() - started:.0f} s")
    yield made
    made.remove()
    left = {
        kind: [
            n
            for n in docker(*ls, "--format", "{{.Name}}").stdout.split()
            if n.startswith(made.stack)
        ]
        for kind, ls in {"volumes": ("volume", "ls"), "networks": ("network", "ls")}.items()
    }
    left["containers"] = docker("ps", "-aq", "--filter", f"name={made.stack}").stdout.split()
    assert not any(left.values()), f"left behind: {left}"
