"""What the guard found at its last check, written for the hub (hubdist.spawners.guard)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .ruleset import Guard


@dataclass
class Status:
    """What the guard found at its last check, for the hub (and admins) to read."""

    state: str  # "enforced", "not-enforced" or "off"
    problems: list[str]
    guard: str
    users_range: str
    checked: float  # time.time() of the check
    valid_until: float  # the hub trusts it no longer: the guard should have checked again

    def write(self, path: Path) -> None:
        """Atomically (a reader sees the old file or the new one), readable by the hub."""
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        text = json.dumps(self.__dict__, indent=1) + "\n"
        draft.write_text(text)
        draft.chmod(0o644)
        draft.replace(path)


def status_of(guard: Guard, problems: list[str], interval: float) -> Status:
    now = time.time()
    return Status(
        state="not-enforced" if problems else "enforced",
        problems=problems,
        guard=guard.name,
        users_range=str(guard.users),
        checked=now,
        # three missed checks, plus slack for a slow iptables
        valid_until=now + 3 * interval + 10,
    )
