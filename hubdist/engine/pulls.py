"""Image pulls as the spawners see them: progress counted from the engine's stream, and
one download per image however many spawns wait for it (the engine client streams it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("hubdist.engine")


@dataclass
class PullProgress:
    """Layer and byte counts of one image pull, updated from the engine's JSON stream."""

    image: str
    layers: dict[str, tuple[str, int, int]] = field(default_factory=dict)

    DONE = ("Pull complete", "Already exists", "Download complete")
    LAYER_STATES = DONE + (
        "Pulling fs layer", "Waiting", "Downloading", "Verifying Checksum", "Extracting",
    )  # fmt: skip

    def update(self, event: dict) -> None:
        layer = event.get("id")
        status = event.get("status", "")
        if not layer or status not in self.LAYER_STATES:  # image-level lines (tag, digest)
            return
        current, total = self.layers.get(layer, ("", 0, 0))[1:]
        detail = event.get("progressDetail") or {}
        if status == "Downloading":
            current, total = detail.get("current", current), detail.get("total", total)
        elif status in self.DONE:
            current = total
        self.layers[layer] = (status, current, total)

    @property
    def layers_done(self) -> int:
        return sum(1 for status, _, _ in self.layers.values() if status in self.DONE)

    @property
    def bytes_done(self) -> int:
        return sum(current for _, current, _ in self.layers.values())

    @property
    def bytes_total(self) -> int:
        return sum(total for _, _, total in self.layers.values())

    @property
    def fraction(self) -> float:
        if self.bytes_total:
            return min(1.0, self.bytes_done / self.bytes_total)
        return self.layers_done / len(self.layers) if self.layers else 0.0

    def describe(self) -> str:
        text = f"Pulling image {self.image}: {self.layers_done} of {len(self.layers)} layers"
        if self.bytes_total:
            text += f", {_mb(self.bytes_done)} of {_mb(self.bytes_total)} MB"
        return text


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


ProgressListener = Callable[[PullProgress], None]


class _Pull:
    """One running pull, shared by everyone who asked for the same image meanwhile."""

    def __init__(self, image: str):
        self.progress = PullProgress(image)
        self.listeners: list[ProgressListener] = []
        self.task: asyncio.Future | None = None

    def publish(self, event: dict) -> None:
        self.progress.update(event)
        for listener in list(self.listeners):
            try:
                listener(self.progress)
            except Exception:  # a listener's bug must not break the pull for others
                log.exception("pull progress listener failed")


class SharedPulls:
    """The pulls running now, by image: asking for an image already being pulled joins
    that download (and sees its progress) instead of starting another."""

    def __init__(self, stream: Callable[[str, Callable[[dict], None]], Awaitable[None]]):
        self._stream = stream  # pulls one image, handing each progress event to a callback
        self._running: dict[str, _Pull] = {}

    async def pull(self, image: str, on_progress: ProgressListener | None = None) -> None:
        job = self._running.get(image)
        if job is None:
            job = self._running[image] = _Pull(image)
            job.task = asyncio.ensure_future(self._stream(image, job.publish))
            job.task.add_done_callback(lambda _: self._running.pop(image, None))
        if on_progress:
            job.listeners.append(on_progress)
        try:
            await asyncio.shield(job.task)
        finally:
            if on_progress in job.listeners:
                job.listeners.remove(on_progress)
