"""netguard on a swarm: every node that may get servers has a guard that answers, each
guard knows the other nodes' addresses, and each node is on the users' network already.

Run in the hub's container on the manager (``docker exec`` into the stack's hub): it asks
the guards as the hub does (their name, then the swarm's task list, node by node) for
their ``/health``: their node and the nodes whose addresses they have learned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine import Engine
from ..engine.swarm import hostname, takes_tasks
from ..netguard.namespaces import ask_healths, guard_addresses
from ..spawners.swarmguard import guards_in_tasks
from .deployment import Deployment
from .findings import OK, PROBLEM, WARNING, Finding

STACK_LABEL = "com.docker.stack.namespace"


@dataclass
class SwarmNode:
    """What the check knows of one node that may get servers (ready, active)."""

    node_id: str
    name: str
    on_users_network: bool = False
    guard: dict | None = None  # its guard's /health answer, if one answered
    unanswered: list[str] = field(default_factory=list)  # its guards that did not answer


async def check_swarm_guards(deployment: Deployment, engine: Engine) -> list[Finding]:
    address = deployment.env.get("HUBDIST_NETGUARD_ADDRESS", "")
    stack = ((deployment.hub or {}).get("Config") or {}).get("Labels", {}).get(STACK_LABEL)
    if not address:
        return [
            Finding(
                "netguard",
                WARNING,
                "HUBDIST_NETGUARD_ADDRESS is empty: the hub lets servers answer without "
                "asking their node's guard whether they are isolated",
                "set it to the guards' name, as docker-stack.yml does (tasks.netguard:8091), "
                "and run a guard on every node (its netguard service)",
            )
        ]
    nodes = await nodes_that_get_servers(engine)
    for node in nodes:
        tasks = await engine.node_tasks(node.node_id)
        node.on_users_network = deployment.network in networks_of(tasks)
        await ask_node_guards(node, guards_in_tasks(tasks, address))
    await ask_named_guards(nodes, address)
    return swarm_guard_findings(nodes, stack or "<stack>")


async def nodes_that_get_servers(engine: Engine) -> list[SwarmNode]:
    return [
        SwarmNode(node["ID"], hostname(node) or node["ID"])
        for node in await engine.swarm_nodes()
        if takes_tasks(node)
    ]


def networks_of(tasks: list[dict]) -> set[str]:
    """The networks the node's running tasks are on, by name: those it has joined."""
    found = set()
    for task in tasks:
        if (task.get("Status") or {}).get("State") != "running":
            continue
        for attachment in task.get("NetworksAttachments") or []:
            found.add(((attachment.get("Network") or {}).get("Spec") or {}).get("Name"))
    return found


async def ask_node_guards(node: SwarmNode, targets: list[tuple[str, int]]) -> None:
    answers = await ask_healths(targets, 5)
    for (host, port), answer in zip(targets, answers, strict=True):
        if isinstance(answer, BaseException):
            node.unanswered.append(f"{host}:{port} ({answer or type(answer).__name__})")
        elif answer.get("node_id") == node.node_id:
            node.guard = answer


async def ask_named_guards(nodes: list[SwarmNode], address: str) -> None:
    """The guards the name gives, for nodes whose guard the task list did not give."""
    missing = {node.node_id: node for node in nodes if node.guard is None}
    if not missing:
        return
    try:
        targets = await guard_addresses(address)
    except (OSError, ValueError):
        return
    for answer in await ask_healths(targets, 5):
        if isinstance(answer, dict) and answer.get("node_id") in missing:
            missing[answer["node_id"]].guard = answer


def swarm_guard_findings(nodes: list[SwarmNode], stack: str) -> list[Finding]:
    """Pure: the findings for what was asked of each node."""
    logs = f"docker service ps {stack}_netguard; docker service logs {stack}_netguard"
    found = []
    unguarded = [node for node in nodes if node.guard is None]
    for node in unguarded:
        why = f" (did not answer: {'; '.join(node.unanswered)})" if node.unanswered else ""
        found.append(
            Finding(
                "netguard",
                PROBLEM,
                f"no network guard answers on node {node.name}{why}: the hub refuses new "
                "servers there (they would not be isolated)",
                f"see why: {logs}",
            )
        )
    ids = {node.node_id: node.name for node in nodes}
    for node in nodes:
        if node.guard is None:
            continue
        unknown = sorted(ids[i] for i in ids.keys() - {node.node_id} - set(node.guard["knows"]))
        if unknown:
            found.append(
                Finding(
                    "netguard",
                    WARNING,
                    f"the guard on node {node.name} has not learned the addresses of "
                    f"{', '.join(unknown)}: servers on {node.name} can reach services on "
                    "those machines' public addresses",
                    "the guards ask each other every 10 s; if this stays, look for "
                    f"'did not answer' in: docker service logs {stack}_netguard",
                )
            )
    off_network = [node.name for node in nodes if not node.on_users_network]
    if off_network:
        found.append(
            Finding(
                "netguard",
                WARNING,
                f"not on the users' network yet: {', '.join(off_network)}. A node joins it "
                "with its first task there, and that join waits up to 30 s for any node "
                "that hangs: the first server there may be slow to start",
                "run a task on that network on every node, as docker-stack.yml's anchor "
                f"service does (docs/swarm.md); if yours has one: docker service ps "
                f"{stack}_anchor",
            )
        )
    if not found:
        found.append(
            Finding(
                "netguard",
                OK,
                f"a network guard answers on each of the {len(nodes)} node(s) that take "
                "servers, each knows the others' addresses, and each is on the users' network",
            )
        )
    return found
