"""The shared swarm view's reading of task and node listings (hubdist.engine.swarm)."""

from hubdist.engine.swarm import ServerState, SwarmView, ended, summarize

NODES = [
    {"ID": "n1", "Description": {"Hostname": "worker-1"}, "Status": {"State": "ready"}},
    {"ID": "n2", "Description": {"Hostname": "worker-2"}, "Status": {"State": "down"}},
]


def task(service, state, node="n1", created="2026-01-01T00:00:01Z", desired="running", **status):
    return {
        "ID": f"{service}-{created}",
        "ServiceID": service,
        "NodeID": node,
        "CreatedAt": created,
        "DesiredState": desired,
        "Status": {"State": state, **status},
    }


def test_the_newest_task_of_each_service_counts_with_its_nodes_name():
    states = summarize(
        [
            task("s1", "failed", created="2026-01-01T00:00:01Z"),
            task("s1", "running", created="2026-01-01T00:00:09Z"),
        ],
        NODES,
    )
    assert states["s1"].state == "running" and states["s1"].node_name == "worker-1"
    assert states["s1"].running and states["s1"].end_reason() == ""


def test_a_task_on_a_node_that_is_down_has_ended_saying_which_machine():
    state = summarize([task("s1", "running", node="n2")], NODES)["s1"]
    assert not state.running
    assert state.end_reason() == "the machine it ran on (worker-2) stopped answering"


def test_a_failed_task_ends_with_its_exit_code_and_swarms_error():
    failed = task("s1", "failed", Err="task: non-zero exit (3)", ContainerStatus={"ExitCode": 3})
    state = summarize([failed], NODES)["s1"]
    assert state.end_reason() == (
        "its task on worker-1 ended (failed with exit code 3): task: non-zero exit (3)"
    )


def test_a_running_task_swarm_wants_shut_down_has_ended():
    state = summarize([task("s1", "running", desired="shutdown")], NODES)["s1"]
    assert state.end_reason() == "Swarm shut its task on worker-1 down"


def test_starting_tasks_are_not_ended():
    for starting in ("new", "pending", "assigned", "preparing", "starting"):
        assert summarize([task("s1", starting)], NODES)["s1"].running


def test_only_servers_that_ran_and_stopped_are_reported():
    old = summarize(
        [task("up", "running"), task("starting", "preparing"), task("gone", "running")], NODES
    )
    new = summarize(
        [task("up", "running"), task("starting", "failed"), task("lost", "running", node="n2")],
        NODES,
    )
    reported = {state.service_id: state.end_reason() for state in ended(old, new)}
    # "starting" never ran (its spawn reports its failure); "lost" was not running before
    assert reported == {"gone": "its service is gone"}


def test_a_service_whose_node_went_down_is_reported():
    old = summarize([task("s1", "running", node="n1")], NODES)
    down = [{**NODES[0], "Status": {"State": "down"}}]
    (state,) = ended(old, summarize([task("s1", "running", node="n1")], down))
    assert state == ServerState(
        service_id="s1",
        task_id="s1-2026-01-01T00:00:01Z",
        state="running",
        node_id="n1",
        node_name="worker-1",
        node_state="down",
        desired_state="running",
    )


def test_one_view_per_engine_listing_at_the_shortest_interval_asked_for():
    engine = object()  # the view only keeps it until it lists
    first = SwarmView.of(engine, 2.0)
    assert SwarmView.of(engine, 0.5) is first
    assert SwarmView.of(engine, 1.0).interval == 0.5
    assert SwarmView.of(object(), 3.0) is not first
