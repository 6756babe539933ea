"""Which deployment the doctor looks at, and what its settings are.

In the hub container (``docker compose exec hub hubdist doctor``) that is the hub's own
environment and the compose project of its own container. On the host it is the compose
project's hub container, found by compose's labels, whose environment says the rest (the
network, the single-user image, netguard's switch): the doctor never needs the ``.env``
the deployment was started with.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import Engine
from .findings import PROBLEM, Finding

HOST, HUB = "host", "hub"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
#: the hash of the source an image was built from (docker-compose.yml, ./hubdist-up)
SOURCE_LABEL = "org.jupyter.hubdist.source"
#: what ./hubdist-up hashes (its source_hash), relative to the checkout
SOURCE_PATHS = (
    "Dockerfile",
    "setup.cfg",
    "pyproject.toml",
    "hubdist",
    "config",
    "images",
    "requirements",
)
HUB_API_URL = "http://127.0.0.1:8081/hub/api"  # the hub's own port, inside its container


@dataclass
class Deployment:
    """What the checks look at; discovered (:func:`discover`) or given (tests)."""

    where: str  # HOST or HUB: where the doctor runs
    project: str = "hubdist"  # the compose project
    env: Mapping[str, str] = field(default_factory=dict)  # the hub's environment
    hub: dict | None = None  # the hub container's inspect data, if found
    netguard: dict | None = None  # the netguard container's inspect data, if found
    source: str = ""  # the hash of this checkout's source ("" outside a checkout)
    proxy_api_url: str = ""
    proxy_token: str = ""
    hub_api_url: str = ""
    hub_token: str = ""
    db_url: str = ""
    min_free_bytes: int = 2 * 1024**3  # Docker's data root: less free is a problem
    min_free_fraction: float = 0.05
    findings: list[Finding] = field(default_factory=list)  # found while discovering

    @property
    def network(self) -> str:
        return self.env.get("HUBDIST_NETWORK") or "hubdist"

    @property
    def images(self) -> dict[str, str]:
        """The deployment's images by role: the hub's (its container's) and users'."""
        tag = self.env.get("HUBDIST_TAG") or "latest"
        hub = (self.hub or {}).get("Config", {}).get("Image") or f"hubdist/hub:{tag}"
        user = self.env.get("HUBDIST_SINGLEUSER_IMAGE") or f"hubdist/singleuser:{tag}"
        return {"hub": hub, "singleuser": user}

    @property
    def netguard_on(self) -> bool:
        return (self.env.get("HUBDIST_NETGUARD") or "on").strip().lower() != "off"

    @property
    def netguard_env(self) -> dict[str, str]:
        """The netguard container's settings (HUBDIST_NETGUARD_*), as its command reads them."""
        return environment(self.netguard)


def environment(container: dict | None) -> dict[str, str]:
    """A container's configured environment (``docker inspect``'s Config.Env) as a dict."""
    pairs = ((container or {}).get("Config") or {}).get("Env") or []
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def where_running() -> str:
    """HUB in the hub image (it has the default configuration there), else HOST."""
    from ..cli import IMAGE_CONFIG_FILE

    return HUB if IMAGE_CONFIG_FILE.is_file() else HOST


async def service_container(engine: Engine, project: str, service: str) -> dict | None:
    """The compose service's container (a running one first), inspected; None if none."""
    listed = await engine.list_containers({PROJECT_LABEL: project, SERVICE_LABEL: service})
    listed.sort(key=lambda c: c.get("State") != "running")
    return await engine.inspect_container(listed[0]["Id"]) if listed else None


async def discover(engine: Engine, where: str, project: str = "") -> Deployment:
    """The deployment seen from ``where``: the hub's own (HUB) or the project's (HOST)."""
    if where == HUB:
        return await _from_inside(engine)
    project = project or os.environ.get("COMPOSE_PROJECT_NAME") or "hubdist"
    deployment = Deployment(HOST, project, source=checkout_source())
    deployment.hub = await service_container(engine, project, "hub")
    deployment.netguard = await service_container(engine, project, "netguard")
    if deployment.hub is None:
        deployment.findings.append(
            Finding(
                "deployment",
                PROBLEM,
                f"no hub container of the compose project {project!r} on this engine",
                "bring it up with ./hubdist-up (or docker compose -p PROJECT up -d), or name "
                "the project with --project (docker compose ls lists them)",
            )
        )
    deployment.env = environment(deployment.hub)
    proxy = await service_container(engine, project, "proxy")
    for service, container in (("hub", deployment.hub), ("proxy", proxy)):
        state = (container or {}).get("State") or {}
        if container is not None and not state.get("Running"):
            deployment.findings.append(
                Finding(
                    "deployment",
                    PROBLEM,
                    f"the {service} container is not running ({state.get('Status', '?')})",
                    f"docker compose up -d {service}; why it stopped: docker compose logs "
                    f"{service}",
                )
            )
    return deployment


async def _from_inside(engine: Engine) -> Deployment:
    from ..services import secrets
    from . import access

    deployment = Deployment(HUB, env=dict(os.environ))
    # the container's host name is its short id, unless the compose file set another
    deployment.hub = await engine.inspect_container(socket.gethostname())
    labels = ((deployment.hub or {}).get("Config") or {}).get("Labels") or {}
    deployment.project = labels.get(PROJECT_LABEL) or deployment.env.get("HUBDIST_DEPLOYMENT", "")
    if deployment.project:
        deployment.netguard = await service_container(engine, deployment.project, "netguard")
    deployment.proxy_api_url = deployment.env.get("HUBDIST_PROXY_API_URL", "")
    deployment.hub_api_url = HUB_API_URL
    for attribute, spec in (
        ("proxy_token", secrets.PROXY_TOKEN),
        ("hub_token", secrets.DOCTOR_TOKEN),
    ):
        try:
            setattr(deployment, attribute, access.stored_secret(spec, deployment.env))
        except secrets.SecretError as exc:
            deployment.findings.append(Finding("secrets", PROBLEM, str(exc)))
    deployment.db_url = configured_db_url()
    return deployment


def configured_db_url(config_file: Path | None = None) -> str:
    """JupyterHub.db_url as the hub's configuration layers set it ("" if unreadable);
    ``config_file``: the hub's (default: the image's, else the checkout's)."""
    from ..cli import find_config_file, find_override_dir
    from ..config import inspect

    try:
        config_file = config_file or find_config_file()
    except SystemExit:
        return ""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        recorder = inspect.read(config_file, find_override_dir(config_file))  # it may say much
    return str(recorder.root.JupyterHub.get("db_url", "") or "")


def checkout_source(root: Path | None = None) -> str:
    """The hash ./hubdist-up labels the images with (its source_hash), of the checkout this
    package runs from; "" when it runs from an installed copy."""
    root = root or Path(__file__).resolve().parents[2]
    if not (root / "hubdist-up").is_file():
        return ""
    lines = []
    files = []
    for name in SOURCE_PATHS:
        path = root / name
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [p for p in found if "__pycache__" not in p.parts and p.suffix != ".pyc"]
    for path in sorted(files, key=lambda p: str(p.relative_to(root)).encode()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(root)}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()[:16]
