"""The hubdist spawners. DockerSpawner: one container per server on one engine."""

from .docker import DockerSpawner

__all__ = ["DockerSpawner"]
