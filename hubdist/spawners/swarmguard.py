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


#: seconds the guards found by name have to decide before the swarm's task list is asked
#: as well: a frozen node's guard stays in the name and never answers (its question ends at
#: its time-out, 10 s), while the guard of the task's node may be missing from the name
NAMED_GUARDS_PATIENCE = 1.0


async def guard_problem(
    address: str,
    node_id: str,
    node: str,
    container_id: str,
    on_the_node: Callable[[], Awaitable[Targets]] | None = None,
) -> str:
    """Why the container is not known guarded on its node; "" if it is.

    The guards are found by name (tasks.netguard); ``on_the_node`` finds the node's guard
    in the swarm's own task list, asked only when the guards the name gives have not
    decided (none of them is that node's, or one has not answered within
    NAMED_GUARDS_PATIENCE): the name lacks a guard whose health check has not passed yet
    (a node just reactivated or joined), and after a node is declared down and comes back
    Docker's DNS can lack its tasks for minutes while they are reachable at their
    addresses (moby/moby#53141). Questions still open then stay in the race."""
    failures: list[str] = []
    try:
        targets = await guard_addresses(address)
    except ValueError as exc:
        return f"no network guard found at {address} ({exc}); {SEE_LOGS}"
    except OSError as exc:  # the name has no task at all: the task list may
        targets, failures = [], [f"{address}: {exc}"]
    questions = ask_guards(targets, container_id)
    patience = NAMED_GUARDS_PATIENCE if on_the_node else None
    verdict = await first_verdict(questions, node_id, node, failures, patience)
    if verdict is None and on_the_node:
        more = [target for target in await on_the_node() if target not in targets]
        targets += more
        questions |= ask_guards(more, container_id)
        verdict = await first_verdict(questions, node_id, node, failures)
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


def ask_guards(targets: Targets, container_id: str, timeout: float = 10) -> set[asyncio.Future]:
    """Ask every guard at once whether it guards the container. A question still open
    when nobody waits for it any more is ended by its time-out."""
    asked = {
        asyncio.ensure_future(ask_guard(host, port, f"/containers/{container_id}", timeout))
        for host, port in targets
    }
    for question in asked:
        question.add_done_callback(lambda q: q.cancelled() or q.exception())
    return asked


async def first_verdict(
    questions: set[asyncio.Future],
    node_id: str,
    node: str,
    failures: list[str],
    patience: float | None = None,
) -> str | None:
    """Take the answers as they come: the guard of the task's node decides as soon as it
    answers ("" guarded, else why not). None: no guard that answered is that node's (the
    unreachable ones are added to ``failures``), or ``patience`` seconds passed first; the
    questions not answered yet are left in ``questions``. A guard that does not answer
    (its node frozen, cut off) holds up nobody once its node's guard has answered."""
    loop = asyncio.get_running_loop()
    deadline = None if patience is None else loop.time() + patience
    while questions:
        left = None if deadline is None else max(0.0, deadline - loop.time())
        done, _ = await asyncio.wait(questions, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            return None
        for question in done:
            questions.discard(question)
            if question.exception() is not None:  # unreachable or broken: the others decide
                failures.append(str(question.exception()) or type(question.exception()).__name__)
                continue
            answer = question.result()
            if answer.get("node_id") == node_id:
                if answer.get("guarded") is True:
                    return ""
                problem = answer.get("problem")
                return f"the network guard on node {node} has not guarded it: {problem}"
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
