"""``hubdist netguard``: apply the rules, keep them in place, report, remove on request."""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .iptables import Iptables, bridge_filtering_problem, forget_connections, need_conntrack
from .ruleset import (
    BLOCKED_BY_DEFAULT,
    Destination,
    Guard,
    NetguardError,
    jumps_for,
    parse_network,
    restore_script,
    split_list,
)
from .status import Status, status_of

# -- the command -----------------------------------------------------------------------


def log(message: str) -> None:
    print(f"hubdist netguard: {message}", file=sys.stderr, flush=True)


def guard_from_args(args: argparse.Namespace) -> Guard:
    if not args.users_range:
        raise NetguardError(
            "--users-range is required: the network's --ip-range from which users' servers "
            "get their addresses (compose: HUBDIST_USERS_IP_RANGE)"
        )
    return Guard(
        name=args.name,
        users=parse_network(args.users_range, "--users-range"),
        subnet=parse_network(args.subnet, "--subnet") if args.subnet else None,
        allow=tuple(Destination.parse(d) for d in split_list(args.allow)),
        block=tuple(block_list(args)),
        dns=not args.no_dns,
    )


def block_list(args: argparse.Namespace) -> list[ipaddress.IPv4Network]:
    """--block, after the ranges blocked by default unless --no-default-blocks."""
    block = [parse_network(n, "blocked range") for n in split_list(args.block)]
    if not args.no_default_blocks:
        block = [ipaddress.IPv4Network(n) for n in BLOCKED_BY_DEFAULT] + block
    return block


def problems_of(ipt: Iptables, guard: Guard) -> list[str]:
    """Everything that keeps the rules from isolating users' servers now; empty if none."""
    found = []
    if not ipt.intact(guard):
        found.append("rules missing or changed (iptables -S " + " / ".join(guard.chains()) + ")")
    bridge = bridge_filtering_problem()
    if bridge:
        found.append(bridge)
    return found


def enforce(ipt: Iptables, guard: Guard, after_gap: bool = False) -> list[str]:
    """Apply the rules unless intact; what still keeps them from isolating users.

    Once they do, after they were (re)applied or after a check that found them ineffective
    (``after_gap``), users' servers' connections are forgotten: some may have been opened
    while the rules did not hold.
    """
    intact = ipt.intact(guard)
    if not intact:
        log("rules missing or changed (first start? firewall reload? reboot?); applying")
        ipt.apply(guard)
    problems = problems_of(ipt, guard)
    if not problems and (after_gap or not intact):
        forget_connections(guard.users)
    return problems


def guard_until_stopped(
    ipt: Iptables, guard: Guard, interval: float, status_file: Path | None = None
) -> None:
    """Enforce every ``interval`` s, reporting each check to the log and the status file.

    SIGTERM ends the loop and leaves the rules in place: a restart or an upgrade of the
    guard leaves no window. ``--remove`` (or HUBDIST_NETGUARD=off) takes them out.
    """
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    reported: list[str] | None = None
    while True:
        problems = enforce(ipt, guard, after_gap=bool(reported))
        if status_file is not None:
            status_of(guard, problems, interval).write(status_file)
        if problems != reported:
            for problem in problems:
                log(f"NOT ENFORCED: {problem}")
            if not problems:
                log(f"enforced ({ipt.command}): users' servers in {guard.users}")
            reported = problems
        if stop.wait(interval):
            break
    log(
        "stopped; the rules stay in place (to remove them: hubdist netguard --remove, "
        "or HUBDIST_NETGUARD=off)"
    )


def wait_for_stop() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


ENV = "HUBDIST_NETGUARD_"  # each option's variable: ENV + its name in upper case


def make_parser(environ: dict | None = None) -> argparse.ArgumentParser:
    """Options; each defaults to its HUBDIST_NETGUARD_* variable, so compose can set them
    once for the guard and its health check alike."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="hubdist netguard",
        description="Keep users' servers from reaching each other, the proxy's API, the host, "
        "private networks and the cloud metadata address (docs/network-isolation.md). Runs "
        "until SIGTERM and leaves its rules in place when it stops (--remove takes them "
        "out). Needs root with NET_ADMIN in the host's network namespace, and bridged "
        "traffic passed to iptables (net.bridge.bridge-nf-call-iptables=1; it says so "
        "if not). HUBDIST_NETGUARD=off only removes the rules and waits. Every option can "
        "be given as a variable instead, e.g. HUBDIST_NETGUARD_USERS_RANGE.",
    )
    parser.add_argument(
        "--name",
        default=env.get(f"{ENV}NAME") or "hubdist",
        help="the guard's name, in its chains' names HUBDIST-NAME-FWD/-IN (default hubdist)",
    )
    parser.add_argument(
        "--users-range",
        metavar="CIDR",
        default=env.get(f"{ENV}USERS_RANGE"),
        help="required: the addresses users' servers get, the network's --ip-range "
        "(e.g. 10.213.8.0/21); hub and proxy must have fixed addresses outside it",
    )
    parser.add_argument(
        "--subnet",
        metavar="CIDR",
        default=env.get(f"{ENV}SUBNET"),
        help="the users' network's whole subnet; users may reach nothing in it but what "
        "--allow lets through (default: none; the blocked ranges usually cover it)",
    )
    parser.add_argument(
        "--allow",
        action="append",
        metavar="DEST",
        default=[env[f"{ENV}ALLOW"]] if env.get(f"{ENV}ALLOW") else [],
        help="ADDRESS[/PREFIX][:PORT[/tcp|udp]] users may reach, e.g. the hub's API "
        "10.213.0.2:8081; repeat or separate by commas or spaces (default: none)",
    )
    parser.add_argument(
        "--block",
        action="append",
        metavar="CIDR",
        default=[env[f"{ENV}BLOCK"]] if env.get(f"{ENV}BLOCK") else [],
        help="more destinations to block; repeat or separate by commas (default: none "
        f"beyond {', '.join(BLOCKED_BY_DEFAULT)})",
    )
    parser.add_argument(
        "--no-default-blocks",
        action="store_true",
        help="block only --subnet, --block and the host, not the link-local and private ranges",
    )
    parser.add_argument(
        "--no-dns",
        action="store_true",
        help="do not let port 53 (DNS) through to the blocked ranges and the host",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=env.get(f"{ENV}INTERVAL") or "10",  # argparse converts it
        help="seconds between checks that the rules are still there (default 10)",
    )
    parser.add_argument(
        "--status-file",
        metavar="PATH",
        default=env.get(f"{ENV}STATUS_FILE") or None,
        help="write what each check found here (JSON: state enforced/not-enforced/off, "
        "problems, checked, valid_until), for the hub to refuse spawns unless enforced "
        "(default: none)",
    )
    parser.add_argument(
        "--iptables",
        default=env.get(f"{ENV}IPTABLES") or "auto",
        help="iptables backend: nft, legacy or auto: the one holding Docker's DOCKER-USER "
        "chain (default auto)",
    )
    parser.add_argument(
        "--host-proc",
        metavar="PATH",
        default=env.get(f"{ENV}HOST_PROC") or "/host/proc",
        help="--swarm: where the host's /proc is mounted (default /host/proc)",
    )
    parser.add_argument(
        "--listen",
        metavar="[ADDRESS]:PORT",
        default=env.get(f"{ENV}LISTEN") or "0.0.0.0:8091",
        help="--swarm: where the hub asks whether a server is guarded (default "
        "0.0.0.0:8091; only the hub's and the guards' network should reach it)",
    )
    parser.add_argument(
        "--peers",
        metavar="HOST:PORT",
        default=env.get(f"{ENV}PEERS") or "",
        help="--swarm: a name resolving to every guard's --listen address (on a stack "
        "tasks.netguard:8091): each guard learns the other nodes' addresses from them and "
        "rejects those too in its servers, whatever the ranges (default: none, only this "
        "node's own addresses and the blocked ranges)",
    )
    parser.add_argument(
        "--deployment",
        metavar="NAME",
        default=env.get(f"{ENV}DEPLOYMENT") or "",
        help="--swarm: guard only the servers of this hubdist deployment (their label "
        "org.jupyter.hubdist.deployment) (default: every hubdist server on the node)",
    )
    parser.add_argument(
        "--swarm",
        action="store_true",
        help="guard the users' servers of this Swarm node from inside their own network "
        "namespaces, and tell the hub which are guarded (docs/swarm.md); needs the "
        "Docker socket, the host's /proc (--host-proc) and NET_ADMIN, SYS_ADMIN, "
        "SYS_PTRACE; --users-range and --subnet are not used; with --check: exit 1 "
        "unless the guard answers on --listen",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--once",
        action="store_true",
        help="apply the rules and exit (1 if they are not effective, saying why)",
    )
    mode.add_argument("--remove", action="store_true", help="remove this guard's rules and exit")
    mode.add_argument(
        "--check",
        action="store_true",
        help="exit 1, saying why, unless all the rules are in place and effective",
    )
    mode.add_argument(
        "--print", action="store_true", help="print the rules (iptables-restore input) and exit"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    switch = os.environ.get("HUBDIST_NETGUARD", "on").strip().lower()
    try:
        if switch not in ("on", "off"):
            raise NetguardError(f"HUBDIST_NETGUARD={switch!r}: use on (the default) or off")
        status_file = Path(args.status_file) if args.status_file else None
        if switch == "off" and args.check:
            return 0  # healthy: doing what it was told
        if args.swarm and switch == "off":  # the hub (same variable) asks no guard
            log(
                "HUBDIST_NETGUARD=off: --swarm guards no new server; users' servers are NOT "
                "isolated (rules already in running servers stay until they stop)"
            )
            wait_for_stop()
            return 0
        if args.remove or switch == "off":
            # the chain names depend on the name only: no other option is needed
            Iptables(args.iptables).remove(args.name)
            if args.remove:
                log(f"rules of {args.name!r} removed; users' servers are NOT isolated")
                return 0
            log("HUBDIST_NETGUARD=off: rules removed; users' servers are NOT isolated")
            if status_file is not None:
                off = ["HUBDIST_NETGUARD=off: the guard removed its rules"]
                now = time.time()
                Status("off", off, args.name, "", now, now + 10 * 365 * 86400).write(status_file)
            wait_for_stop()
            return 0
        if args.interval <= 0:
            raise NetguardError(f"--interval {args.interval}: use a number of seconds above 0")
        if args.swarm:
            from .namespaces import check_swarm, main_swarm

            return check_swarm(args.listen) if args.check else main_swarm(args)
        guard = guard_from_args(args)
        if args.print:
            print(restore_script(guard, list(jumps_for(guard.name))), end="")
            return 0
        ipt = Iptables(args.iptables)
        if args.check:
            problems = problems_of(ipt, guard)
            for problem in problems:
                print(f"hubdist netguard: NOT ENFORCED: {problem}", file=sys.stderr)
            if not problems:
                print("hubdist netguard: rules in place and effective", file=sys.stderr)
            return 1 if problems else 0
        need_conntrack()
        if args.once:
            problems = enforce(ipt, guard)
            for problem in problems:
                log(f"NOT ENFORCED: {problem}")
            return 1 if problems else 0
        guard_until_stopped(ipt, guard, args.interval, status_file)
        return 0
    except NetguardError as e:
        print(f"hubdist netguard: {e}", file=sys.stderr)
        return 2
