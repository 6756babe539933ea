"""Users' servers cannot reach what they must not, with `hubdist netguard` running.

A real hub (on the host, as tests/hubrig runs it) starts two users' servers on a Docker
network this module creates, with an --ip-range for users' servers. From inside user A's
real container the module tries each attack three times: before the guard (the control:
each attack must work, or its test proves nothing), with the guard running (the CLI, as a
subprocess, as root), and after the guard was stopped with SIGTERM (everything works
again: the guard removed its rules). Every address tried was made by this module: the
network and its gateway, listeners on that gateway standing in for the hub's database or
the engine, and a network namespace holding 169.254.169.254 (a stand-in metadata server)
and 198.51.100.10 (a stand-in "internet" address), reached only from the test network
through policy routing, so the host's own routes are untouched.
"""

from __future__ import annotations

import ipaddress
import json
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import pytest

from hubdist.netguard import chain_names

from ..hubrig import PREFIX, TEST_IMAGE, Hub, bridge_gateway, docker, inspect, user_container

METADATA = "169.254.169.254"
OUTSIDE = "198.51.100.10"  # TEST-NET-2, never routed on the internet; here it is ours
ATTACKS = ("other_user", "proxy_api", "host_service", "metadata")
ALLOWED = ("hub_api", "dns", "outside")

pytestmark = pytest.mark.engine


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


# -- what the module makes ---------------------------------------------------------------


@dataclass
class Lab:
    network: str
    subnet: ipaddress.IPv4Network
    users: ipaddress.IPv4Network
    gateway: str
    undo: list = field(default_factory=list)  # run in reverse, even after a failure

    def cleanup(self) -> None:
        for step in reversed(self.undo):
            try:
                step()
            except Exception as e:  # keep undoing the rest
                print(f"cleanup step failed: {e}")


def make_network(lab_undo: list) -> Lab:
    """A network with a /24 subnet whose upper half is the users' range."""
    name = f"{PREFIX}-netguard"
    for _ in range(20):
        subnet = ipaddress.IPv4Network(f"10.231.{random.randrange(256)}.0/24")
        users = list(subnet.subnets())[1]
        gateway = str(subnet[1])
        made = docker(
            "network",
            "create",
            "--subnet",
            str(subnet),
            "--ip-range",
            str(users),
            "--gateway",
            gateway,
            name,
            check=False,
        )
        if made.returncode == 0:
            lab_undo.append(lambda: docker("network", "rm", name, check=False))
            return Lab(name, subnet, users, gateway, lab_undo)
        assert "overlap" in made.stderr, made.stderr
    raise AssertionError("no free 10.231.N.0/24 subnet for the test network")


def make_stand_ins(lab: Lab, tmp) -> None:
    """A namespace with the metadata and the outside address, an HTTP server in it, and
    routes to both from the test network only (ip rule from its subnet)."""
    tag = secrets.token_hex(3)
    ns, host_end, ns_end = f"hdng-{tag}", f"vh{tag}", f"vn{tag}"
    link = random.randrange(64, 250)
    host_ip, ns_ip = f"169.254.{link}.1", f"169.254.{link}.2"
    table, priority = str(20000 + random.randrange(10000)), str(20000 + random.randrange(10000))

    run("ip", "netns", "add", ns)
    lab.undo.append(lambda: run("ip", "netns", "del", ns, check=False))
    run("ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end)
    lab.undo.append(lambda: run("ip", "link", "del", host_end, check=False))
    run("ip", "link", "set", ns_end, "netns", ns)
    run("ip", "addr", "add", f"{host_ip}/30", "dev", host_end)
    run("ip", "link", "set", host_end, "up")
    inside = ("ip", "netns", "exec", ns)
    run(*inside, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_end)
    for address in (METADATA, OUTSIDE):
        run(*inside, "ip", "addr", "add", f"{address}/32", "dev", ns_end)
    run(*inside, "ip", "link", "set", ns_end, "up")
    run(*inside, "ip", "link", "set", "lo", "up")
    run(*inside, "ip", "route", "add", "default", "via", host_ip)
    for address in (METADATA, OUTSIDE):
        rule = ("from", str(lab.subnet), "to", address, "lookup", table, "priority", priority)
        run("ip", "rule", "add", *rule)
        lab.undo.append(lambda rule=rule: run("ip", "rule", "del", *rule, check=False))
        run("ip", "route", "add", f"{address}/32", "via", ns_ip, "dev", host_end, "table", table)

    site = tmp / "stand-in"
    site.mkdir()
    (site / "index.html").write_text("stand-in server\n")
    server = subprocess.Popen(
        [*inside, sys.executable, "-m", "http.server", "80", "--directory", str(site)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lab.undo.append(lambda: (server.terminate(), server.wait(10)))
    deadline = time.monotonic() + 20
    while run(*inside, "ss", "-ltn", "sport = :80").stdout.count("LISTEN") < 1:
        assert time.monotonic() < deadline, "the stand-in HTTP server did not start"
        time.sleep(0.2)


def serve(address: str, kind: int = socket.SOCK_STREAM, port: int = 0) -> socket.socket:
    """A listener on the host: a stand-in for the hub's database or the engine's TCP port
    (TCP, answers a line) or for a DNS server (UDP, echoes). Closing the socket stops it."""
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))

    def serve_tcp() -> None:
        sock.listen(8)
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"stand-in database\n")

    def serve_udp() -> None:
        while True:
            try:
                data, peer = sock.recvfrom(512)
                sock.sendto(data, peer)
            except OSError:
                return

    target = serve_tcp if kind == socket.SOCK_STREAM else serve_udp
    threading.Thread(target=target, daemon=True).start()
    return sock


def listen(lab: Lab, kind: int, port: int) -> int:
    """serve() on the test network's gateway (the host), closed with the lab."""
    sock = serve(lab.gateway, kind, port)
    lab.undo.append(sock.close)
    return sock.getsockname()[1]


# -- probes from inside a user's container -----------------------------------------------

PROBE = r"""
import json, socket, sys
results = {}
for name, kind, host, port in json.loads(sys.argv[1]):
    try:
        if kind == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(3)
            s.sendto(b"ping", (host, port))
            results[name] = "reached" if s.recvfrom(64)[0] == b"ping" else "wrong answer"
        else:
            s = socket.create_connection((host, port), timeout=3)
            if kind == "http":
                s.sendall(b"GET /hub/api/ HTTP/1.0\r\nHost: x\r\n\r\n" if name == "hub_api"
                          else b"GET / HTTP/1.0\r\n\r\n")
                s.settimeout(5)
                first = s.recv(200).split(b"\r\n")[0].decode(errors="replace")
                results[name] = "reached" if " 200 " in first else "answered " + first
            else:
                results[name] = "reached"
        s.close()
    except socket.timeout:
        results[name] = "timed out"
    except OSError as e:
        results[name] = type(e).__name__ + ": " + (e.strerror or str(e))
print(json.dumps(results))
"""


def probe(container: str, targets: list[tuple]) -> dict[str, str]:
    done = docker("exec", container, "python3", "-c", PROBE, json.dumps(targets), check=False)
    assert done.returncode == 0, f"probe failed in {container}: {done.stderr}"
    return json.loads(done.stdout)


# -- the guard, through the product's command ------------------------------------------


class GuardProcess:
    def __init__(self, name: str, args: list[str], log_path):
        self.name = name
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hubdist", "netguard", "--name", name, *args],
            stdout=open(log_path, "wb"),
            stderr=subprocess.STDOUT,
        )
        self.chains = chain_names(name)

    def jumps_present(self) -> bool:
        fwd, inp = self.chains
        checks = (("DOCKER-USER", fwd), ("INPUT", inp))
        return all(
            run("iptables", "-w", "-C", p, "-j", c, check=False).returncode == 0 for p, c in checks
        )

    def wait_applied(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.jumps_present():
            assert self.proc.poll() is None, f"netguard exited: {self.log_path.read_text()}"
            assert time.monotonic() < deadline, f"rules not applied: {self.log_path.read_text()}"
            time.sleep(0.2)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def leftovers(self) -> list[str]:
        dump = run("iptables-save", "-t", "filter").stdout
        return [line for line in dump.splitlines() if any(c in line for c in self.chains)]


@dataclass
class Outcome:
    before: dict
    during: dict
    after: dict
    through_proxy_during: int
    spawn_during_error: str | None
    restored_after_tampering: bool
    exit_code: int
    leftovers: list


@pytest.fixture(scope="module")
def outcome(engine_ready, tmp_path_factory) -> Outcome:
    tmp = tmp_path_factory.mktemp("netguard")
    undo: list = []
    lab = make_network(undo)
    try:
        yield run_drill(lab, tmp)
    finally:
        lab.cleanup()


def run_drill(lab: Lab, tmp) -> Outcome:
    make_stand_ins(lab, tmp)
    host_port = listen(lab, socket.SOCK_STREAM, 0)
    listen(lab, socket.SOCK_DGRAM, 53)
    gateway0 = bridge_gateway()  # where the hub on the host is reached (hub_connect_ip)

    hub = Hub(tmp / "hub", "", prefix=PREFIX, image=TEST_IMAGE)
    # The proxy's API on an address containers can reach, as it is in the compose
    # deployment (there on the users' network): the attack must be possible to be blocked.
    hub.config = (
        f'c.DockerSpawner.network_name = "{lab.network}"\n'
        f'c.ConfigurableHTTPProxy.api_url = "http://{gateway0}:{hub.api_port}"\n'
    )
    hub.start()
    lab.undo.append(hub.stop)
    users = [f"a{secrets.token_hex(3)}", f"b{secrets.token_hex(3)}", f"c{secrets.token_hex(3)}"]
    lab.undo.append(lambda: [docker("rm", "-f", user_container(u), check=False) for u in users])
    alice, bob, carol = users
    hub.spawn(alice)
    hub.spawn(bob)
    addresses = {
        u: inspect("container", user_container(u))["NetworkSettings"]["Networks"][lab.network][
            "IPAddress"
        ]
        for u in (alice, bob)
    }
    for address in addresses.values():
        assert ipaddress.IPv4Address(address) in lab.users, f"{address} not in {lab.users}"

    targets = [
        ("other_user", "tcp", addresses[bob], 8888),
        ("proxy_api", "tcp", gateway0, hub.api_port),
        ("host_service", "tcp", lab.gateway, host_port),
        ("metadata", "http", METADATA, 80),
        ("hub_api", "http", gateway0, hub.hub_port),
        ("dns", "udp", lab.gateway, 53),
        ("outside", "http", OUTSIDE, 80),
    ]
    attacker = user_container(alice)
    before = probe(attacker, targets)

    name = f"t{secrets.token_hex(3)}"
    guard = GuardProcess(
        name,
        [
            *("--users-range", str(lab.users), "--subnet", str(lab.subnet)),
            *("--allow", f"{gateway0}:{hub.hub_port}", "--interval", "1"),
        ],
        tmp / "netguard.log",
    )
    lab.undo.append(
        lambda: run(
            sys.executable, "-m", "hubdist", "netguard", "--remove", "--name", name, check=False
        )
    )
    lab.undo.append(guard.stop)
    guard.wait_applied()
    during = probe(attacker, targets)
    through_proxy = hub.user_get(alice, "api/status").status_code
    try:
        hub.spawn(carol)  # a new server must start and reach the hub through the guard
        spawn_error = None
    except AssertionError as e:
        spawn_error = str(e)[-2000:]

    # Someone flushes the firewall's jump (an engine restart, a firewall reload): it is back
    # within the check interval.
    run("iptables", "-w", "-D", "DOCKER-USER", "-j", guard.chains[0])
    deadline = time.monotonic() + 30
    while not guard.jumps_present() and time.monotonic() < deadline:
        time.sleep(0.2)
    restored = guard.jumps_present()

    exit_code = guard.stop()
    leftovers = guard.leftovers()
    after = probe(attacker, targets)
    for u in users:
        if hub.server_model(u) is not None:
            hub.stop_server(u)
    for target, *_ in targets:  # the results table of docs/network-isolation.md (pytest -s)
        print(
            f"{target:13} before: {before[target]:28} with guard: {during[target]:40} "
            f"after: {after[target]}"
        )
    return Outcome(
        before, during, after, through_proxy, spawn_error, restored, exit_code, leftovers
    )


def blocked(result: str) -> bool:
    return result != "reached"


# -- what a user would notice --------------------------------------------------------------


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_works_without_the_guard_and_fails_with_it(outcome, attack):
    """other_user: another user's server port, directly; proxy_api: the proxy's REST API;
    host_service: a service on the host (stand-in for the hub's database or the engine's
    TCP port); metadata: the cloud metadata address (stand-in server at 169.254.169.254)."""
    assert outcome.before[attack] == "reached", f"control failed: {outcome.before}"
    assert blocked(outcome.during[attack]), f"{attack} reachable with the guard: {outcome.during}"
    assert outcome.after[attack] == "reached", (
        f"still blocked after the guard stopped: {outcome.after}"
    )


@pytest.mark.parametrize("service", ALLOWED)
def test_hub_api_dns_and_outside_addresses_stay_reachable(outcome, service):
    assert outcome.before[service] == "reached", outcome.before
    assert outcome.during[service] == "reached", outcome.during


def test_servers_stay_reachable_through_the_proxy_and_new_ones_start(outcome):
    assert outcome.through_proxy_during == 200
    assert outcome.spawn_during_error is None, outcome.spawn_during_error


def test_a_lost_jump_is_put_back_by_the_running_guard(outcome):
    assert outcome.restored_after_tampering


def test_sigterm_stops_the_guard_and_removes_exactly_its_rules(outcome):
    assert outcome.exit_code == 0
    assert outcome.leftovers == []
