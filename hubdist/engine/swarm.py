"""One shared view of every user's Swarm service, refreshed by one listing every second.

The swarm counterpart of :mod:`hubdist.engine.containers`. Asking the manager about each
server on each poll costs one API call per server, and finds a server on a lost machine
only at the hub's next poll (30 s) or later. Here one filtered listing of the tasks of ALL
managed services plus one listing of the nodes, every ``interval`` seconds, feeds every
spawner's ``poll()`` (no API call per server). A server whose task ends, whose service
disappears, or whose node goes down is reported to its spawner at once, with the reason.

Swarm's event stream is not used: it has no task events (API 1.41), its node events would
gain at most a second, and a listing each second is cheap for a manager (it answers from
memory).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ..names import MANAGED
from .client import Engine
from .watch import View

TASK_ENDED = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}
NODE_LOST = {"down", "unknown", "disconnected"}


@dataclass(frozen=True)
class ServerState:
    """What Swarm says about one user's service, as of the last listing."""

    service_id: str
    task_id: str = ""
    state: str = ""  # the newest task's state (new ... running, failed, ...)
    node_id: str = ""
    node_name: str = ""
    node_state: str = ""  # ready, down, unknown, disconnected
    exit_code: int | None = None
    error: str = ""
    desired_state: str = ""

    @property
    def running(self) -> bool:
        return not self.end_reason()

    def end_reason(self) -> str:
        """Why the server is gone (user-facing), or "" while it runs or starts."""
        if self.node_state in NODE_LOST:
            return f"the machine it ran on ({self.node_name or self.node_id}) stopped answering"
        where = f" on {self.node_name}" if self.node_name else ""
        if self.state in TASK_ENDED:
            detail = f" with exit code {self.exit_code}" if self.exit_code else ""
            why = f": {self.error}" if self.error else ""
            return f"its task{where} ended ({self.state}{detail}){why}"
        if self.desired_state in ("shutdown", "remove") and self.state:
            # seen before the node is down, when its machine shuts down: say which one
            return f"Swarm shut its task{where} down"
        if not self.task_id:
            return "its service is gone"
        return ""


def hostname(node: dict) -> str:
    """A node's host name as Swarm reports it ("" if it reports none)."""
    return (node.get("Description") or {}).get("Hostname", "")


def takes_tasks(node: dict) -> bool:
    """Whether Swarm places new tasks on the node: it is ready and an admin left it active."""
    state = (node.get("Status") or {}).get("State")
    return state == "ready" and (node.get("Spec") or {}).get("Availability") == "active"


def summarize(tasks: list[dict], nodes: list[dict]) -> dict[str, ServerState]:
    """The newest task of each service, with its node's name and health."""
    node_info = {
        node["ID"]: (
            hostname(node),
            (node.get("Status") or {}).get("State", ""),
        )
        for node in nodes
    }
    newest: dict[str, dict] = {}
    for task in tasks:
        service = task.get("ServiceID", "")
        if service not in newest or task.get("CreatedAt", "") > newest[service].get(
            "CreatedAt", ""
        ):
            newest[service] = task
    states = {}
    for service, task in newest.items():
        status = task.get("Status") or {}
        node_id = task.get("NodeID", "")
        node_name, node_state = node_info.get(node_id, ("", ""))
        states[service] = ServerState(
            service_id=service,
            task_id=task.get("ID", ""),
            state=status.get("State", ""),
            node_id=node_id,
            node_name=node_name,
            node_state=node_state if node_id else "",
            exit_code=(status.get("ContainerStatus") or {}).get("ExitCode"),
            error=status.get("Err", ""),
            desired_state=task.get("DesiredState", ""),
        )
    return states


def ended(old: dict[str, ServerState], new: dict[str, ServerState]) -> list[ServerState]:
    """Servers that ran in ``old`` and no longer do in ``new`` (a gone service included)."""
    gone = []
    for service, before in old.items():
        if not before.running or before.state != "running":
            continue
        after = new.get(service, ServerState(service))
        if not after.running:
            gone.append(after)
    return gone


EndListener = Callable[[ServerState], None]


class SwarmView(View[ServerState]):
    """Every managed service's state as last listed; shared by all spawners of a hub."""

    def __init__(self, engine: Engine, interval: float = 1.0):
        super().__init__(engine)
        self.interval = interval
        self.nodes: dict[str, str] = {}  # node id -> host name
        self._states: dict[str, ServerState] = {}

    @classmethod
    def of(cls, engine: Engine, interval: float = 1.0) -> SwarmView:
        """The engine's one view; asked for with several intervals, it lists at the shortest."""
        view = super().of(engine, interval=interval)
        view.interval = min(view.interval, interval)
        return view

    async def get(self, service_id: str) -> ServerState | None:
        """The service's state, or None if the last listing did not have it."""
        await self.ensure_started()
        return self._states.get(service_id)

    async def _refresh(self) -> None:
        tasks, nodes = await asyncio.gather(
            self.engine.swarm_tasks(MANAGED), self.engine.swarm_nodes()
        )
        self.listings += 1
        self.nodes = {node["ID"]: hostname(node) for node in nodes}
        new = summarize(tasks, nodes)
        old, self._states = self._states, new
        for state in ended(old, new):
            self._tell(state.service_id, state, once=True)
