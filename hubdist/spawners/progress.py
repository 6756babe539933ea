"""Progress events for the spawn-pending page.

``start()`` reports what it is doing; JupyterHub reads the events through
``Spawner.progress()`` while the spawn runs. Several readers (two browser tabs, the REST
progress stream) each see every event from the beginning.

It also times the start's phases, for the hub's metrics (hubdist.metrics): each phase
lasts until the next one begins, the last until the start ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from .. import metrics

#: the phases of a start, in order: checks before any work (network isolation, the name
#: prefix, limits), the image (a pull when missing), creating the container or service,
#: starting it (on Swarm: until a node runs the task), waiting until the server answers
PHASES = ("prepare", "image", "create", "start", "answer")


class ProgressChannel:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self._changed = asyncio.Event()
        self._closed = False
        self._began = self._phase_began = 0.0
        self._phase = ""

    def reset(self) -> None:
        """Forget the last spawn's events (a new spawn starts), and start timing it."""
        self.events = []
        self._closed = False
        self._began = time.monotonic()
        self._phase = ""
        self.phase(PHASES[0])

    def phase(self, name: str) -> None:
        """The start enters ``name`` (one of PHASES): the phase before it is over."""
        if name == self._phase:
            return
        self._end_phase("ok")
        self._phase, self._phase_began = name, time.monotonic()

    def emit(self, progress: int, message: str) -> None:
        if self.events and self.events[-1]["message"] == message:
            return  # pull updates repeat; readers need only changes
        self.events.append({"progress": progress, "message": message})
        self._wake()

    def close(self, ok: bool = True) -> None:
        """No more events for this spawn; readers stop after the ones they have. ``ok``:
        the server answers (else the start failed or was cancelled in its last phase)."""
        outcome = "ok" if ok else "failed"
        self._end_phase(outcome)
        if self._began:
            metrics.SPAWN_SECONDS.labels(outcome).observe(time.monotonic() - self._began)
            self._began = 0.0
        self._closed = True
        self._wake()

    def _end_phase(self, outcome: str) -> None:
        if self._phase:
            seconds = time.monotonic() - self._phase_began
            metrics.SPAWN_PHASE_SECONDS.labels(self._phase, outcome).observe(seconds)
            self._phase = ""

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self) -> AsyncIterator[dict]:
        sent = 0
        while True:
            while sent < len(self.events):
                yield self.events[sent]
                sent += 1
            if self._closed:
                return
            await self._changed.wait()
