"""hubdist doctor on a swarm: what it says of the nodes' network guards (pure logic; the
multinode tests run the check in a real stack's hub)."""

from __future__ import annotations

from hubdist.doctor.findings import OK, PROBLEM, WARNING
from hubdist.doctor.swarmguards import SwarmNode, networks_of, swarm_guard_findings


def node(name: str, knows: list[str] | None, on_users_network: bool = True) -> SwarmNode:
    guard = None if knows is None else {"node_id": name.upper(), "knows": knows}
    return SwarmNode(name.upper(), name, on_users_network=on_users_network, guard=guard)


def test_every_node_guarded_and_known_is_ok():
    found = swarm_guard_findings([node("w1", ["W2"]), node("w2", ["W1"])], "hub")
    assert [f.status for f in found] == [OK]
    assert "a network guard answers on each of the 2 node(s)" in found[0].message


def test_a_node_without_a_guard_is_a_problem_naming_it_and_where_to_look():
    lost = node("w2", None)
    lost.unanswered = ["10.0.2.5:8091 (timeout)"]
    found = swarm_guard_findings([node("w1", ["W2"]), lost], "hub")
    assert [f.status for f in found] == [PROBLEM]
    assert "no network guard answers on node w2" in found[0].message
    assert "10.0.2.5:8091 (timeout)" in found[0].message
    assert "docker service logs hub_netguard" in found[0].advice


def test_a_guard_that_does_not_know_another_node_is_a_warning():
    found = swarm_guard_findings([node("w1", []), node("w2", ["W1"])], "hub")
    assert [f.status for f in found] == [WARNING]
    assert "the guard on node w1 has not learned the addresses of w2" in found[0].message


def test_a_node_off_the_users_network_is_a_warning_pointing_at_the_anchor():
    found = swarm_guard_findings([node("w1", ["W2"]), node("w2", ["W1"], False)], "hub")
    assert [f.status for f in found] == [WARNING]
    assert "not on the users' network yet: w2" in found[0].message
    assert "anchor" in found[0].advice


def test_the_networks_of_a_node_are_those_of_its_running_tasks():
    def task(state: str, network: str) -> dict:
        attached = [{"Network": {"Spec": {"Name": network}}, "Addresses": ["10.0.1.2/24"]}]
        return {"Status": {"State": state}, "NetworksAttachments": attached}

    tasks = [task("running", "hubdist"), task("shutdown", "old"), task("running", "hub_guards")]
    assert networks_of(tasks) == {"hubdist", "hub_guards"}
