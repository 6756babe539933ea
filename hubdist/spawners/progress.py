"""Progress events for the spawn-pending page.

``start()`` reports what it is doing; JupyterHub reads the events through
``Spawner.progress()`` while the spawn runs. Several readers (two browser tabs, the REST
progress stream) each see every event from the beginning.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator


class ProgressChannel:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self._changed = asyncio.Event()
        self._closed = False

    def reset(self) -> None:
        """Forget the last spawn's events (a new spawn starts)."""
        self.events = []
        self._closed = False

    def emit(self, progress: int, message: str) -> None:
        if self.events and self.events[-1]["message"] == message:
            return  # pull updates repeat; readers need only changes
        self.events.append({"progress": progress, "message": message})
        self._wake()

    def close(self) -> None:
        """No more events for this spawn; readers stop after the ones they have."""
        self._closed = True
        self._wake()

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
