"""Fail closed: no user's server starts while network isolation is not enforced.

The hub cannot see the host's firewall; ``hubdist netguard`` can, and writes what it found
at each check to a status file (hubdist.netguard.Status) in a volume the hub mounts
read-only. Before a start, the spawner reads it: "enforced" and not older than the guard
promised, or the start waits a little (the guard may be starting too) and then fails,
telling the user, and the admin in the log, why and what to do.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from pathlib import Path

from traitlets import Float, HasTraits, Unicode

#: where compose mounts the guard's status volume in the hub (docker-compose.yml)
STATUS_FILE_VARIABLE = "HUBDIST_NETGUARD_STATUS_FILE"
SEE_LOGS = "see: docker compose ps netguard; docker compose logs netguard"


def status_problem(path: Path, now: float) -> str | None:
    """Why the status file does not vouch for isolation now; None if it does."""
    try:
        status = json.loads(path.read_text())
    except FileNotFoundError:
        return f"the netguard service has not reported ({path} does not exist); {SEE_LOGS}"
    except (OSError, ValueError) as exc:
        return f"the netguard status file {path} cannot be read ({exc}); {SEE_LOGS}"
    if not isinstance(status, dict):
        return f"the netguard status file {path} holds no status; {SEE_LOGS}"
    state, problems = status.get("state"), status.get("problems") or []
    if state == "off":
        return (
            "netguard is off (HUBDIST_NETGUARD=off for the netguard service) while the hub "
            "expects it: set HUBDIST_NETGUARD the same for both (.env), then "
            "docker compose up -d"
        )
    if state != "enforced":
        return "; ".join(map(str, problems)) or f"netguard reports {state!r}; {SEE_LOGS}"
    valid_until, checked = status.get("valid_until"), status.get("checked")
    if not isinstance(valid_until, int | float) or now > valid_until:
        age = f"{now - checked:.0f} s old" if isinstance(checked, int | float) else "undated"
        return (
            f"netguard's last report is {age}: it has not checked again when it said it "
            f"would (is the service stopped?); {SEE_LOGS}"
        )
    return None


def expected_status_file(environ: Mapping[str, str]) -> str:
    """The status file the default config tells the spawner to check: the one compose
    mounts, unless netguard is switched off (HUBDIST_NETGUARD=off)."""
    if environ.get("HUBDIST_NETGUARD", "on").strip().lower() == "off":
        return ""
    return environ.get(STATUS_FILE_VARIABLE, "").strip()


#: where the stack tells the hub its nodes' guards answer (docker-stack.yml)
ADDRESS_VARIABLE = "HUBDIST_NETGUARD_ADDRESS"


def expected_guard_address(environ: Mapping[str, str]) -> str:
    """The swarm guards' HOST:PORT the default config gives SwarmSpawner (the one the
    stack sets), unless netguard is switched off (HUBDIST_NETGUARD=off)."""
    if environ.get("HUBDIST_NETGUARD", "on").strip().lower() == "off":
        return ""
    return environ.get(ADDRESS_VARIABLE, "").strip()


class NetguardGate(HasTraits):
    """Traits mixed into the container spawners; DockerSpawner (and SystemUserSpawner)
    check them before every start. SwarmSpawner asks its nodes' guards instead
    (hubdist.spawners.swarmguard)."""

    netguard_status_file = Unicode(
        "",
        config=True,
        help="""Status file written by `hubdist netguard --status-file`. When set, a server
        starts only while it says the isolation rules are enforced (in place, and bridged
        traffic filtered) and is fresh; otherwise the start waits netguard_wait seconds,
        then fails saying why. Empty: no check. The compose deployment sets it to
        /run/hubdist-netguard/status.json unless HUBDIST_NETGUARD=off.""",
    )
    netguard_wait = Float(
        30.0,
        config=True,
        help="""Seconds a start waits for netguard to report its rules enforced before it
        fails (netguard checks every 10 s).""",
    )

    async def wait_for_netguard(self, poll: float = 1.0) -> None:
        """Return once netguard vouches for isolation; raise SpawnFailed after the wait."""
        if not self.netguard_status_file:
            return
        from .failure import SpawnFailed

        path = Path(self.netguard_status_file)
        deadline = time.monotonic() + self.netguard_wait
        problem = status_problem(path, time.time())
        if problem:
            self.emit_progress(5, "Waiting for network isolation (netguard)")
        while problem and time.monotonic() < deadline:
            await asyncio.sleep(poll)
            problem = status_problem(path, time.time())
        if problem:
            self.log.error("Not starting %s: network isolation: %s", self._log_name, problem)
            raise SpawnFailed(
                "Your server was not started: the network isolation of users' servers is not "
                f"enforced, so it would be exposed to other users. An admin must fix: {problem}"
            )
