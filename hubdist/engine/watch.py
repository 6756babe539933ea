"""The shared base of the engine's views: one per engine, a first load that is tried again
until it works, a follower that keeps the view current, listeners told when a server
ends, and a stop that ends it all.

:class:`hubdist.engine.containers.ContainerView` follows the event stream of containers,
:class:`hubdist.engine.swarm.SwarmView` lists Swarm's tasks and nodes every second. Both
are read by every spawner's ``poll()`` so that a poll costs no Docker call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

State = TypeVar("State")
Listener = Callable[[State], None]

log = logging.getLogger("hubdist.engine.watch")


class View(Generic[State]):
    """What one engine says about users' servers, kept current; subclasses say how."""

    #: one view per engine and subclass (every spawner of a hub shares it)
    _registry: ClassVar[dict[tuple[type, int], View]] = {}

    def __init__(self, engine: Any):
        self.engine = engine
        self.listings = 0  # full listings made (for tests and benchmarks)
        self._listeners: dict[str, Listener] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loaded: asyncio.Future | None = None  # the first load
        self._follower: asyncio.Future | None = None  # everything after it

    @classmethod
    def of(cls, engine: Any, **settings: Any):
        """The engine's one view of this kind, made on first use."""
        key = (cls, id(engine))
        view = cls._registry.get(key)
        if view is None:
            view = cls._registry[key] = cls(engine, **settings)
        return view

    # -- life cycle -----------------------------------------------------------------------

    async def ensure_started(self) -> None:
        """Load the view (again, if the last try failed: the engine may have been down) and
        keep it current; returns once it is loaded, raises if this load fails."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): start afresh on it
            self._loop, self._loaded, self._follower = loop, None, None
        if self._loaded is None or (
            self._loaded.done() and (self._loaded.cancelled() or self._loaded.exception())
        ):
            self._loaded = asyncio.ensure_future(self._load())
        if self._follower is None:
            self._follower = asyncio.ensure_future(self._follow())
        await asyncio.shield(self._loaded)

    async def stop(self) -> None:
        """Stop following (and the subclass's own feeds); the next ensure_started starts
        again."""
        for task in (self._follower, self._loaded):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        self._follower = self._loaded = None
        self._stop_feeds()

    @property
    def following(self) -> bool:
        return self._follower is not None and not self._follower.done()

    async def _follow(self) -> None:
        """Refresh every ``interval`` seconds, keeping the last view when a refresh fails."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._refresh()
            except Exception as exc:  # the engine may be restarting
                self._refresh_failed(exc)

    def _refresh_failed(self, exc: Exception) -> None:
        log.warning("%s: listing failed (%s); keeping the last view", type(self).__name__, exc)

    # -- what subclasses provide ----------------------------------------------------------

    interval: float = 60.0

    async def _load(self) -> None:
        """The first load (a subclass may start feeds before it)."""
        await self._refresh()

    async def _refresh(self) -> None:
        raise NotImplementedError

    def _stop_feeds(self) -> None:
        """End whatever the subclass started besides the follower (an event thread)."""

    # -- listeners ------------------------------------------------------------------------

    def watch(self, key: str, listener: Listener) -> None:
        """Call ``listener`` (in the event loop) when the server ``key`` stops running."""
        self._listeners[key] = listener

    def unwatch(self, key: str) -> None:
        self._listeners.pop(key, None)

    def _tell(self, key: str, state: State, once: bool = False) -> None:
        """Tell ``key``'s listener that its server ended; a failing listener is logged."""
        listener = self._listeners.pop(key, None) if once else self._listeners.get(key)
        if listener is None:
            return
        try:
            listener(state)
        except Exception:
            log.exception("%s: listener for %s failed", type(self).__name__, key)
