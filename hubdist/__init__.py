"""hubdist: a batteries-included JupyterHub distribution for Docker.

``c.JupyterHub.spawner_class = "hubdist.DockerSpawner"`` (or the entry point name
``hubdist-docker``) selects the container spawner.
"""

__version__ = "0.2.0.dev0"


def __getattr__(name: str):
    # spawners import jupyterhub; keep `import hubdist` (and the CLI) light without it
    if name in ("DockerSpawner", "SwarmSpawner", "SystemUserSpawner"):
        from . import spawners

        return getattr(spawners, name)
    raise AttributeError(name)
