"""The users' network: there, with the subnet and range netguard's rules are made for."""

from __future__ import annotations

from ..engine import Engine
from .deployment import Deployment
from .findings import OK, PROBLEM, Finding, named

NET_VARIABLES = {"Subnet": "HUBDIST_NETGUARD_SUBNET", "IPRange": "HUBDIST_NETGUARD_USERS_RANGE"}


@named("network")
async def check_network(deployment: Deployment, engine: Engine) -> list[Finding]:
    name = deployment.network
    network = await engine.inspect_network(name)
    if network is None:
        advice = (
            "docker compose up -d makes it (./hubdist-up); if another deployment removed it, "
            "running servers lost their network: restart them from the admin page after that"
        )
        return [Finding("network", PROBLEM, f"the users' network {name!r} does not exist", advice)]
    configs = (network.get("IPAM") or {}).get("Config") or [{}]
    ipam = configs[0]
    text = (
        f"{name}: subnet {ipam.get('Subnet', '?')}, users' servers from {ipam.get('IPRange', '?')}"
    )
    findings = []
    guard = deployment.netguard_env
    if deployment.netguard_on and guard:
        for key, variable in NET_VARIABLES.items():
            wanted = guard.get(variable, "")
            if wanted and ipam.get(key) != wanted:
                findings.append(
                    Finding(
                        "network",
                        PROBLEM,
                        f"{name}'s {key} is {ipam.get(key) or 'not set'}, but netguard guards "
                        f"{wanted} ({variable}): users' servers are not where its rules look",
                        "the network was made with other settings (HUBDIST_NET_PREFIX): stop "
                        "users' servers, then docker compose down and ./hubdist-up, which "
                        "make it again",
                    )
                )
    hub_id = (deployment.hub or {}).get("Id")
    if hub_id and hub_id not in (network.get("Containers") or {}):
        findings.append(
            Finding(
                "network",
                PROBLEM,
                f"the hub is not on {name}: users' servers cannot reach its API",
                "docker compose up -d (it reattaches the hub), or docker network connect",
            )
        )
    return findings or [Finding("network", OK, text)]
