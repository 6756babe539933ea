"""dockerspawner's importable names, for configuration files written for it.

hubdist does not ship (or shadow) a package named ``dockerspawner``: a config that imports
it is refused with the line to write instead (hubdist.config.dockerspawner_paths), which
points here. ``import hubdist.dockerspawner_compat as dockerspawner`` keeps the rest of such
a file working unchanged (``dockerspawner.DockerSpawner``,
``dockerspawner.volumenamingstrategy.escaped_format_volume_name``).
"""

from ..spawners import DockerSpawner, SwarmSpawner, SystemUserSpawner
from . import volumenamingstrategy

__all__ = ["DockerSpawner", "SwarmSpawner", "SystemUserSpawner", "volumenamingstrategy"]
