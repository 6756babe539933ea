"""``hubdist doctor``: what is wrong with a deployment, and what to do about it.

Run on the host (``hubdist doctor``, in the checkout) or in the hub container
(``docker compose exec hub hubdist doctor``). Each check looks at one part (the engine and
its socket, the disk, the users' network, netguard and the kernel setting its rules need,
the images, the proxy's routes against the hub's servers, servers still in containers
adopted from dockerspawner, the database) and reports
findings: ok, a warning, a problem with what to do, or skipped with where to run it
instead. The exit status is 1 when there is a problem. On the host, the checks only the
hub container can make (its APIs, its database) are run there and their findings shown.

``CHECKS`` is the list run, in order; a new check is an ``async`` function
``(Deployment, Engine) -> list[Finding]`` appended to it (see findings.Check).
"""

from __future__ import annotations

from .command import CHECKS, main
from .findings import OK, PROBLEM, SKIPPED, WARNING, Check, Finding

__all__ = ["CHECKS", "OK", "PROBLEM", "SKIPPED", "WARNING", "Check", "Finding", "main"]
