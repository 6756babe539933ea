"""netguard: its container runs, its rules are in place, and the kernel passes bridged
traffic to them. On the host the firewall is looked at directly, with netguard's own code
and settings; in the hub container, which cannot see it, netguard's last report is read.
On a swarm the guards are asked (hubdist.doctor.swarmguards)."""

from __future__ import annotations

import time
from pathlib import Path

from ..engine import Engine
from ..netguard import Iptables, NetguardError
from ..netguard.command import guard_from_args, make_parser, problems_of
from ..spawners import guard as spawn_guard
from .deployment import HUB, Deployment
from .findings import OK, PROBLEM, SKIPPED, WARNING, Finding, named
from .swarmguards import check_swarm_guards

LOGS = "docker compose logs netguard"
PUT_BACK = (
    "netguard puts its rules back within 10 s while it runs: docker compose up -d netguard; "
    f"why they went (a firewall reload, iptables -F, a reboot): {LOGS}"
)


@named("netguard")
async def check_netguard(deployment: Deployment, engine: Engine) -> list[Finding]:
    if deployment.env.get("HUBDIST_SPAWNER") == "swarm":
        if not deployment.netguard_on:
            return [
                Finding(
                    "netguard",
                    WARNING,
                    "network isolation is off (HUBDIST_NETGUARD=off): users' servers can "
                    "reach each other, the swarm's nodes and private networks",
                    "HUBDIST_NETGUARD=on (or unset) where you run docker stack deploy, "
                    "then deploy the stack again",
                )
            ]
        return await check_swarm_guards(deployment, engine)
    if not deployment.netguard_on:
        return [
            Finding(
                "netguard",
                WARNING,
                "network isolation is off (HUBDIST_NETGUARD=off): users' servers can reach "
                "each other, this machine and private networks",
                "right only where the host's own firewall isolates containers; else "
                "HUBDIST_NETGUARD=on in .env, then ./hubdist-up",
            )
        ]
    if deployment.netguard is None:
        return _container(deployment)
    return _container(deployment) + _rules(deployment)


def _container(deployment: Deployment) -> list[Finding]:
    container = deployment.netguard
    if container is None:
        return [
            Finding(
                "netguard",
                PROBLEM,
                "no netguard container: nothing keeps the rules in "
                "place, and the hub starts no server",
                "docker compose up -d netguard",
            )
        ]
    state = container.get("State") or {}
    if not state.get("Running"):
        return [
            Finding(
                "netguard",
                PROBLEM,
                f"netguard is not running ({state.get('Status', 'stopped')}): its rules stay, "
                "but nothing puts them back if they go, and the hub starts no server",
                f"docker compose up -d netguard; why it stopped: {LOGS}",
            )
        ]
    health = (state.get("Health") or {}).get("Status")
    if health == "unhealthy":
        return [
            Finding(
                "netguard",
                PROBLEM,
                "netguard reports its rules NOT enforced (unhealthy)",
                f"its log says why: {LOGS}",
            )
        ]
    return []


def _rules(deployment: Deployment) -> list[Finding]:
    settings = deployment.netguard_env
    try:
        args = make_parser(environ=settings).parse_args([])
        guard = guard_from_args(args) if settings else None
    except (NetguardError, SystemExit) as exc:
        return [Finding("netguard", PROBLEM, f"netguard's settings are invalid: {exc}", LOGS)]
    try:
        ipt = Iptables(args.iptables)
    except NetguardError:
        return _reported(deployment)  # this process cannot see the host's firewall
    if guard is None:
        return [Finding("netguard", SKIPPED, "without a netguard container, its rules are unknown")]
    found = []
    for problem in problems_of(ipt, guard):
        if problem.startswith("rules missing"):
            found.append(Finding("netguard", PROBLEM, f"NOT ENFORCED: {problem}", PUT_BACK))
        else:  # the kernel: bridged traffic escapes iptables; the text says what to run
            found.append(
                Finding(
                    "netguard",
                    PROBLEM,
                    f"NOT ENFORCED: {problem}",
                    "run ./hubdist-up as root: it turns this on for good",
                )
            )
    return found or [
        Finding(
            "netguard",
            OK,
            f"rules in place and effective ({ipt.command}): users' "
            f"servers in {guard.users}, bridged traffic filtered",
        )
    ]


def _reported(deployment: Deployment) -> list[Finding]:
    """What netguard said at its last check (the status file the hub mounts)."""
    path = spawn_guard.expected_status_file(deployment.env)
    if not path or not Path(path).exists() and deployment.where != HUB:
        return [
            Finding(
                "netguard",
                SKIPPED,
                "the host's firewall is not visible here",
                "run hubdist doctor on the host as root to look at the rules",
            )
        ]
    problem = spawn_guard.status_problem(Path(path), time.time())
    if problem:
        return [Finding("netguard", PROBLEM, f"NOT ENFORCED: {problem}", PUT_BACK)]
    return [Finding("netguard", OK, "netguard reports its rules enforced (its last check)")]
