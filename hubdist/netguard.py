"""Network isolation of users' servers: iptables rules, in chains of our own.

Users' servers share a Docker network with the hub and the proxy, and Docker lets any of
them connect anywhere: to another user's server, to the host and the services on it (the
hub's database, an engine's TCP port), to private networks, and to the cloud metadata
address 169.254.169.254, which hands out the machine's credentials. Zero to JupyterHub
blocks these with NetworkPolicies; on Docker the place is the DOCKER-USER chain, which
every forwarded packet passes. Packets to the host itself pass INPUT instead, so both jump
to our chains.

Packets between two containers on one bridge meet iptables only while the kernel hands
bridged packets to it (``net.bridge.bridge-nf-call-iptables = 1``, from the br_netfilter
module). Recent Docker releases no longer turn that on, and the guard, in a container,
cannot: so it looks, and while it is off the guard reports itself NOT effective (log,
``--check``, the status file) instead of healthy. ``./hubdist-up`` turns it on.

The rules recognise users' servers by source address: the network's ``--ip-range``, from
which Docker gives every container it attaches an address, while the hub and the proxy
have fixed addresses outside it. So the rules never change as servers come and go.

``hubdist netguard`` applies them, checks every few seconds that they are still there (a
firewall reload, ``iptables -F`` or a reboot loses them) and effective, and writes what it
found to a status file the hub reads before starting anyone's server (fail closed:
hubdist.spawners.guard). After putting rules back it deletes the connection-tracking
entries of users' servers, so no connection opened while they were missing lives on as
"established". Stopping the guard leaves the rules in place: a restart or an upgrade
opens no window. Only ``--remove`` or ``HUBDIST_NETGUARD=off`` take them out. Everything
lives in two chains named after the guard, filled in one iptables-restore transaction, so
applying twice changes nothing, no packet meets a half-built chain, and removing touches
nothing of anybody else's.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

IPv4Network = ipaddress.IPv4Network

#: Blocked destinations, each with the reason; allowed ones (--allow) are let through first.
BLOCKED_BY_DEFAULT: dict[str, str] = {
    "169.254.0.0/16": "link-local: the cloud metadata address (credentials of the machine)",
    "10.0.0.0/8": "private network (RFC 1918): databases, engines, the LAN behind the host",
    "172.16.0.0/12": "private network (RFC 1918): other Docker networks, services, the LAN",
    "192.168.0.0/16": "private network (RFC 1918): the LAN behind the host",
    "100.64.0.0/10": "shared address space (RFC 6598): carrier NAT, VPNs such as Tailscale",
}
# Port 53 stays open outside the users' network: Docker's DNS forwards users' lookups from
# their own network namespace to the host's resolvers, which are often private (10.0.0.2 on
# AWS) or link-local (169.254.169.254 on GCP).
DNS_PORT = 53
REJECT = ["-j", "REJECT", "--reject-with", "icmp-admin-prohibited"]
# iptables chain names: at most 28 characters
MAX_CHAIN = 28
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEST_RE = re.compile(
    r"^(?P<net>[0-9.]+(?:/\d{1,2})?)(?::(?P<port>\d{1,5})(?:/(?P<proto>tcp|udp))?)?$"
)


class NetguardError(ValueError):
    """Bad input or an unusable firewall; the message says what to change."""


@dataclass(frozen=True)
class Destination:
    """An address range, optionally one port of one protocol (tcp unless /udp)."""

    net: IPv4Network
    port: int | None = None
    proto: str = "tcp"

    @classmethod
    def parse(cls, text: str) -> Destination:
        found = DEST_RE.match(text.strip())
        if not found:
            raise NetguardError(
                f"destination {text!r} is not ADDRESS[/PREFIX][:PORT[/tcp|udp]], "
                "e.g. 10.213.0.2:8081 or 10.0.0.0/8 or 10.0.0.53:53/udp"
            )
        net = parse_network(found["net"], "destination")
        port = int(found["port"]) if found["port"] else None
        if port is not None and not 0 < port < 65536:
            raise NetguardError(f"destination {text!r}: port {port} is not in 1-65535")
        return cls(net, port, found["proto"] or "tcp")

    def match(self) -> list[str]:
        args = ["-d", str(self.net)]
        if self.port is not None:
            args += ["-p", self.proto, "-m", self.proto, "--dport", str(self.port)]
        return args

    def __str__(self) -> str:
        port = f":{self.port}/{self.proto}" if self.port is not None else ""
        return f"{self.net}{port}"


def parse_network(text: str, what: str) -> IPv4Network:
    try:
        return IPv4Network(text.strip(), strict=False)
    except ValueError as e:
        raise NetguardError(
            f"{what} {text!r} is not an IPv4 address or range (e.g. 10.213.8.0/21): {e}"
        ) from None


def split_list(values: list[str] | None) -> list[str]:
    """Items of repeated options that may each hold several, split by commas or spaces."""
    return [item for value in values or [] for item in re.split(r"[,\s]+", value) if item]


@dataclass(frozen=True)
class Guard:
    """What the rules are computed from."""

    name: str
    users: IPv4Network  # the addresses users' servers get (the network's --ip-range)
    subnet: IPv4Network | None = None  # the whole network: hub, proxy, every server
    allow: tuple[Destination, ...] = ()
    block: tuple[IPv4Network, ...] = field(
        default_factory=lambda: tuple(IPv4Network(n) for n in BLOCKED_BY_DEFAULT)
    )
    dns: bool = True

    def __post_init__(self) -> None:
        chain_names(self.name)  # checks the name
        if self.subnet is not None and not self.users.subnet_of(self.subnet):
            raise NetguardError(
                f"users' range {self.users} is not inside the network's subnet {self.subnet}; "
                "the range must be the network's --ip-range (compose: ipam ip_range)"
            )
        for dest in self.allow:
            if dest.net.overlaps(self.users):
                raise NetguardError(
                    f"allowed destination {dest} overlaps the users' range {self.users}: "
                    "users could reach each other's servers. Give the hub (or the service "
                    "to allow) a fixed address outside the range"
                )

    def chains(self) -> tuple[str, str]:
        return chain_names(self.name)


def chain_names(name: str) -> tuple[str, str]:
    """The guard's chains for forwarded traffic and for traffic to the host."""
    if not NAME_RE.match(name):
        raise NetguardError(
            f"name {name!r}: use letters, digits, '.', '_' or '-' (at most 64), "
            "starting with a letter or digit"
        )
    short = name
    if len(f"HUBDIST-{name}-FWD") > MAX_CHAIN:  # long names: keep them unique
        short = f"{name[:11]}-{hashlib.sha256(name.encode()).hexdigest()[:4]}"
    return f"HUBDIST-{short}-FWD", f"HUBDIST-{short}-IN"


def jumps_for(name: str) -> dict[str, str]:
    """Docker's (or the built-in) chain -> our chain it must jump to first."""
    fwd_chain, in_chain = chain_names(name)
    return {"DOCKER-USER": fwd_chain, "INPUT": in_chain}


def comment(text: str) -> list[str]:
    return ["-m", "comment", "--comment", f"hubdist netguard: {text}"]


def rules(guard: Guard) -> dict[str, list[list[str]]]:
    """The rules of our two chains, in order: the pure heart of the guard.

    A packet that RETURNs goes on through Docker's rules (or the host's) as before; a
    rejected one fails at once (EHOSTUNREACH), so a user's code does not hang on it.
    """
    common = [
        ["!", "-s", str(guard.users), "-j", "RETURN", *comment("source is not a user server")],
        [
            *["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"],
            *comment("answers in connections others opened (the proxy, the hub)"),
        ],
    ]
    common += [[*d.match(), "-j", "RETURN", *comment(f"allowed: {d}")] for d in guard.allow]
    dns = []
    if guard.dns:
        dns = [
            ["-p", proto, "-m", proto, "--dport", str(DNS_PORT), "-j", "RETURN", *comment("DNS")]
            for proto in ("udp", "tcp")
        ]
    forward = list(common)
    if guard.subnet is not None:  # before DNS: another user's server could listen on 53
        forward.append(
            ["-d", str(guard.subnet), *REJECT, *comment("other servers, the proxy's API")]
        )
    forward += dns
    for net in guard.block:
        why = BLOCKED_BY_DEFAULT.get(str(net), "blocked destination")
        forward.append(["-d", str(net), *REJECT, *comment(why)])
    to_host = [*common, *dns, [*REJECT, *comment("the host: its services and the engine")]]
    fwd_chain, in_chain = guard.chains()
    return {fwd_chain: forward, in_chain: to_host}


def signature(rule: list[str]) -> tuple[str, str]:
    """A rule's comment and target: what tells our rules apart, as written or as listed by
    ``iptables -S`` (which reorders a rule's options)."""

    def after(flag: str) -> str:  # iptables -S escapes quotes inside a comment: \\'
        return rule[rule.index(flag) + 1].replace("\\", "") if flag in rule[:-1] else ""

    return after("--comment"), after("-j")


def quote(arg: str) -> str:
    return f'"{arg}"' if re.search(r"[\s\"']", arg) else arg


def restore_script(guard: Guard, missing_jumps: list[str]) -> str:
    """iptables-restore --noflush input: our chains (re)filled in one transaction, so they
    are never seen half-built, and the jumps not yet there inserted first in their chains."""
    lines = ["*filter"]
    chain_rules = rules(guard)
    lines += [f":{chain} - [0:0]" for chain in chain_rules]  # declared: created or flushed
    for chain, chain_list in chain_rules.items():
        lines += [" ".join(["-A", chain, *map(quote, rule)]) for rule in chain_list]
    for parent, chain in jumps_for(guard.name).items():
        if parent in missing_jumps:
            lines.append(f"-I {parent} 1 -j {chain}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


# -- the firewall ------------------------------------------------------------------------


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


def forget_connections(users: IPv4Network) -> None:
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


# -- the command -----------------------------------------------------------------------


def log(message: str) -> None:
    print(f"hubdist netguard: {message}", file=sys.stderr, flush=True)


def guard_from_args(args: argparse.Namespace) -> Guard:
    if not args.users_range:
        raise NetguardError(
            "--users-range is required: the network's --ip-range from which users' servers "
            "get their addresses (compose: HUBDIST_USERS_IP_RANGE)"
        )
    block = [parse_network(n, "blocked range") for n in split_list(args.block)]
    if not args.no_default_blocks:
        block = [IPv4Network(n) for n in BLOCKED_BY_DEFAULT] + block
    return Guard(
        name=args.name,
        users=parse_network(args.users_range, "--users-range"),
        subnet=parse_network(args.subnet, "--subnet") if args.subnet else None,
        allow=tuple(Destination.parse(d) for d in split_list(args.allow)),
        block=tuple(block),
        dns=not args.no_dns,
    )


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
