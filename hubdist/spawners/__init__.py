"""The hubdist spawners.

DockerSpawner: one container per server on one engine. SwarmSpawner: one Swarm service per
server, across machines. SystemUserSpawner: containers that run as the host's own users with
their home directories.
"""

from .docker import DockerSpawner
from .swarm import SwarmSpawner
from .systemuser import SystemUserSpawner

__all__ = ["DockerSpawner", "SwarmSpawner", "SystemUserSpawner"]
