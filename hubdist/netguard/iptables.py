"""The host's side: the iptables binary dockerd uses, bridged filtering, connection
tracking."""

from __future__ import annotations

import ipaddress
import shlex
import shutil
import subprocess
from pathlib import Path

from .ruleset import Guard, NetguardError, chain_names, jumps_for, restore_script, rules, signature


class Iptables:
    """The iptables binary of the backend dockerd uses (nf_tables or legacy)."""

    def __init__(self, backend: str = "auto"):
        self.command = self.detect(backend)

    @staticmethod
    def detect(backend: str) -> str:
        """The binary that sees Docker's DOCKER-USER chain.

        Rules in the other backend would sit in tables the packets never meet. The legacy
        binary is asked only if legacy tables already exist: asking creates them.
        """
        if backend not in ("auto", "nft", "legacy"):
            raise NetguardError(f"--iptables {backend!r}: use auto, nft or legacy")
        candidates = [f"iptables-{backend}"] if backend != "auto" else ["iptables-nft"]
        if backend == "auto" and _legacy_tables_exist():
            candidates.append("iptables-legacy")
        if backend == "auto":
            candidates.append("iptables")
        for command in candidates:
            if shutil.which(command) and _run([command, "-w", "-S", "DOCKER-USER"]).returncode == 0:
                return command
        raise NetguardError(
            f"the DOCKER-USER chain was not found ({', '.join(candidates)} asked). "
            "The guard must run in the host's network namespace (compose: network_mode: host) "
            "with NET_ADMIN, on a host whose dockerd manages iptables (the default), and "
            "with the iptables package installed"
        )

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = _run([self.command, "-w", *args])
        if check and done.returncode != 0:
            raise NetguardError(f"{self.command} {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def restore(self, script: str) -> None:
        command = [f"{self.command}-restore", "--noflush", "-w"]
        done = subprocess.run(command, input=script, capture_output=True, text=True)
        if done.returncode != 0:
            raise NetguardError(f"{' '.join(command)} failed: {done.stderr.strip()}\n{script}")

    def missing_jumps(self, guard: Guard) -> list[str]:
        return [
            parent
            for parent, chain in jumps_for(guard.name).items()
            if self.run("-C", parent, "-j", chain, check=False).returncode != 0
        ]

    def intact(self, guard: Guard) -> bool:
        """Both chains hold exactly their rules, in order, and both jumps are there."""
        for chain, chain_rules in rules(guard).items():
            listed = self.run("-S", chain, check=False)
            if listed.returncode != 0:
                return False
            found = [signature(shlex.split(line)) for line in listed.stdout.splitlines()[1:]]
            if found != [signature(rule) for rule in chain_rules]:
                return False
        return not self.missing_jumps(guard)

    def apply(self, guard: Guard) -> None:
        self.restore(restore_script(guard, self.missing_jumps(guard)))

    def remove(self, name: str) -> None:
        """The named guard's jumps and chains, and nothing else; absent ones are fine."""
        for parent, chain in jumps_for(name).items():
            while self.run("-D", parent, "-j", chain, check=False).returncode == 0:
                pass  # a jump inserted twice by hand goes too
        for chain in chain_names(name):
            if self.run("-S", chain, check=False).returncode == 0:
                self.run("-F", chain)
                self.run("-X", chain)


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True)


def _legacy_tables_exist() -> bool:
    try:
        return bool(Path("/proc/net/ip_tables_names").read_text().split())
    except OSError:
        return False


#: 1 while bridged packets (container to container on one bridge) pass iptables
BRIDGE_SYSCTL = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
BRIDGE_FIX = (
    "On the Docker host, as root, run ./hubdist-up (it does this), or: "
    "modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1 "
    "and, to keep it after a reboot: echo br_netfilter > /etc/modules-load.d/hubdist.conf; "
    "echo net.bridge.bridge-nf-call-iptables=1 > /etc/sysctl.d/90-hubdist.conf"
)


def bridge_filtering_problem(sysctl: Path = BRIDGE_SYSCTL) -> str | None:
    """Why packets between containers on one bridge escape the rules, or None.

    Read, never written: the guard's container cannot change /proc/sys or load modules.
    """
    try:
        value = sysctl.read_text().strip()
    except FileNotFoundError:
        return (
            "the br_netfilter kernel module is not loaded, so traffic between containers on "
            "the users' network (user to user, user to proxy) is NOT filtered. " + BRIDGE_FIX
        )
    except OSError as e:
        return f"cannot read {sysctl} ({e.strerror}): is bridged traffic filtered? unknown"
    if value != "1":
        return (
            f"net.bridge.bridge-nf-call-iptables is {value}, so traffic between containers on "
            "the users' network (user to user, user to proxy) is NOT filtered. " + BRIDGE_FIX
        )
    return None


def forget_connections(users: ipaddress.IPv4Network) -> None:
    """Delete the connection-tracking entries of connections users' servers opened.

    The rules let through packets of "established" connections (answers to the proxy and
    the hub); without this, a connection opened while the rules were missing or
    ineffective would live on. Each connection users may keep is picked up again by its
    next packet and judged as new: allowed ones go on, blocked ones are rejected.
    """
    done = _run(["conntrack", "-D", "-s", str(users)])
    # exit 1 with "0 flow entries" when nothing matched
    if done.returncode != 0 and "0 flow entries" not in done.stderr:
        raise NetguardError(f"conntrack -D -s {users} failed: {done.stderr.strip()}")


def need_conntrack() -> None:
    if not shutil.which("conntrack"):
        raise NetguardError(
            "the conntrack command is missing (Debian/Ubuntu: apt-get install conntrack); "
            "the guard needs it to end connections opened while its rules were missing"
        )
