"""Network isolation on a swarm: `hubdist netguard --swarm` puts rules inside each user's
server, and no server answers before they are in.

A real hub (on the host, as tests/hubrig runs it) starts users' servers as Swarm services
on an overlay network this module makes, asking the node's guard (the CLI, as a
subprocess, as root, with this host's /proc as the host's /proc) before it lets a server
answer. From inside user A's real container each attack is tried with the guard running,
after it stopped (the rules live in the server's namespace and stay), and after the rules
were taken out of A's namespace by hand: the control, where every attack must work, or its
test proves nothing. A blocked attempt must fail at once with "No route to host".

What is attacked was made here: user B's server, a stand-in for the proxy's API on the
overlay network, a listener on the node's address, and the stand-in namespace of
tests/engine/test_network_isolation.py (169.254.169.254, one address in each private range,
an "internet" address), routed to from the swarm's gateway bridge only.
"""

from __future__ import annotations

import ipaddress
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest

from ..hubrig import (
    PREFIX,
    TEST_IMAGE,
    Hub,
    bridge_gateway,
    docker,
    docker_json,
    free_port,
    inspect,
)
from .test_network_isolation import (
    BLOCKED_STAND_INS,
    OUTSIDE,
    REJECTED,
    Lab,
    make_stand_ins,
    probe,
    serve,
)

pytestmark = pytest.mark.engine

ATTACKS = ("other_user", "proxy_api", "node", *BLOCKED_STAND_INS)
ALLOWED = ("hub_api", "outside")


@dataclass
class Outcome:
    guarded: dict = field(default_factory=dict)  # probe results with the guard running
    guard_stopped: dict = field(default_factory=dict)  # after SIGTERM: rules stay
    unguarded: dict = field(default_factory=dict)  # the control: rules taken out by hand
    dns: str = ""  # what the proxy stand-in's name resolved to, inside A, guarded
    proxy_ip: str = ""
    through_proxy: int = 0  # A's server through the real proxy, guarded
    guard_exit: int | None = None
    guard_log: str = ""
    refused: str = ""  # the message of a start while no guard runs
    refused_leftovers: list = field(default_factory=list)
    node: str = ""


def task_container(service: str) -> str:
    listed = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}")
    ids = listed.stdout.split()
    assert len(ids) == 1, f"{service}: containers {ids}"
    return ids[0]


def address_on(container: str, network: str) -> str:
    return inspect("container", container)["NetworkSettings"]["Networks"][network]["IPAddress"]


def take_rules_out(container: str) -> None:
    """The control: the server's namespace as it would be with no guard at all."""
    netns = f"/proc/{inspect('container', container)['State']['Pid']}/ns/net"
    for step in (
        ["-D", "OUTPUT", "-j", "HUBDIST-SERVER-OUT"],
        ["-F", "HUBDIST-SERVER-OUT"],
        ["-X", "HUBDIST-SERVER-OUT"],
    ):
        done = subprocess.run(["nsenter", f"--net={netns}", "iptables", "-w", *step])
        assert done.returncode == 0, step


def leftovers_of(service: str, timeout: float = 60) -> list[str]:
    """The service and its containers, once its removal has reached them (or the time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        found = docker("service", "ls", "-q", "--filter", f"name={service}").stdout.split()
        label = f"label=com.docker.swarm.service.name={service}"
        found += docker("ps", "-aq", "--filter", label).stdout.split()
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


RESOLVE = "import socket, sys; print(socket.gethostbyname(sys.argv[1]))"


@pytest.fixture(scope="module")
def outcome(swarm, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("swarmguard")
    undo: list = []
    try:
        yield run_drill(tmp, undo)
    finally:
        for step in reversed(undo):
            try:
                step()
            except Exception as e:  # keep undoing the rest
                print(f"cleanup step failed: {e}", file=sys.stderr)


def run_drill(tmp, undo: list) -> Outcome:
    out = Outcome(node=docker("info", "--format", "{{.Name}}").stdout.strip())
    network = f"{PREFIX}-swarmguard"
    docker("network", "create", "--driver", "overlay", "--attachable", network)
    undo.append(lambda: docker("network", "rm", network, check=False))

    # the proxy's API stand-in: on a stack the proxy is on the users' overlay network
    proxy = f"{PREFIX}-swarmguard-proxy"
    docker("run", "-d", "--name", proxy, "--network", network, TEST_IMAGE,
           "python3", "-m", "http.server", "8001")  # fmt: skip
    undo.append(lambda: docker("rm", "-f", proxy, check=False))
    out.proxy_ip = address_on(proxy, network)

    # a service on the node (its database, an engine's TCP port) and the stand-ins routed
    # to from the gateway bridge, through which tasks leave the node
    node_ip = bridge_gateway()
    node_sock = serve(node_ip)
    undo.append(node_sock.close)
    gwbridge = docker_json("network", "inspect", "docker_gwbridge")[0]["IPAM"]["Config"][0]
    subnet = ipaddress.IPv4Network(gwbridge["Subnet"])
    lab = Lab(network, subnet, subnet, gwbridge.get("Gateway", ""), undo)
    make_stand_ins(lab, tmp)

    guard_port = free_port()
    guard_log = tmp / "guard.log"
    guard = subprocess.Popen(
        [sys.executable, "-m", "hubdist", "netguard", "--swarm", "--host-proc", "/proc",
         "--listen", f"127.0.0.1:{guard_port}", "--interval", "2", "--deployment", PREFIX],
        stdout=open(guard_log, "ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    undo.append(lambda: guard.poll() is None and (guard.kill(), guard.wait()))

    hub = Hub(
        tmp / "hub",
        f"""
c.JupyterHub.spawner_class = "hubdist.SwarmSpawner"
c.SwarmSpawner.use_internal_ip = False
c.SwarmSpawner.network_name = "{network}"
c.SwarmSpawner.netguard_address = "127.0.0.1:{guard_port}"
c.SwarmSpawner.netguard_wait = 5
""",
        prefix=PREFIX,
        image=TEST_IMAGE,
    ).start()
    undo.append(hub.stop)
    for user in ("alice", "bob"):
        hub.spawn(user)
        undo.append(lambda user=user: docker("service", "rm", f"{PREFIX}-{user}", check=False))
    alice = task_container(f"{PREFIX}-alice")
    bob = task_container(f"{PREFIX}-bob")
    labels = inspect("container", alice)["Config"]["Labels"]
    assert labels["org.jupyter.hubdist.deployment"] == PREFIX, labels

    targets = [
        ("other_user", "tcp", address_on(bob, network), 8888),
        ("proxy_api", "tcp", out.proxy_ip, 8001),
        ("node", "tcp", node_ip, node_sock.getsockname()[1]),
        *[(name, "http", address, 80) for name, address in BLOCKED_STAND_INS.items()],
        ("hub_api", "http", node_ip, hub.hub_port),
        ("outside", "http", OUTSIDE, 80),
    ]
    out.guarded = probe(alice, targets)
    resolved = docker("exec", alice, "python3", "-c", RESOLVE, proxy, check=False)
    out.dns = resolved.stdout.strip() or resolved.stderr
    out.through_proxy = hub.user_get("alice", "api/status").status_code

    guard.send_signal(signal.SIGTERM)
    out.guard_exit = guard.wait(30)
    out.guard_stopped = probe(alice, targets)

    out.refused = hub.spawn_failure("carol")
    out.refused_leftovers = leftovers_of(f"{PREFIX}-carol")

    take_rules_out(alice)
    out.unguarded = probe(alice, targets)
    out.guard_log = guard_log.read_text()
    return out


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_rejected_at_once_with_the_guard_and_works_without_it(outcome, attack):
    assert outcome.guarded[attack] == REJECTED, (outcome.guarded, outcome.guard_log)
    assert outcome.unguarded[attack] == "reached", (
        f"control: without the guard {attack} must be reachable, or the test proves nothing: "
        f"{outcome.unguarded}"
    )


@pytest.mark.parametrize("service", ALLOWED)
def test_hub_api_and_outside_stay_reachable(outcome, service):
    assert outcome.guarded[service] == "reached", (outcome.guarded, outcome.guard_log)


def test_dns_works_and_the_server_answers_through_the_proxy(outcome):
    assert outcome.dns == outcome.proxy_ip
    assert outcome.through_proxy == 200


def test_a_stopped_guard_leaves_the_rules_in_the_servers(outcome):
    assert outcome.guard_exit == 0, outcome.guard_log
    assert "the rules stay" in outcome.guard_log
    for attack in ATTACKS:
        assert outcome.guard_stopped[attack] == REJECTED, outcome.guard_stopped


def test_without_a_guard_no_server_starts_and_nothing_is_left(outcome):
    assert "Your server was not started" in outcome.refused, outcome.refused
    assert f"no network guard on node {outcome.node}" in outcome.refused, outcome.refused
    assert outcome.refused_leftovers == [], "the refused server's service and container go"


# -- rules follow the server: the guard acts on start events, unasked ---------------------


def guarded(container: str) -> bool:
    netns = f"/proc/{inspect('container', container)['State']['Pid']}/ns/net"
    check = [
        "nsenter",
        f"--net={netns}",
        "iptables",
        "-w",
        "-C",
        "OUTPUT",
        "-j",
        "HUBDIST-SERVER-OUT",
    ]
    return subprocess.run(check, capture_output=True).returncode == 0


def wait_until_guarded(container: str, log_path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not guarded(container):
        assert time.monotonic() < deadline, f"not guarded:\n{log_path.read_text()}"
        time.sleep(0.3)


def test_a_server_that_starts_is_guarded_without_the_hub_asking_and_the_check_says_so(
    swarm, tmp_path
):
    """No hub here, and no sweep after the first (--interval 600): only the engine's start
    event can put the rules in."""
    network, server = f"{PREFIX}-swarmguard-ev", f"{PREFIX}-swarmguard-ev-server"
    undo = []
    try:
        docker("network", "create", "--driver", "overlay", "--attachable", network)
        undo.append(lambda: docker("network", "rm", network, check=False))
        log_path = tmp_path / "guard.log"
        listen = f"127.0.0.1:{free_port()}"
        guard = subprocess.Popen(
            [sys.executable, "-m", "hubdist", "netguard", "--swarm", "--host-proc", "/proc",
             "--listen", listen, "--interval", "600", "--deployment", PREFIX],
            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        undo.append(lambda: guard.poll() is None and (guard.terminate(), guard.wait(30)))
        deadline = time.monotonic() + 60
        while "guarding users' servers" not in log_path.read_text():
            assert guard.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)

        docker("run", "-d", "--name", server, "--network", network,
               "--label", "org.jupyter.hubdist.managed=true",
               "--label", f"org.jupyter.hubdist.deployment={PREFIX}",
               "-e", "JUPYTERHUB_API_URL=http://192.0.2.1:8081/hub/api",
               TEST_IMAGE, "sleep", "600")  # fmt: skip
        undo.append(lambda: docker("rm", "-f", server, check=False))
        wait_until_guarded(server, log_path)

        # a restart gets a new namespace (its start event puts the rules in again)
        docker("restart", "-t", "0", server)
        wait_until_guarded(server, log_path)

        # the stack's health check: healthy while it guards, not once it stopped
        check = [sys.executable, "-m", "hubdist", "netguard", "--swarm", "--check"]
        assert subprocess.run([*check, "--listen", listen]).returncode == 0
        guard.terminate()
        guard.wait(30)
        assert subprocess.run([*check, "--listen", listen]).returncode == 1
    finally:
        for step in reversed(undo):
            step()
