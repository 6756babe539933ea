"""Fail closed on a swarm: a server answers nobody before its node's guard has its rules in.

Each node's ``hubdist netguard --swarm`` (hubdist.netguard.namespaces) puts the rules
inside the network namespace of every user's server on its node, and answers
``GET /containers/<id>`` on a network only the hub and the guards share. Once a task
runs, the spawner asks every guard that ``netguard_address`` resolves to (on a stack
``tasks.netguard``: each guard task's own address) and goes on only when the guard of
the task's node says the task's container is guarded; otherwise it waits up to
``netguard_wait`` seconds, then fails the spawn naming the node and the reason, and the
service is removed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from traitlets import Float, HasTraits, Unicode

from ..netguard.namespaces import ask_guard, guard_addresses, split_guard_address

SEE_LOGS = "see: docker service ps <stack>_netguard; docker service logs <stack>_netguard"

Targets = list[tuple[str, int]]
#: a guard task's container runs in these states ("starting": its health check has not
#: passed yet, so Docker's DNS does not name it, but it answers and guards already)
GUARD_RUNS = {"starting", "running"}


async def guard_problem(
    address: str,
    node_id: str,
    node: str,
    container_id: str,
    on_the_node: Callable[[], Awaitable[Targets]] | None = None,
) -> str:
    """Why the container is not known guarded on its node; "" if it is.

    The guards are found by name (tasks.netguard); ``on_the_node`` finds the node's guard
    in the swarm's own task list, asked only when the name gives none of that node: the
    name lacks a guard whose health check has not passed yet (a node just reactivated or
    joined), and after a node is declared down and comes back Docker's DNS can lack its
    tasks for minutes while they are reachable at their addresses (moby/moby#53141)."""
    failures: list[str] = []
    try:
        targets = await guard_addresses(address)
    except ValueError as exc:
        return f"no network guard found at {address} ({exc}); {SEE_LOGS}"
    except OSError as exc:  # the name has no task at all: the task list may
        targets, failures = [], [f"{address}: {exc}"]
    verdict = await node_verdict(targets, node_id, node, container_id, failures)
    if verdict is None and on_the_node:
        more = [target for target in await on_the_node() if target not in targets]
        targets += more
        verdict = await node_verdict(more, node_id, node, container_id, failures)
    if verdict is not None:
        return verdict
    if not targets:
        return f"no network guard found at {address} ({'; '.join(failures)}); {SEE_LOGS}"
    failed = f" ({'; '.join(failures)})" if failures else ""
    return (
        f"no network guard on node {node}: none of the {len(targets)} guard(s) at {address} "
        f"or in the swarm's task list is that node's{failed}; {SEE_LOGS}"
    )


def guards_in_tasks(tasks: list[dict], address: str) -> Targets:
    """The (address, port) of each guard whose container runs, among a node's swarm tasks:
    those on a network where they answer to the guards' name (tasks.netguard: the alias
    netguard)."""
    host, port = split_guard_address(address)
    alias = host.removeprefix("tasks.")
    found = []
    for task in tasks:
        if ((task.get("Status") or {}).get("State")) not in GUARD_RUNS:
            continue
        networks = (task.get("Spec") or {}).get("Networks") or []
        named = {n.get("Target") for n in networks if alias in (n.get("Aliases") or [])}
        for attachment in task.get("NetworksAttachments") or []:
            network = attachment.get("Network") or {}
            # the engine stores the target as the network's ID; a name is taken too
            if {network.get("ID"), (network.get("Spec") or {}).get("Name")} & named:
                for cidr in attachment.get("Addresses") or []:
                    found.append((cidr.split("/")[0], port))
    return found


async def node_verdict(
    targets: Targets,
    node_id: str,
    node: str,
    container_id: str,
    failures: list[str],
    timeout: float = 10,
) -> str | None:
    """Ask every guard at once and take the answers as they come: the guard of the task's
    node decides as soon as it answers ("" guarded, else why not). None: no guard asked
    is that node's (the unreachable ones are added to ``failures``). A guard that does
    not answer (its node frozen, cut off) holds up nobody: its question is left to time
    out on its own."""
    asked = [
        asyncio.ensure_future(ask_guard(host, port, f"/containers/{container_id}", timeout))
        for host, port in targets
    ]
    for question in asked:  # a question still open when we return is ended by its timeout
        question.add_done_callback(lambda q: q.cancelled() or q.exception())
    for next_answer in asyncio.as_completed(asked):
        try:
            answer = await next_answer
        except Exception as exc:  # that guard is unreachable or broken: the others decide
            failures.append(str(exc) or type(exc).__name__)
            continue
        if answer.get("node_id") == node_id:
            if answer.get("guarded") is True:
                return ""
            return f"the network guard on node {node} has not guarded it: {answer.get('problem')}"
    return None


class SwarmGuardGate(HasTraits):
    """The options SwarmSpawner checks before a running task may answer."""

    netguard_address = Unicode(
        "",
        config=True,
        help="""HOST:PORT of the nodes' network guards (`hubdist netguard --swarm`): a name
        resolving to every guard task's address, as tasks.netguard:8091 does on a stack.
        When set, a server is let answer only once the guard of its node has put the
        isolation rules in its network namespace; otherwise, after netguard_wait seconds,
        the spawn fails saying which node lacks a working guard. Empty: no check. The
        stack sets it from HUBDIST_NETGUARD_ADDRESS unless HUBDIST_NETGUARD=off.""",
    )

    netguard_wait = Float(
        30.0,
        config=True,
        help="""Seconds a start waits for its node's guard to report the server guarded
        before it fails (the guard reacts to the container's start at once).""",
    )

    async def wait_for_swarm_guard(self, task: dict, node: str, poll: float = 0.5) -> None:
        if not self.netguard_address:
            return
        from .failure import SpawnFailed

        self.emit_progress(82, f"Waiting for the network guard on node {node}")
        deadline = time.monotonic() + self.netguard_wait
        while True:
            status = (task or {}).get("Status") or {}
            container_id = (status.get("ContainerStatus") or {}).get("ContainerID")
            if container_id:
                node_id = task.get("NodeID", "")
                problem = await guard_problem(
                    self.netguard_address, node_id, node, container_id,
                    on_the_node=lambda node_id=node_id: self._guards_on_node(node_id),
                )  # fmt: skip
            else:  # not in the task's status yet
                problem = "the task's container is not known yet"
                task = await self._current_task()
            if not problem:
                return
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(poll)
        self.log.error("Not starting %s: network isolation: %s", self._log_name, problem)
        raise SpawnFailed(
            "Your server was not started: the network isolation of users' servers is not "
            f"enforced on its node, so it would be exposed to other users. An admin must "
            f"fix: {problem}"
        )

    async def _guards_on_node(self, node_id: str) -> Targets:
        """The node's guard as the swarm's task list has it (one engine call)."""
        from ..engine.client import EngineError

        try:
            tasks = await self.engine.node_tasks(node_id)
        except EngineError as exc:
            self.log.warning("Cannot list the tasks on node %s: %s", node_id, exc)
            return []
        return guards_in_tasks(tasks, self.netguard_address)
