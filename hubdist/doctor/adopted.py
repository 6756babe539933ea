"""Servers the hub adopted from dockerspawner (docs/migrating.md) that still run in the
container dockerspawner made: outside hubdist's network, so netguard does not isolate them,
until their user's next start makes hubdist's own container."""

from __future__ import annotations

import asyncio

import requests

from ..engine import Engine
from ..spawners.ownership import made_by_hubdist
from .deployment import Deployment, environment
from .findings import OK, PROBLEM, WARNING, Finding, named
from .routes import hub_servers, needs_api

MOVE = (
    "it moves onto hubdist's network, under netguard, at the user's next start: ask them "
    "to restart it (File > Hub Control Panel: Stop My Server, Start My Server) or stop it "
    "from the admin page; their files stay in their volumes. The old container is kept, "
    "stopped, until you remove it (docs/migrating.md)"
)


@named("adopted")
async def check_adopted(deployment: Deployment, engine: Engine) -> list[Finding]:
    missing = needs_api("adopted", deployment, proxy=False)
    if missing:
        return missing
    try:
        servers = await asyncio.to_thread(hub_servers, deployment)
    except requests.RequestException as exc:
        advice = "is the hub up? docker compose ps; docker compose logs hub"
        return [Finding("adopted", PROBLEM, f"cannot list the hub's servers: {exc}", advice)]
    running = {path.rstrip("/"): owner for path, owner in servers.items()}
    findings = []
    for item in await engine.list_containers():
        if item.get("State") != "running" or made_by_hubdist(item.get("Labels")):
            continue
        info = await engine.inspect_container(item["Id"])
        prefix = environment(info).get("JUPYTERHUB_SERVICE_PREFIX", "").rstrip("/")
        if info is None or prefix not in running:
            continue
        name = info["Name"].lstrip("/")
        networks = ", ".join(sorted(info["NetworkSettings"].get("Networks") or {}))
        findings.append(
            Finding(
                "adopted",
                WARNING,
                f"{running[prefix]}'s server runs in {name}, a container hubdist did not make "
                f"(dockerspawner's, adopted), on {networks or 'no network'}, not on "
                f"{deployment.network}: netguard does not isolate it",
                MOVE,
            )
        )
    return findings or [
        Finding("adopted", OK, "every running server is in a container hubdist made")
    ]
