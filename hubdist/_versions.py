"""The versions of the parts hubdist is built with, stated here and nowhere else.

Read by: the lock files (``requirements/refresh`` passes these pins to pip-compile, and the
Dockerfiles install from the locks), the spawners' default image, the benchmarks and the
tests (tests/unit/test_versions.py checks that every place agrees, setup.cfg's range too).
To move to another JupyterHub or JupyterLab, change it here, then run ``requirements/refresh``.

``python -m hubdist._versions`` prints the pins as a pip constraints file.
"""

from __future__ import annotations

# The hub and every single-user server run this JupyterHub: they must match.
JUPYTERHUB_VERSION = "6.1.1"
# The single-user image's JupyterLab.
JUPYTERLAB_VERSION = "4.6.6"
# configurable-http-proxy (npm), in the hub image. The Dockerfile's CHP_VERSION and tests/run
# cannot read this file: tests/unit/test_versions.py checks that they say the same.
CHP_VERSION = "5.3.0"


def minor(version: str) -> str:
    """``"6.1.1"`` -> ``"6.1"``: the tag of the matching public image series."""
    return ".".join(version.split(".")[:2])


def pins() -> str:
    """The pins as a pip constraints file."""
    return f"jupyterhub=={JUPYTERHUB_VERSION}\njupyterlab=={JUPYTERLAB_VERSION}\n"


if __name__ == "__main__":
    print(pins(), end="")
