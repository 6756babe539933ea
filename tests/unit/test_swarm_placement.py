"""SwarmSpawner's placement: constraints chosen per user, and the pin kept in state."""

from types import SimpleNamespace

from traitlets.config import Config

from hubdist import SwarmSpawner
from hubdist.spawners.swarm import pinned_node_problem


def make(config: Config, user: str = "alice") -> SwarmSpawner:
    return SwarmSpawner(
        config=config,
        user=SimpleNamespace(name=user, url=f"/user/{user}/"),
        orm_spawner=SimpleNamespace(name="", server=None),
        hub=SimpleNamespace(public_host="", api_url="http://hub:8081/hub/api", base_url="/hub/"),
    )


async def test_a_callable_chooses_constraints_per_user_and_may_use_templates():
    c = Config()
    c.SwarmSpawner.placement_constraints = lambda spawner: (
        ["node.labels.size == large"] if spawner.user.name == "bo" else ["node.role == {username}"]
    )
    assert await make(c, "bo")._constraints() == ["node.labels.size == large"]
    assert await make(c, "worker")._constraints() == ["node.role == worker"]


async def test_an_async_callable_works_too():
    async def constraints(spawner):
        return ["node.labels.gpu == true"]

    c = Config()
    c.SwarmSpawner.placement_constraints = constraints
    assert await make(c)._constraints() == ["node.labels.gpu == true"]


def test_the_pinned_node_is_kept_in_state_across_a_stop():
    c = Config()
    c.SwarmSpawner.pin_to_node = True
    spawner = make(c)
    spawner.object_id = "service-id"
    spawner.pinned_node = "node-7"
    spawner.clear_state()  # what the hub does when the server stops
    state = spawner.get_state()
    assert state["pinned_node"] == "node-7" and "object_id" not in state

    again = make(c)
    again.load_state(state)
    assert again.pinned_node == "node-7"


async def test_an_unpinned_spawner_adds_no_node_constraint():
    c = Config()
    c.SwarmSpawner.pin_to_node = True  # but it has not run anywhere yet
    assert await make(c)._constraints() == []


def node(state="ready", availability="active"):
    return {
        "Description": {"Hostname": "worker-2"},
        "Status": {"State": state},
        "Spec": {"Availability": availability},
    }


def test_a_pinned_node_that_is_up_is_no_problem():
    assert pinned_node_problem("n2", node()) == ""


def test_a_pinned_node_that_is_down_or_drained_is_named_with_what_to_do():
    down = pinned_node_problem("n2", node(state="down"))
    assert "pinned to node worker-2" in down and "that node is down. Try again" in down
    drained = pinned_node_problem("n2", node(availability="drain"))
    assert "that node is set to drain by an admin" in drained


def test_a_pinned_node_that_left_the_swarm_says_the_files_went_with_it():
    gone = pinned_node_problem("n2", None)
    assert "node n2" in gone and "has left the swarm" in gone and "empty work folder" in gone
