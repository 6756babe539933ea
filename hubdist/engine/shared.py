"""One question to the engine at a time, however many starts ask it at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class SharedAnswers:
    """Callers asking about a key while a call for it runs share that call's answer; an
    answer that ``keep`` accepts is shared for ``keep_for`` seconds more. A call made on
    another event loop (tests run several) is never awaited here: it is made again."""

    def __init__(self, keep_for: float = 0.0, keep: Callable[[Any], bool] = lambda answer: False):
        self.keep_for, self.keep = keep_for, keep
        self._calls: dict[Hashable, tuple[asyncio.AbstractEventLoop, float, asyncio.Future]] = {}

    async def ask(self, key: Hashable, call: Callable[[], Awaitable[Any]]) -> Any:
        loop = asyncio.get_running_loop()
        known = self._calls.get(key)
        if known is None or known[0] is not loop or not self._usable(known[1], known[2]):
            known = self._calls[key] = (loop, time.monotonic(), asyncio.ensure_future(call()))
        return await asyncio.shield(known[2])

    def forget(self, key: Hashable) -> None:
        """What was learned about ``key`` may have changed: the next caller asks again."""
        self._calls.pop(key, None)

    def _usable(self, asked_at: float, answer: asyncio.Future) -> bool:
        if not answer.done():
            return True
        return (
            time.monotonic() - asked_at < self.keep_for
            and not answer.cancelled()
            and answer.exception() is None
            and self.keep(answer.result())
        )
