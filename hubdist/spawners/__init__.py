"""The hubdist spawners.

DockerSpawner: one container per server on one engine. SwarmSpawner: one Swarm service per
server, across machines. SystemUserSpawner: containers that run as the host's own users with
their home directories.
"""

from __future__ import annotations

import importlib

# Each spawner loads JupyterHub's Spawner (and its ORM) when first asked for, so that the
# package's light modules (ownership, readiness, ...) load without it: `hubdist start`
# uses ownership at every start of the hub, before JupyterHub runs.
_MODULES = {"DockerSpawner": "docker", "SwarmSpawner": "swarm", "SystemUserSpawner": "systemuser"}

__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f".{_MODULES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
