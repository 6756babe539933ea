"""``hubdist netguard --swarm``: the guard of one Swarm node, inside each server's namespace.

On a swarm, users' servers talk over an overlay network whose packets never pass the
nodes' FORWARD chain, so the compose guard's rules (hubdist.netguard.command) see none of
them. Each node runs one guard instead (a global service, docker-stack.yml) that enters
the network namespace of every user's server on its node, through the host's /proc, and
fills an OUTPUT chain there (hubdist.netguard.ruleset.server_rules): the rules live with
the server, on whatever node it runs, and stay when the guard stops.

It learns of servers from its node's engine: a container start event (label
org.jupyter.hubdist.managed=true) at once, and a listing every ``--interval`` seconds,
which also re-resolves the hub's address (a hub rescheduled elsewhere gets a new one) and
puts back a missing jump. The hub asks it, over HTTP on a network only hub and guards
share, whether a container is guarded before it lets the server answer (fail closed:
hubdist.spawners.swarmguard); the question also guards a container the guard had not
seen yet.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .. import names
from ..engine import Engine, EngineError
from .ruleset import SERVER_CHAIN, Destination, NetguardError, ServerGuard, server_script

CONTAINER_ID = re.compile(r"^[0-9a-f]{12,64}$")
PEER_REFRESH = 60.0  # seconds: how often every peer is asked again (addresses can change)


def log(message: str) -> None:
    print(f"hubdist netguard --swarm: {message}", file=sys.stderr, flush=True)


# -- what a server's rules are made of ---------------------------------------------------


def node_addresses(proc: Path) -> list[ipaddress.IPv4Network]:
    """The node's own IPv4 addresses but loopback, from its /proc/1/net/fib_trie (the host's
    network namespace): each is followed by a "/32 host LOCAL" line."""
    lines = (proc / "1" / "net" / "fib_trie").read_text().splitlines()
    found = set()
    for above, line in zip(lines, lines[1:], strict=False):
        if line.strip() == "/32 host LOCAL":
            address = ipaddress.IPv4Address(above.split()[-1])
            if not address.is_loopback:
                found.add(ipaddress.IPv4Network(address))
    return sorted(found)


def split_guard_address(address: str) -> tuple[str, int]:
    """(host, port) of the guards' HOST:PORT; ValueError saying so if it is not one."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"netguard_address {address!r} is not HOST:PORT")
    return host, int(port)


async def guard_addresses(address: str) -> list[tuple[str, int]]:
    """Every (IPv4 address, port) the HOST:PORT ``address`` names: on a stack,
    tasks.netguard:8091 names one per guard task."""
    host, port = split_guard_address(address)
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, family=socket.AF_INET, type=socket.SOCK_STREAM
    )
    return sorted({info[4][:2] for info in infos})


def server_networks(info: dict) -> list[ipaddress.IPv4Network]:
    """The subnets of the container's networks, from its own address and prefix on each."""
    nets = set()
    for attached in ((info.get("NetworkSettings") or {}).get("Networks") or {}).values():
        if attached.get("IPAddress") and attached.get("IPPrefixLen"):
            address = f"{attached['IPAddress']}/{attached['IPPrefixLen']}"
            nets.add(ipaddress.IPv4Network(address, strict=False))
    return sorted(nets)


def hub_api(info: dict) -> tuple[str, int]:
    """Host and port of the hub's API, from the server's JUPYTERHUB_API_URL."""
    env = dict(item.split("=", 1) for item in (info.get("Config") or {}).get("Env") or [])
    url = env.get("JUPYTERHUB_API_URL", "")
    parts = urlsplit(url)
    if not parts.hostname:
        raise NetguardError(f"the server has no usable JUPYTERHUB_API_URL ({url!r})")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


# -- inside a namespace ------------------------------------------------------------------


async def run_in(netns: Path, *command: str, stdin: str | None = None) -> tuple[int, str]:
    """Run ``command`` in the network namespace ``netns``; (exit code, stdout + stderr)."""
    proc = await asyncio.create_subprocess_exec(
        "nsenter", f"--net={netns}", *command,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate(stdin.encode() if stdin is not None else None)
    return proc.returncode, out.decode(errors="replace").strip()


async def resolve_in(netns: Path, host: str) -> list[str]:
    """The host's IPv4 addresses as the server sees them: its namespace's DNS (Docker's, at
    127.0.0.11, which knows the names on the server's networks)."""
    try:
        return [str(ipaddress.IPv4Address(host))]
    except ValueError:
        pass
    code, out = await run_in(netns, "getent", "ahostsv4", host)
    addresses = sorted({line.split()[0] for line in out.splitlines() if line.strip()})
    if code != 0 or not addresses:
        raise NetguardError(f"the hub's address {host!r} does not resolve in the server ({out})")
    return addresses


@dataclass
class Guarded:
    script: str = ""  # the rules last applied; "" until they are
    problem: str = "not guarded yet"


@dataclass
class NodeGuard:
    engine: Engine
    proc: Path
    allow: tuple[Destination, ...] = ()
    block: tuple[ipaddress.IPv4Network, ...] = ()
    dns: bool = True
    iptables: str = "iptables"
    node_id: str = ""
    node: str = ""
    #: the labels of the servers to guard: every hubdist server, or one deployment's
    labels: dict[str, str] = field(default_factory=lambda: dict(names.MANAGED))
    #: HOST:PORT naming every guard (--peers): where the other nodes' addresses are learned
    peers: str = ""
    #: the other nodes' addresses, by node ID; kept for the guard's life (a node that left
    #: may come back, and blocking an address no node has any more costs nothing)
    peer_addresses: dict[str, set[ipaddress.IPv4Network]] = field(default_factory=dict)
    peers_asked: dict[tuple[str, int], float] = field(default_factory=dict)
    servers: dict[str, Guarded] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def nodes_addresses(self) -> tuple[ipaddress.IPv4Network, ...]:
        """This node's addresses and every other node's the guard has learned: a server
        reaches none of them, private or not (nodes on public addresses)."""
        known = set(node_addresses(self.proc))
        for addresses in self.peer_addresses.values():
            known |= addresses
        return tuple(sorted(known))

    def health(self) -> dict:
        """This node's ID, name and addresses, and the other nodes whose addresses its
        servers reject (IDs): what the other guards and an admin ask."""
        addresses = [str(a) for a in node_addresses(self.proc)]
        knows = sorted(self.peer_addresses)
        return {"node_id": self.node_id, "node": self.node, "addresses": addresses, "knows": knows}

    async def learn_peers(self, timeout: float = 5.0) -> None:
        """Ask the guards not asked for PEER_REFRESH seconds for their nodes' addresses.
        A peer that does not answer is asked again at the next sweep; what was learned
        from it stays."""
        if not self.peers:
            return
        try:
            targets = await guard_addresses(self.peers)
        except (OSError, ValueError) as exc:
            log(f"finding the other guards at {self.peers} failed: {exc}")
            return
        now = time.monotonic()
        due = [t for t in targets if now - self.peers_asked.get(t, -PEER_REFRESH) >= PEER_REFRESH]
        answers = await ask_healths(due, timeout)
        for target, answer in zip(due, answers, strict=True):
            if isinstance(answer, BaseException):
                log(f"the guard at {target[0]}:{target[1]} did not answer: {answer}")
                continue
            self.peers_asked[target] = now
            node_id = answer.get("node_id") or ""
            if not node_id or node_id == self.node_id:
                continue
            try:
                told = {ipaddress.IPv4Network(a) for a in answer.get("addresses") or []}
            except ValueError as exc:
                log(f"the guard at {target[0]}:{target[1]} sent a bad address: {exc}")
                continue
            known = self.peer_addresses.setdefault(node_id, set())
            if told - known:
                new = ", ".join(str(a) for a in sorted(told - known))
                log(f"node {answer.get('node') or node_id}: {new} rejected in servers here")
                known |= told

    async def rules_for(self, info: dict, netns: Path) -> ServerGuard:
        host, port = hub_api(info)
        hub = tuple(Destination.parse(f"{a}:{port}") for a in await resolve_in(netns, host))
        return ServerGuard(
            hub=hub,
            networks=tuple(server_networks(info)),
            host=self.nodes_addresses(),
            allow=self.allow,
            block=self.block,
            dns=self.dns,
        )

    async def guard(self, container_id: str) -> Guarded | None:
        """Put the rules in this container's namespace unless in place; None if it is not
        a running user's server on this node."""
        async with self.lock:
            try:
                info = await self.engine.inspect_container(container_id)
            except EngineError as exc:  # asked again at the next sweep, or by the hub
                log(f"inspecting {container_id[:12]} failed: {exc}")
                return None
            labels = ((info or {}).get("Config") or {}).get("Labels") or {}
            state = (info or {}).get("State") or {}
            if not info or any(labels.get(k) != v for k, v in self.labels.items()):
                return None
            if not state.get("Running") or not state.get("Pid"):
                self.servers.pop(info["Id"], None)
                return None
            entry = self.servers.setdefault(info["Id"], Guarded())
            netns = self.proc / str(state["Pid"]) / "ns" / "net"
            try:
                await self._apply(info, netns, entry)
            except (NetguardError, OSError) as exc:
                entry.script, entry.problem = "", str(exc)
                log(f"NOT GUARDED: {info['Name'].lstrip('/')}: {exc}")
            return entry

    async def _apply(self, info: dict, netns: Path, entry: Guarded) -> None:
        jumped = await run_in(netns, self.iptables, "-w", "-C", "OUTPUT", "-j", SERVER_CHAIN)
        rules = await self.rules_for(info, netns)
        script = server_script(rules, jump_missing=False)
        if jumped[0] == 0 and script == entry.script:
            return
        restore = server_script(rules, jump_missing=jumped[0] != 0)
        code, out = await run_in(
            netns, f"{self.iptables}-restore", "--noflush", "-w", stdin=restore
        )
        if code != 0:
            raise NetguardError(f"{self.iptables}-restore failed in {netns}: {out}")
        if jumped[0] != 0:
            # connections the server opened before its rules would live on as established
            code, out = await run_in(netns, "conntrack", "-F")
            if code != 0:
                raise NetguardError(f"conntrack -F failed in {netns}: {out}")
        name = info["Name"].lstrip("/")
        log(f"guarded {name} ({'rules put in' if jumped[0] != 0 else 'rules changed'})")
        entry.script, entry.problem = script, ""

    async def sweep(self) -> None:
        """Guard every running server of the node; forget those gone."""
        try:
            running = await self.engine.list_containers(self.labels)
        except Exception as exc:  # the engine may be restarting: the next sweep retries
            log(f"listing the node's servers failed: {exc}")
            return
        ids = {c["Id"] for c in running if c.get("State") == "running"}
        for gone in set(self.servers) - ids:
            del self.servers[gone]
        for container_id in ids:
            await self.guard(container_id)

    def report(self, container_id: str, entry: Guarded | None) -> dict:
        found = {"node_id": self.node_id, "node": self.node, "container": container_id}
        if entry is None:
            return {**found, "guarded": False, "problem": "not a running server on this node"}
        return {**found, "guarded": not entry.problem, "problem": entry.problem}


# -- the status endpoint: asked by the hub and the other guards --------------------------


async def ask_guard(host: str, port: int, path: str, timeout: float) -> dict:
    """A guard's JSON answer at ``path`` (/health, /containers/ID), asked by the hub and the
    other guards; OSError (with the guard's own words) or ValueError if there is none."""
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError

    url = f"http://{host}:{port}{path}"
    # a client of its own: tornado's shared one runs 10 requests at a time, and questions
    # left open to a frozen guard (until their time-out) would queue the next ones
    client = AsyncHTTPClient(force_instance=True)
    try:
        response = await client.fetch(url, request_timeout=timeout)
    except HTTPClientError as exc:
        body = exc.response.body.decode(errors="replace") if exc.response else ""
        raise OSError(f"{url}: {exc} {body}".strip()) from None
    finally:
        client.close()
    answer = json.loads(response.body)
    if not isinstance(answer, dict):
        raise ValueError(f"{url} answered {answer!r}")
    return answer


async def ask_healths(targets: list[tuple[str, int]], timeout: float) -> list[dict | BaseException]:
    """Every guard's ``/health`` at once, in the order of ``targets``: its answer, or what
    went wrong asking it (the other guards and the doctor ask)."""
    return await asyncio.gather(
        *(ask_guard(host, port, "/health", timeout) for host, port in targets),
        return_exceptions=True,
    )


def status_app(guard: NodeGuard):
    from tornado import web

    class ContainerStatus(web.RequestHandler):
        async def get(self, container_id: str) -> None:
            if not CONTAINER_ID.match(container_id):
                raise web.HTTPError(400, "a container ID is 12 to 64 hex digits")
            entry = guard.servers.get(container_id)
            if entry is None or entry.problem:  # asked before the event came: guard now
                entry = await guard.guard(container_id)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(guard.report(container_id, entry)))

    class Health(web.RequestHandler):
        def get(self) -> None:  # the health check, and the other guards (learn_peers)
            self.finish(guard.health())

    return web.Application([(r"/containers/([^/]+)", ContainerStatus), (r"/health", Health)])


async def run_node_guard(guard: NodeGuard, listen: str, interval: float) -> None:
    info = await guard.engine.info()
    guard.node_id = (info.get("Swarm") or {}).get("NodeID") or ""
    guard.node = info.get("Name") or ""
    if not guard.node_id:
        raise NetguardError("this engine is not in a swarm: --swarm guards a swarm node")
    node_addresses(guard.proc)  # fails now, saying so, if the host's /proc is not there
    await guard.learn_peers()  # before the first server is guarded
    host, _, port = listen.rpartition(":")
    status_app(guard).listen(int(port), address=host or "0.0.0.0")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def soon(work) -> None:  # from the event thread
        loop.call_soon_threadsafe(lambda: loop.create_task(work()))

    def started(event: dict) -> None:
        soon(lambda: guard.guard(event["id"]))

    def opened() -> None:  # a server started before the stream (re)opened is found too
        soon(guard.sweep)

    labels = [f"{key}={value}" for key, value in guard.labels.items()]
    filters = {"type": "container", "event": "start", "label": labels}
    feed = guard.engine.watch_events(filters, started, opened)
    log(f"guarding users' servers on node {guard.node} ({guard.node_id}); status on {listen}")
    try:
        while not stop.is_set():
            await guard.learn_peers()
            await guard.sweep()
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except asyncio.TimeoutError:
                pass
    finally:
        feed.stop()
    log("stopped; the rules stay in the servers' namespaces; new servers are refused")


def check_tools(iptables: str) -> None:
    import shutil

    for tool in ("nsenter", "getent", "conntrack", iptables, f"{iptables}-restore"):
        if not shutil.which(tool):
            raise NetguardError(
                f"{tool} is missing: the guard needs nsenter (util-linux), getent (libc-bin), "
                "conntrack and iptables (the hub image has them)"
            )


def check_swarm(listen: str) -> int:
    """The health check: 0 if this container's guard answers (it is guarding), else 1."""
    import urllib.request

    port = listen.rpartition(":")[2]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=4) as answer:
            print(f"hubdist netguard --swarm: guarding node {json.load(answer)['node']}")
        return 0
    except (OSError, ValueError, KeyError) as exc:
        print(f"hubdist netguard --swarm: NOT GUARDING: no answer on {port} ({exc})")
        return 1


def main_swarm(args) -> int:
    """``hubdist netguard --swarm`` with the parsed ``args`` (hubdist.netguard.command)."""
    from .command import block_list
    from .ruleset import split_list

    iptables = "iptables" if args.iptables == "auto" else f"iptables-{args.iptables}"
    check_tools(iptables)
    proc = Path(args.host_proc)
    if not (proc / "1" / "net" / "fib_trie").exists():
        raise NetguardError(
            f"{proc}/1/net/fib_trie does not exist: mount the host's /proc there read-only "
            "(docker-stack.yml: /proc:/host/proc:ro) or give --host-proc"
        )
    guard = NodeGuard(
        engine=Engine(),
        proc=proc,
        allow=tuple(Destination.parse(d) for d in split_list(args.allow)),
        block=tuple(block_list(args)),
        dns=not args.no_dns,
        iptables=iptables,
        peers=args.peers,
    )
    if args.deployment:
        guard.labels[f"{names.LABEL}.deployment"] = args.deployment
    asyncio.run(run_node_guard(guard, args.listen, args.interval))
    return 0
