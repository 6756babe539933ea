"""The engine, its version, its socket and the disk of its data root."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from urllib.parse import urlparse

from ..engine import Engine
from ..engine.client import EngineError
from .deployment import HUB, Deployment
from .findings import OK, PROBLEM, SKIPPED, WARNING, Finding, named

#: the oldest engine hubdist is tested with: Docker 20.10, API 1.41
MIN_API = (1, 41)
DEFAULT_SOCKET = "/var/run/docker.sock"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


@named("socket")
async def check_socket(deployment: Deployment, engine: Engine) -> list[Finding]:
    """The engine's unix socket: there, a socket, usable by this user."""
    url = os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
    if not url.startswith("unix://"):
        return [
            Finding(
                "socket",
                SKIPPED,
                f"the engine is reached over {urlparse(url).scheme} "
                f"(DOCKER_HOST={url}), not a socket",
            )
        ]
    path = Path(url[len("unix://") :])
    mounted = " (compose mounts it: see the hub's volumes)" if deployment.where == HUB else ""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        advice = "start the engine (dockerd), or set DOCKER_HOST to where it listens" + mounted
        return [Finding("socket", PROBLEM, f"{path} does not exist", advice)]
    if not stat.S_ISSOCK(mode):
        advice = f"it must be dockerd's socket{mounted}; is dockerd configured to listen there?"
        return [Finding("socket", PROBLEM, f"{path} is not a socket", advice)]
    if not os.access(path, os.R_OK | os.W_OK):
        advice = "run as root or as a member of the docker group"
        return [Finding("socket", PROBLEM, f"{path} may not be used by this user", advice)]
    return [Finding("socket", OK, f"{path}")]


@named("engine")
async def check_engine(deployment: Deployment, engine: Engine) -> list[Finding]:
    """The engine answers, with an API hubdist supports."""
    try:
        version = await engine.version()
    except EngineError as exc:
        advice = (
            "start the Docker engine (dockerd; systemctl start docker), and check that this "
            "user may use it (root or the docker group)"
        )
        return [Finding("engine", PROBLEM, f"the Docker engine does not answer: {exc}", advice)]
    api = version.get("ApiVersion", "")
    text = f"Docker {version.get('Version', '?')} (API {api})"
    if _version(api) < MIN_API:
        advice = "upgrade Docker Engine to 20.10 or later (API 1.41)"
        return [Finding("engine", PROBLEM, f"{text} is older than hubdist supports", advice)]
    return [Finding("engine", OK, text)]


@named("disk")
async def check_disk(deployment: Deployment, engine: Engine) -> list[Finding]:
    """Free space where the engine keeps images, containers and volumes (users' files)."""
    root = (await engine.info()).get("DockerRootDir") or "/var/lib/docker"
    if deployment.where == HUB:
        return [
            Finding(
                "disk",
                SKIPPED,
                f"{root} is the host's; the hub container cannot see it",
                "run hubdist doctor on the host to check its free space",
            )
        ]
    try:
        usage = shutil.disk_usage(root)
    except OSError as exc:
        advice = "run hubdist doctor as root on the engine's host"
        return [Finding("disk", SKIPPED, f"cannot look at {root}: {exc.strerror}", advice)]
    free, fraction = usage.free, usage.free / usage.total
    text = f"{root}: {free / 1024**3:.1f} GiB free ({fraction:.0%})"
    advice = (
        "free space: docker image prune (unused images), docker builder prune (build cache), "
        "docker volume ls -f dangling=true (volumes no container uses, users' files among "
        "them: check before removing), or grow the disk"
    )
    if free < deployment.min_free_bytes or fraction < deployment.min_free_fraction:
        return [Finding("disk", PROBLEM, f"{text}: servers and pulls may fail", advice)]
    if fraction < 3 * deployment.min_free_fraction:
        return [Finding("disk", WARNING, f"{text}: running low", advice)]
    return [Finding("disk", OK, text)]
