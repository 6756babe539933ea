"""One shared view of the engine's containers, fed by its event stream.

dockerspawner asks the engine about every server on every poll (one call per server every
30 s, and a queue of them at hub start). Here one listing primes a cache of every container,
the Docker event stream keeps it current, and a periodic listing heals anything the stream
missed (a reconnect, a dropped event). ``poll()`` reads the cache: no API call per server.
A container that dies is reported to its spawner at once, so the hub notices within about
a second instead of at its next poll.

A listing (or an inspect) is a snapshot of when the engine made it, which may be older than
events applied while it was on its way (in a storm of starts, or with 500 containers to
list, seconds older). What changed since it was asked is kept as the events say: a listing
must not take a container that started meanwhile back to "created" (its server polled as
stopped, the hub forgot it and left it running), nor bring back one destroyed meanwhile,
and an inspect must not make one that died meanwhile run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .client import Engine, EventFeed
from .watch import View

_EXIT = re.compile(r"Exited \((-?\d+)\)")


@dataclass
class ContainerState:
    id: str
    name: str
    running: bool
    exit_code: int | None = None
    oom_killed: bool = False
    # a running container's labels and network settings from the last listing, shaped as
    # an inspect's ("Config"/"Labels", "NetworkSettings"), until its next start or death:
    # where a server is, without one call per server when a restarted hub checks them all
    listed: dict | None = None


DeathListener = Callable[[ContainerState], None]


class ContainerView(View[ContainerState]):
    """The engine's containers as last seen; shared by every spawner of a hub."""

    def __init__(self, engine: Engine, resync_interval: float = 60.0):
        super().__init__(engine)
        self.interval = resync_interval
        self._by_id: dict[str, ContainerState] = {}
        self._feed: EventFeed | None = None
        self._changes = 0  # how many changes events and our own actions have made
        self._changed: dict[str, int] = {}  # container id -> the change that last touched it
        self._asked: list[int] = []  # for each answer on its way: the changes when asked

    # -- reading --------------------------------------------------------------------------

    async def get(self, container_id: str) -> ContainerState | None:
        """The container's state; None if the engine does not have it."""
        await self.ensure_started()
        state = self._by_id.get(container_id)
        if state is None:
            # not ours by label (e.g. made by dockerspawner before a migration): ask once,
            # then the event stream keeps it current like the rest
            state = await self._inspect(container_id)
        return state

    def listed(self, container_id: str) -> dict | None:
        """The container's labels and addresses as the last listing saw them running (no
        call; None if unknown or started or stopped since, so the caller asks the engine)."""
        state = self._by_id.get(container_id)
        return state.listed if state is not None and state.running else None

    def may_have_name(self, name: str) -> bool:
        """Whether a container named ``name`` may exist: False only when the view has been
        listed and knows none of that name (events keep it current; one made since by
        someone else makes a create by that name fail with a conflict)."""
        if not self.listings:
            return True
        return any(state.name == name for state in self._by_id.values())

    def says_running(self, container_id: str) -> bool:
        """Whether the events seen so far say the container runs (no call; False if the
        view does not know, so the caller asks the engine)."""
        state = self._by_id.get(container_id)
        return state is not None and state.running

    # -- writing through our own actions ---------------------------------------------------

    def note(self, state: ContainerState) -> None:
        """Record what we just did (created, started), ahead of the event that confirms it."""
        self._by_id[state.id] = state
        self._touch(state.id)

    def forget(self, container_id: str) -> None:
        self._by_id.pop(container_id, None)
        self._touch(container_id)
        self.unwatch(container_id)

    def _touch(self, container_id: str) -> None:
        """Mark news about a container newer than any answer on its way."""
        if self._asked:  # nothing to mark when no answer is on its way
            self._changes += 1
            self._changed[container_id] = self._changes

    @contextlib.contextmanager
    def _asking(self) -> Iterator[Callable[[str], bool]]:
        """While a listing or an inspect is on its way: yields whether a container changed
        since it was asked (its answer is older than that change and must not undo it)."""
        began = self._changes
        self._asked.append(began)
        try:
            yield lambda container_id: self._changed.get(container_id, 0) > began
        finally:
            self._asked.remove(began)
            if not self._asked:
                self._changed.clear()  # no answer left to compare with

    # -- feeding ----------------------------------------------------------------------------

    async def _load(self) -> None:
        """Follow events first (nothing is missed between the listing and the stream), then
        list every container."""
        if self._feed is None:
            filters = {"type": ["container"]}
            self._feed = self.engine.watch_events(
                filters, self._event_from_thread, self._resync_soon
            )
        await self._refresh()

    def _stop_feeds(self) -> None:
        if self._feed is not None:
            self._feed.stop()
            self._feed = None

    def _resync_soon(self) -> None:
        """The event stream (re)opened: events before it may have been missed."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._refresh()))

    async def _refresh(self) -> None:
        with self._asking() as changed_since:
            listed = await self.engine.list_containers({})
            self._merge(listed, changed_since)

    def _merge(self, listed: list[dict], changed_since: Callable[[str], bool]) -> None:
        """Take a listing: what changed since it was asked is newer than it and stays; what
        the listing lost ran and is reported dead."""
        self.listings += 1
        seen = {cid: state for cid, state in self._by_id.items() if changed_since(cid)}
        for item in listed:
            if changed_since(item["Id"]):
                continue  # what the events say since is newer (and a removal stays one)
            running = item.get("State") == "running"
            match = _EXIT.search(item.get("Status", ""))
            seen[item["Id"]] = ContainerState(
                id=item["Id"],
                name=(item.get("Names") or ["/"])[0].lstrip("/"),
                running=running,
                exit_code=None if running else int(match.group(1)) if match else 0,
                listed={
                    "Config": {"Labels": item.get("Labels") or {}},
                    "NetworkSettings": item.get("NetworkSettings") or {},
                }
                if running
                else None,
            )
        for container_id, old in list(self._by_id.items()):
            new = seen.get(container_id)
            if old.running and (new is None or not new.running):
                self._report_death(new or ContainerState(container_id, old.name, False, 0))
        self._by_id = seen

    def _event_from_thread(self, event: dict) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._apply, event)

    def _apply(self, event: dict) -> None:
        container_id = event.get("id", "")
        action = event.get("Action") or event.get("status") or ""
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        state = self._by_id.get(container_id)
        self._touch(container_id)
        if action == "destroy":
            self._by_id.pop(container_id, None)
            if state is not None and state.running:
                self._report_death(ContainerState(container_id, state.name, False, 0))
            return
        if state is None:
            state = self._by_id[container_id] = ContainerState(
                container_id, attributes.get("name", ""), False
            )
        if action == "rename":
            state.name = attributes.get("name", state.name)
        if action in ("start", "die"):
            state.listed = None  # a started container may have a new address
        if action == "start":
            state.running, state.exit_code, state.oom_killed = True, None, False
        elif action == "oom":
            state.oom_killed = True
        elif action == "die":
            state.running = False
            state.exit_code = int(attributes.get("exitCode", 0) or 0)
            self._report_death(state)

    def _report_death(self, state: ContainerState) -> None:
        self._tell(state.id, state)

    async def _inspect(self, container_id: str) -> ContainerState | None:
        with self._asking() as changed_since:
            info = await self.engine.inspect_container(container_id)
            if info is not None and changed_since(info["Id"]):
                return self._by_id.get(info["Id"])  # events since are newer (None: removed)
        if info is None:
            return None
        state = ContainerState(
            id=info["Id"],
            name=info["Name"].lstrip("/"),
            running=bool(info["State"].get("Running")),
            exit_code=info["State"].get("ExitCode"),
            oom_killed=bool(info["State"].get("OOMKilled")),
        )
        self._by_id[state.id] = state
        self._touch(state.id)
        if container_id != state.id:  # looked up by name
            self._by_id.setdefault(container_id, state)
        return state
