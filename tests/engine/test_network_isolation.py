"""Users' servers cannot reach what they must not, with `hubdist netguard` running, and no
server starts while its rules are missing or ineffective.

A real hub (on the host, as tests/hubrig runs it, told to check the guard's status file)
starts users' servers on a Docker network this module creates, with an --ip-range for
users' servers. From inside user A's real container the module tries each attack with
the guard running (the CLI, as a subprocess, as root), after it was stopped with SIGTERM
(the rules stay), and after `--remove` (the control: every attack works again, or its test
proves nothing). A rejection is told from a silent drop: a blocked attempt must fail at once
with "No route to host", not time out. It also turns bridged filtering off
(net.bridge.bridge-nf-call-iptables=0, restored after) and opens connections while the
rules do not hold, to see them ended once they do again.

Every address tried was made by this module: the network and its gateway, listeners on
that gateway standing in for the hub's database or the engine, and a network namespace
holding 169.254.169.254 (a stand-in metadata server), one address in each private range
and in 100.64.0.0/10, and 198.51.100.10 (a stand-in "internet" address), reached only from
the test network through policy routing, so the host's own routes are untouched.
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
from pathlib import Path

import pytest

from hubdist.netguard import chain_names

from ..hubrig import PREFIX, TEST_IMAGE, Hub, bridge_gateway, docker, inspect, user_container

METADATA = "169.254.169.254"
OUTSIDE = "198.51.100.10"  # TEST-NET-2, never routed on the internet; here it is ours
#: one stand-in in each blocked range; routed from the test network only, to our namespace
BLOCKED_STAND_INS = {
    "metadata": METADATA,
    "private_10": "10.255.253.10",
    "private_172": "172.31.253.10",
    "private_192": "192.168.253.10",
    "shared_100_64": "100.127.253.10",
}
ATTACKS = ("other_user", "proxy_api", "host_service", *BLOCKED_STAND_INS)
ALLOWED = ("hub_api", "dns", "outside")
#: how a rejected attempt fails: at once, by the guard's ICMP "administratively prohibited"
REJECTED = "OSError: No route to host"
BRIDGE_SYSCTL = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")

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
    """A namespace with the metadata address, one address in each blocked range and the
    outside address, an HTTP server on them, and routes to them from the test network only
    (ip rule from its subnet)."""
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
    stand_ins = (*BLOCKED_STAND_INS.values(), OUTSIDE)
    for address in stand_ins:
        run(*inside, "ip", "addr", "add", f"{address}/32", "dev", ns_end)
    run(*inside, "ip", "link", "set", ns_end, "up")
    run(*inside, "ip", "link", "set", "lo", "up")
    run(*inside, "ip", "route", "add", "default", "via", host_ip)
    for address in stand_ins:
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
    def __init__(self, name: str, args: list[str], log_path, status_file: Path):
        self.name = name
        self.log_path = log_path
        self.status_file = status_file
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hubdist", "netguard", "--name", name, *args]
            + ["--status-file", str(status_file)],
            stdout=open(log_path, "ab"),
            stderr=subprocess.STDOUT,
        )
        self.chains = chain_names(name)

    def jumps_present(self) -> bool:
        fwd, inp = self.chains
        checks = (("DOCKER-USER", fwd), ("INPUT", inp))
        return all(
            run("iptables", "-w", "-C", p, "-j", c, check=False).returncode == 0 for p, c in checks
        )

    def state(self) -> str:
        try:
            return json.loads(self.status_file.read_text())["state"]
        except (OSError, ValueError):
            return "none"

    def wait_state(self, state: str, timeout: float = 30) -> None:
        """Until the status file (written at each check) says ``state``."""
        deadline = time.monotonic() + timeout
        while self.state() != state:
            assert self.proc.poll() is None, f"netguard exited: {self.log_path.read_text()}"
            assert time.monotonic() < deadline, (
                f"status not {state!r} but {self.state()!r}:\n{self.log_path.read_text()}"
            )
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


def netguard_cli(*args: str) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "hubdist", "netguard", *args, check=False)


# -- a connection held open from a user's server across a change of the rules ------------

ECHO = r"""
import socket, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 9999))
srv.listen(8)
def echo(conn):
    with conn:
        while data := conn.recv(64):
            conn.sendall(data)
while True:
    threading.Thread(target=echo, args=(srv.accept()[0],), daemon=True).start()
"""

# Opens a connection to the echo server, checks it answers, then at each step file
# (/tmp/hold.N) sends again and records the outcome. IP_RECVERR: an ICMP rejection ends an
# established connection at once (EHOSTUNREACH) instead of only after retransmissions.
HOLD = r"""
import os, socket, sys, time
out = open(sys.argv[2], "a", buffering=1)
for attempt in range(50):
    try:
        s = socket.create_connection((sys.argv[1], 9999), timeout=3)
        break
    except OSError:
        time.sleep(0.2)
s.setsockopt(socket.IPPROTO_IP, 11, 1)
def ask(step):
    try:
        s.sendall(b"ping")
        out.write(step + (" reached\n" if s.recv(64) == b"ping" else " wrong answer\n"))
    except socket.timeout:
        out.write(step + " timed out\n")
    except OSError as e:
        out.write(step + " " + type(e).__name__ + ": " + (e.strerror or str(e)) + "\n")
ask("open")
while not os.path.exists(sys.argv[2] + ".go"):
    time.sleep(0.1)
ask("after")
"""


class HeldConnection:
    """A connection from ``container`` to the echo server at ``address``, opened now."""

    def __init__(self, container: str, address: str, tag: str):
        self.container, self.out = container, f"/tmp/hold-{tag}"
        docker("exec", "-d", container, "python3", "-c", HOLD, address, self.out)
        self.opened = self._wait_for("open")

    def _wait_for(self, step: str) -> str:
        deadline = time.monotonic() + 30
        while True:
            shown = docker("exec", self.container, "cat", self.out, check=False).stdout
            for line in shown.splitlines():
                if line.startswith(step + " "):
                    return line.removeprefix(step + " ")
            assert time.monotonic() < deadline, f"no {step!r} from the held connection: {shown}"
            time.sleep(0.2)

    def use_again(self) -> str:
        docker("exec", self.container, "touch", self.out + ".go")
        return self._wait_for("after")


# -- the drill -------------------------------------------------------------------------------


@dataclass
class Outcome:
    spawn_without_guard: str  # the message of the refused start
    during: dict
    through_proxy_during: int
    restored_after_tampering: bool
    bridge_off: dict  # what happens while bridged traffic escapes iptables
    after_sigterm: dict
    exit_code: int
    rules_after_sigterm: list
    removed: dict
    leftovers_after_remove: list
    gap: dict  # connections opened while the rules did not hold


@pytest.fixture(scope="module")
def outcome(engine_ready, tmp_path_factory) -> Outcome:
    tmp = tmp_path_factory.mktemp("netguard")
    undo: list = []
    lab = make_network(undo)
    try:
        yield run_drill(lab, tmp)
    finally:
        lab.cleanup()


def set_bridge_filtering(value: str) -> None:
    BRIDGE_SYSCTL.write_text(f"{value}\n")


def run_drill(lab: Lab, tmp) -> Outcome:
    make_stand_ins(lab, tmp)
    host_port = listen(lab, socket.SOCK_STREAM, 0)
    listen(lab, socket.SOCK_DGRAM, 53)
    gateway0 = bridge_gateway()  # where the hub on the host is reached (hub_connect_ip)
    status_file = tmp / "netguard-status" / "status.json"

    hub = Hub(tmp / "hub", "", prefix=PREFIX, image=TEST_IMAGE)
    # The proxy's API on an address containers can reach, as the attack needs (the compose
    # deployment also puts it on a network of its own: tests/e2e/test_compose_isolation.py).
    hub.config = (
        f'c.DockerSpawner.network_name = "{lab.network}"\n'
        f'c.ConfigurableHTTPProxy.api_url = "http://{gateway0}:{hub.api_port}"\n'
        f'c.DockerSpawner.netguard_status_file = "{status_file}"\n'
        "c.DockerSpawner.netguard_wait = 3\n"
    )
    hub.start()
    lab.undo.append(hub.stop)
    users = [f"{x}{secrets.token_hex(3)}" for x in "abc"]
    lab.undo.append(lambda: [docker("rm", "-f", user_container(u), check=False) for u in users])
    alice, bob, carol = users

    # Fail closed: no guard has reported, so no server starts.
    refused_without_guard = hub.spawn_failure(alice)

    name = f"t{secrets.token_hex(3)}"
    guard_args = [
        *("--users-range", str(lab.users), "--subnet", str(lab.subnet)),
        *("--allow", f"{gateway0}:{hub.hub_port}", "--interval", "1"),
    ]
    lab.undo.append(lambda: netguard_cli("--remove", "--name", name))
    guard = GuardProcess(name, guard_args, tmp / "netguard.log", status_file)
    lab.undo.append(guard.stop)
    guard.wait_state("enforced")

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
    victim = user_container(bob)
    docker("exec", "-d", victim, "python3", "-c", ECHO)

    targets = [
        ("other_user", "tcp", addresses[bob], 8888),
        ("proxy_api", "tcp", gateway0, hub.api_port),
        ("host_service", "tcp", lab.gateway, host_port),
        *((attack, "http", address, 80) for attack, address in BLOCKED_STAND_INS.items()),
        ("hub_api", "http", gateway0, hub.hub_port),
        ("dns", "udp", lab.gateway, 53),
        ("outside", "http", OUTSIDE, 80),
    ]
    attacker = user_container(alice)
    during = probe(attacker, targets)
    through_proxy = hub.user_get(alice, "api/status").status_code

    # Someone flushes the firewall's jump (an engine restart, a firewall reload): it is back
    # within the check interval.
    run("iptables", "-w", "-D", "DOCKER-USER", "-j", guard.chains[0])
    deadline = time.monotonic() + 30
    while not guard.jumps_present() and time.monotonic() < deadline:
        time.sleep(0.2)
    restored = guard.jumps_present()

    # Bridged traffic no longer passed to iptables (br_netfilter off): the rules are all in
    # place and yet user-to-user traffic flows. It must show, and stop spawns.
    previous = BRIDGE_SYSCTL.read_text().strip()
    bridge_off: dict = {}
    try:
        set_bridge_filtering("0")
        guard.wait_state("not-enforced")
        bridge_off["probe"] = probe(attacker, targets[:1])["other_user"]
        held = HeldConnection(attacker, addresses[bob], "bridge")
        bridge_off["held_opened"] = held.opened
        check = netguard_cli("--check", "--name", name, *guard_args)
        bridge_off["check"] = (check.returncode, check.stderr)
        bridge_off["spawn"] = hub.spawn_failure(carol)
    finally:
        set_bridge_filtering(previous)
    guard.wait_state("enforced")
    bridge_off["held_after"] = held.use_again()
    hub.spawn(carol)  # enforced again: servers start
    bridge_off["spawn_after"] = "started"

    exit_code = guard.stop()
    rules_after_sigterm = guard.leftovers()
    after_sigterm = probe(attacker, targets)

    removal = netguard_cli("--remove", "--name", name)
    assert removal.returncode == 0, removal.stderr
    leftovers = guard.leftovers()
    removed = probe(attacker, targets)

    # A gap: with no rules, alice connects to bob; then the guard starts.
    held = HeldConnection(attacker, addresses[bob], "gap")
    status_file.unlink()
    second = GuardProcess(name, guard_args, tmp / "netguard.log", status_file)
    lab.undo.append(second.stop)
    second.wait_state("enforced")
    gap = {"opened": held.opened, "after": held.use_again()}
    second.stop()
    netguard_cli("--remove", "--name", name)

    for u in users:
        if hub.server_model(u) is not None:
            hub.stop_server(u)
    for target, *_ in targets:  # the results table of docs/network-isolation.md (pytest -s)
        print(
            f"{target:13} with guard: {during[target]:28} after SIGTERM: "
            f"{after_sigterm[target]:28} removed: {removed[target]}"
        )
    print(json.dumps({"refused": refused_without_guard, "bridge_off": bridge_off, "gap": gap}))
    return Outcome(
        refused_without_guard,
        during,
        through_proxy,
        restored,
        bridge_off,
        after_sigterm,
        exit_code,
        rules_after_sigterm,
        removed,
        leftovers,
        gap,
    )


# -- what a user would notice --------------------------------------------------------------


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_rejected_at_once_with_the_guard_and_works_once_it_is_removed(outcome, attack):
    """other_user: another user's server port, directly; proxy_api: the proxy's REST API;
    host_service: a service on the host (stand-in for the hub's database or the engine's
    TCP port); metadata, private_*, shared_100_64: stand-in servers in each blocked range.
    Rejected, not dropped: the attempt fails at once with "No route to host"."""
    assert outcome.during[attack] == REJECTED, f"{attack} with the guard: {outcome.during}"
    assert outcome.removed[attack] == "reached", f"control failed: {outcome.removed}"


@pytest.mark.parametrize("service", ALLOWED)
def test_hub_api_dns_and_outside_addresses_stay_reachable(outcome, service):
    assert outcome.during[service] == "reached", outcome.during
    assert outcome.removed[service] == "reached", outcome.removed


def test_servers_stay_reachable_through_the_proxy(outcome):
    assert outcome.through_proxy_during == 200


def test_no_server_starts_before_the_guard_reports_its_rules_enforced(outcome):
    message = outcome.spawn_without_guard
    assert "network isolation" in message and "has not reported" in message, message


def test_a_lost_jump_is_put_back_by_the_running_guard(outcome):
    assert outcome.restored_after_tampering


def test_with_bridged_traffic_unfiltered_the_guard_says_so_and_no_server_starts(outcome):
    off = outcome.bridge_off
    # the danger is real: with every rule in place, user to user goes through
    assert off["probe"] == "reached", off
    code, said = off["check"]
    assert code == 1 and "bridge-nf-call-iptables is 0" in said, said
    assert "bridge-nf-call-iptables is 0" in off["spawn"], off["spawn"]
    assert off["spawn_after"] == "started"


def test_connections_opened_while_the_rules_did_not_hold_end_once_they_do(outcome):
    assert outcome.bridge_off["held_opened"] == "reached", outcome.bridge_off
    assert outcome.bridge_off["held_after"] == REJECTED, outcome.bridge_off
    assert outcome.gap["opened"] == "reached", outcome.gap
    assert outcome.gap["after"] == REJECTED, outcome.gap


def test_sigterm_stops_the_guard_and_leaves_its_rules_in_force(outcome):
    assert outcome.exit_code == 0
    assert outcome.rules_after_sigterm, "the rules went with the guard"
    for attack in ATTACKS:
        assert outcome.after_sigterm[attack] == REJECTED, outcome.after_sigterm


def test_remove_takes_out_exactly_the_guards_rules(outcome):
    assert outcome.leftovers_after_remove == []
