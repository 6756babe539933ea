"""The proxy's routes against the hub's servers: every running server reachable, no route
left to a server that is gone (its address may be another user's server by now)."""

from __future__ import annotations

import asyncio

import requests

from ..engine import Engine
from .deployment import Deployment
from .findings import OK, PROBLEM, SKIPPED, Finding, named

RESYNC = (
    "the hub puts the routes right within 5 s of a proxy restart, and otherwise at its "
    "activity check (every 300 s, JupyterHub.last_activity_interval); if this stays: "
    "docker compose restart hub, and see docker compose logs hub proxy"
)


def needs_api(check: str, deployment: Deployment, proxy: bool = True) -> list[Finding]:
    """A finding of ``check`` saying why the hub's API (and the proxy's) cannot be asked
    from here; [] if they can."""
    if not (deployment.hub_api_url and (deployment.proxy_api_url or not proxy)):
        return [
            Finding(
                check,
                SKIPPED,
                "the proxy's and the hub's APIs are reached from the hub container",
                "docker compose exec hub hubdist doctor",
            )
        ]
    if not (deployment.hub_token and (deployment.proxy_token or not proxy)):
        return [
            Finding(
                check,
                SKIPPED,
                "the proxy's or the doctor's token was never made",
                "restart the hub once (docker compose restart hub): it makes them",
            )
        ]
    return []


@named("routes")
async def check_routes(deployment: Deployment, engine: Engine) -> list[Finding]:
    missing = needs_api("routes", deployment)
    if missing:
        return missing
    try:
        routes, servers = await asyncio.gather(
            asyncio.to_thread(proxy_routes, deployment), asyncio.to_thread(hub_servers, deployment)
        )
    except requests.RequestException as exc:
        return [
            Finding(
                "routes",
                PROBLEM,
                f"cannot compare routes: {exc}",
                "are the hub and the proxy up? docker compose ps; docker compose logs hub proxy",
            )
        ]
    return compare(routes, servers)


def compare(routes: dict[str, dict], servers: dict[str, str]) -> list[Finding]:
    """Findings for the proxy's ``routes`` against the hub's running ``servers`` (path:
    whose). configurable-http-proxy lists a route as path: {target, the hub's data: user,
    server_name or hub, and jupyterhub: true}."""
    findings = []
    if not any(route.get("hub") for route in routes.values()):
        findings.append(
            Finding(
                "routes", PROBLEM, "the proxy has no route to the hub: nobody can log in", RESYNC
            )
        )
    routed = {path.rstrip("/"): route for path, route in routes.items()}
    for path, whose in sorted(servers.items()):
        if path.rstrip("/") not in routed:
            findings.append(
                Finding(
                    "routes",
                    PROBLEM,
                    f"{whose}'s running server has no route ({path}): the user cannot reach it",
                    RESYNC,
                )
            )
    running = {path.rstrip("/") for path in servers}
    for path, route in sorted(routed.items()):
        if "user" in route and path not in running:
            findings.append(
                Finding(
                    "routes",
                    PROBLEM,
                    f"stale route {path or '/'} -> {route.get('target')} "
                    f"({route['user']}'s server, which the hub does not run): that address "
                    "may be another server by now",
                    RESYNC,
                )
            )
    return findings or [
        Finding("routes", OK, f"{len(servers)} running server(s), each routed; no stale route")
    ]


def proxy_routes(deployment: Deployment) -> dict[str, dict]:
    url = f"{deployment.proxy_api_url.rstrip('/')}/api/routes"
    headers = {"Authorization": f"token {deployment.proxy_token}"}
    answer = requests.get(url, headers=headers, timeout=10)
    answer.raise_for_status()
    return answer.json()


def hub_servers(deployment: Deployment) -> dict[str, str]:
    """The URL path of each server the hub runs (ready; not pending), with its owner."""
    headers = {
        "Authorization": f"token {deployment.hub_token}",
        "Accept": "application/jupyterhub-pagination+json",
    }
    url, offset, servers = f"{deployment.hub_api_url.rstrip('/')}/users", 0, {}
    while True:
        params = {"state": "ready", "offset": offset, "limit": 200}
        answer = requests.get(url, headers=headers, params=params, timeout=10)
        answer.raise_for_status()
        page = answer.json()
        for user in page["items"]:
            for name, server in (user.get("servers") or {}).items():
                if server.get("ready") and not server.get("pending"):
                    owner = f"{user['name']}/{name}" if name else user["name"]
                    servers[server["url"]] = owner
        following = (page.get("_pagination") or {}).get("next")
        if not following:
            return servers
        offset = following["offset"]
