"""The rules of the guard, as data: which destinations users' servers may reach, the
chains and the iptables-restore script that installs them. Pure: tested without a kernel."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field

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
    jumps = {p: c for p, c in jumps_for(guard.name).items() if p in missing_jumps}
    return filter_script(rules(guard), jumps)


def filter_script(chain_rules: dict[str, list[list[str]]], jumps: dict[str, str]) -> str:
    """iptables-restore --noflush input filling ``chain_rules`` (declared: created or
    flushed) and inserting each jump ``parent -> chain`` first in its parent."""
    lines = ["*filter"]
    lines += [f":{chain} - [0:0]" for chain in chain_rules]
    for chain, chain_list in chain_rules.items():
        lines += [" ".join(["-A", chain, *map(quote, rule)]) for rule in chain_list]
    lines += [f"-I {parent} 1 -j {chain}" for parent, chain in jumps.items()]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


# -- inside a server's own network namespace (Swarm: hubdist.netguard.namespaces) --------

#: the chain in each user server's network namespace, jumped to first from its OUTPUT
SERVER_CHAIN = "HUBDIST-SERVER-OUT"


@dataclass(frozen=True)
class ServerGuard:
    """What one server's OUTPUT rules are computed from.

    ``hub`` is the hub's API, the one address on the server's networks it may connect to;
    ``networks`` the subnets of those networks (other users' servers, the proxy);
    ``host`` the addresses of the nodes: this one's, and the others' its guard learned.
    """

    hub: tuple[Destination, ...]
    networks: tuple[IPv4Network, ...]
    host: tuple[IPv4Network, ...] = ()
    allow: tuple[Destination, ...] = ()
    block: tuple[IPv4Network, ...] = field(
        default_factory=lambda: tuple(IPv4Network(n) for n in BLOCKED_BY_DEFAULT)
    )
    dns: bool = True


def server_rules(guard: ServerGuard) -> dict[str, list[list[str]]]:
    """The server's chain: what its own connections may reach. Loopback stays open (its
    kernels, and Docker's DNS at 127.0.0.11, live there); packets of connections others
    opened (the proxy's, the hub's) are answers; the rest as on compose (``rules``)."""
    chain = [
        ["-o", "lo", "-j", "RETURN", *comment("loopback: kernels, Docker's DNS 127.0.0.11")],
        [
            *["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"],
            *comment("answers in connections others opened (the proxy, the hub)"),
        ],
    ]
    chain += [[*d.match(), "-j", "RETURN", *comment(f"the hub's API: {d}")] for d in guard.hub]
    chain += [[*d.match(), "-j", "RETURN", *comment(f"allowed: {d}")] for d in guard.allow]
    chain += [  # before DNS: another user's server could listen on 53
        ["-d", str(net), *REJECT, *comment("the server's networks: other servers, the proxy")]
        for net in guard.networks
    ]
    if guard.dns:  # Docker's DNS asks the node's resolvers from the server's namespace
        chain += [
            ["-p", proto, "-m", proto, "--dport", str(DNS_PORT), "-j", "RETURN", *comment("DNS")]
            for proto in ("udp", "tcp")
        ]
    chain += [["-d", str(net), *REJECT, *comment("a node of the swarm")] for net in guard.host]
    for net in guard.block:
        why = BLOCKED_BY_DEFAULT.get(str(net), "blocked destination")
        chain.append(["-d", str(net), *REJECT, *comment(why)])
    return {SERVER_CHAIN: chain}


def server_script(guard: ServerGuard, jump_missing: bool) -> str:
    """iptables-restore --noflush input for a server's namespace; Docker's nat rules there
    (its DNS) are another table, left alone."""
    return filter_script(server_rules(guard), {"OUTPUT": SERVER_CHAIN} if jump_missing else {})
