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

from traitlets import Float, HasTraits, Unicode

from ..netguard.namespaces import ask_guard, guard_addresses

SEE_LOGS = "see: docker service ps <stack>_netguard; docker service logs <stack>_netguard"


async def guard_problem(address: str, node_id: str, node: str, container_id: str) -> str:
    """Why the container is not known guarded on its node; "" if it is."""
    try:
        targets = await guard_addresses(address)
    except (OSError, ValueError) as exc:
        return f"no network guard found at {address} ({exc}); {SEE_LOGS}"
    return await ask_guards(targets, address, node_id, node, container_id)


async def ask_guards(
    targets: list[tuple[str, int]],
    address: str,
    node_id: str,
    node: str,
    container_id: str,
    timeout: float = 10,
) -> str:
    """Ask every guard at once and take the answers as they come: the guard of the task's
    node decides as soon as it answers. A guard that does not answer (its node frozen, cut
    off) holds up nobody: its question is left to time out on its own."""
    asked = [
        asyncio.ensure_future(ask_guard(host, port, f"/containers/{container_id}", timeout))
        for host, port in targets
    ]
    for question in asked:  # a question still open when we return is ended by its timeout
        question.add_done_callback(lambda q: q.cancelled() or q.exception())
    failures = []
    for next_answer in asyncio.as_completed(asked):
        try:
            answer = await next_answer
        except Exception as exc:  # that guard is unreachable or broken: the others decide
            failures.append(str(exc))
            continue
        if answer.get("node_id") == node_id:
            if answer.get("guarded") is True:
                return ""
            return f"the network guard on node {node} has not guarded it: {answer.get('problem')}"
    failed = f" ({'; '.join(failures)})" if failures else ""
    return (
        f"no network guard on node {node}: none of the {len(targets)} guard(s) at {address} "
        f"is that node's{failed}; {SEE_LOGS}"
    )


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
                problem = await guard_problem(
                    self.netguard_address, task.get("NodeID", ""), node, container_id
                )
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
