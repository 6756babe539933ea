"""Network isolation on a swarm of three machines, with the stack's network guard on every
node (the shared cluster: its stack runs the guard as shipped). The nodes talk over public
addresses (tests/nodes.py make_network(public=True)): no private range covers them, so the
other nodes are rejected only because each guard learned their addresses from theirs.

Users' servers (the stub image) run where their names put them: ann and cat on w1, ben on
w2. From inside ann's server every attack is tried with the guards running; then the
guard on w1 is taken off that node (a placement constraint): a new server there is refused
naming the node, ann's rules stay; then they are taken out of her server by hand, and every
attack must work (the control), or the test proves nothing. At the end w1 has its guard
again and the three servers are stopped, for the tests that share the cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from ..engine.test_network_isolation import PROBE, REJECTED
from ..hubrig import docker
from ..nodes import EngineNode
from .cluster import Cluster, User, start_server, wait_until

ATTACKS = ("user_on_other_node", "user_on_same_node", "proxy_api", "own_node", "other_node",
           "manager_engine")  # fmt: skip
CHAIN = "HUBDIST-SERVER-OUT"


@dataclass
class Outcome:
    guarded: dict = field(default_factory=dict)
    guard_gone: dict = field(default_factory=dict)  # w1's guard removed: ann's rules stay
    unguarded: dict = field(default_factory=dict)  # the control
    refused: str = ""
    guard_log: str = ""
    doctor_guarded: list = field(default_factory=list)  # hubdist doctor's netguard findings
    doctor_guard_gone: list = field(default_factory=list)
    w1: str = ""


def container_of(cluster: Cluster, node: EngineNode, user: str) -> str:
    label = f"label=com.docker.swarm.service.name={cluster.service(user)}"
    (found,) = node.docker("ps", "-q", "--filter", label).stdout.split()
    return found


def inspect_on(node: EngineNode, container: str) -> dict:
    return json.loads(node.docker("inspect", container).stdout)[0]


def probe_on(node: EngineNode, container: str, targets: list) -> dict:
    done = node.docker("exec", container, "python3", "-c", PROBE, json.dumps(targets))
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def outcome(cluster):
    users: list[User] = []
    try:
        yield run_drill(cluster, users)
    finally:
        guard_back_on_w1(cluster)
        for user in users:
            user.stop()


def guard_tasks_on(cluster: Cluster, node: EngineNode) -> list[dict]:
    return cluster.running_tasks_on(f"{cluster.stack}_netguard", node)


def guard_back_on_w1(cluster: Cluster) -> None:
    w1_off = f"node.hostname!={cluster.w1.name}"
    guard_service = f"{cluster.stack}_netguard"
    if w1_off in cluster.constraints(guard_service):
        cluster.manager.docker("service", "update", "--detach", "--constraint-rm", w1_off,
                               guard_service)  # fmt: skip
    wait_until(lambda: guard_tasks_on(cluster, cluster.w1), "w1's guard to be back")


def doctor_on_guards(cluster: Cluster) -> list[dict]:
    """`hubdist doctor --only netguard` run where an admin runs it: in the stack's hub."""
    done = cluster.hub_exec("hubdist", "doctor", "--only", "netguard", "--json", check=False)
    return [f for f in json.loads(done.stdout)["findings"] if f["check"] == "netguard"]


def run_drill(cluster: Cluster, users: list[User]) -> Outcome:
    out = Outcome(w1=cluster.w1.name)
    guard_service = f"{cluster.stack}_netguard"
    for name in ("on-w1-ann", "on-w2-ben", "on-w1-cat"):
        users.append(start_server(cluster, name)[0])
    ann = container_of(cluster, cluster.w1, "on-w1-ann")

    def overlay_ip(node: EngineNode, user: str) -> str:
        networks = inspect_on(node, container_of(cluster, node, user))["NetworkSettings"]
        return networks["Networks"][cluster.stack]["IPAddress"]

    targets = [
        ("user_on_other_node", "tcp", overlay_ip(cluster.w2, "on-w2-ben"), 8888),
        ("user_on_same_node", "tcp", overlay_ip(cluster.w1, "on-w1-cat"), 8888),
        ("proxy_api", "tcp", "proxy", 8001),
        ("own_node", "tcp", cluster.w1.ip, 7946),  # Swarm's gossip, on every node
        ("other_node", "tcp", cluster.w2.ip, 7946),
        ("manager_engine", "tcp", cluster.manager.ip, 2377),
        ("hub_api", "http", "hub", 8081),
    ]
    out.guarded = probe_on(cluster.w1, ann, targets)
    out.guard_log = cluster.manager.docker("service", "logs", guard_service, check=False).stdout
    out.doctor_guarded = doctor_on_guards(cluster)

    # no guard on w1 any more
    w1_off = f"node.hostname!={cluster.w1.name}"
    cluster.manager.docker("service", "update", "--detach", "--constraint-add", w1_off,
                           guard_service)  # fmt: skip
    wait_until(lambda: not guard_tasks_on(cluster, cluster.w1), "w1's guard to go")
    out.refused = User(cluster, "on-w1-dan").start_failure()
    out.doctor_guard_gone = doctor_on_guards(cluster)
    out.guard_gone = probe_on(cluster.w1, ann, targets)

    pid = inspect_on(cluster.w1, ann)["State"]["Pid"]
    for step in (["-D", "OUTPUT", "-j", CHAIN], ["-F", CHAIN], ["-X", CHAIN]):
        # in the node's own container, where the node's engine gave that process id
        docker("exec", cluster.w1.name, "nsenter", f"--net=/proc/{pid}/ns/net",
               "iptables", "-w", *step)  # fmt: skip
    out.unguarded = probe_on(cluster.w1, ann, targets)
    return out


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_from_a_server_is_rejected_on_every_node_and_works_without_the_guard(
    outcome, attack
):
    assert outcome.guarded[attack] == REJECTED, (outcome.guarded, outcome.guard_log)
    assert outcome.guard_gone[attack] == REJECTED, outcome.guard_gone
    assert outcome.unguarded[attack] == "reached", (
        f"control: without the guard {attack} must be reachable: {outcome.unguarded}"
    )


def test_the_hubs_api_stays_open(outcome):
    assert outcome.guarded["hub_api"] == "reached", outcome.guarded


def test_a_node_without_a_guard_gets_no_new_server(outcome):
    assert f"no network guard on node {outcome.w1}" in outcome.refused, outcome.refused


def test_the_doctor_says_every_node_is_guarded_then_names_the_node_without_its_guard(outcome):
    """hubdist doctor in the stack's hub asks the guards: a guard on each of the 3 nodes,
    each knowing the others; once w1's guard is gone, a problem naming w1, and a warning
    for each guard that has not learned w1's addresses. (It used to warn that a swarm's
    servers were not isolated at all, whatever the guards did.)"""
    assert [(f["status"], f["message"]) for f in outcome.doctor_guarded] == [
        ("ok", "a network guard answers on each of the 3 node(s) that take servers, each "
         "knows the others' addresses, and each is on the users' network")
    ]  # fmt: skip
    found = [(f["status"], f["message"]) for f in outcome.doctor_guard_gone]
    assert found[0][0] == "problem", found
    assert f"no network guard answers on node {outcome.w1}" in found[0][1], found
    # taking the guard off w1 was a service update: the other nodes' guards are new ones,
    # which could not learn w1's addresses from a guard there (a real gap, now shown)
    assert found[1:] and all(
        status == "warning" and f"has not learned the addresses of {outcome.w1}" in message
        for status, message in found[1:]
    ), found


def test_a_node_whose_guard_just_started_gets_servers_before_its_health_check_passes(
    cluster, outcome
):
    """A guard task is "starting" until its first health check passes (10 s, more on a busy
    machine) and Docker's DNS names it only then; it guards from its first second. A server
    Swarm puts on that node (just reactivated, just joined, its guard just restarted) is
    ready once the guard says so: the hub finds it in the swarm's task list. Before, the
    start waited for the DNS, and was refused when the check took over netguard_wait."""
    from datetime import datetime, timezone

    guard_service = f"{cluster.stack}_netguard"
    w1_off = f"node.hostname!={cluster.w1.name}"
    assert w1_off in cluster.constraints(guard_service)  # the drill left w1 without its guard
    cluster.manager.docker("service", "update", "--detach", "--constraint-rm", w1_off,
                           guard_service)  # fmt: skip
    user, _ = start_server(cluster, "on-w1-eve")
    ready_at = datetime.now(timezone.utc)
    try:
        guard = wait_until(lambda: guard_tasks_on(cluster, cluster.w1), "w1's guard to be back")
        status = json.loads(cluster.manager.docker("inspect", guard[0]["ID"]).stdout)[0]["Status"]
        stamp = status["Timestamp"]  # when it became running: RFC 3339, nanoseconds
        running_at = datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00")
        assert ready_at < running_at, (ready_at, status)
    finally:
        user.stop()
