"""The doctor's pure parts: routes compared with servers, findings shown; and the spawn
phases timed into the metrics."""

from __future__ import annotations

import json

from prometheus_client import REGISTRY

from hubdist.doctor import OK, PROBLEM, SKIPPED, Finding
from hubdist.doctor.findings import to_json, to_text
from hubdist.doctor.routes import compare
from hubdist.spawners.progress import PHASES, ProgressChannel

HUB_ROUTE = {"/": {"target": "http://hub:8081", "hub": True, "jupyterhub": True}}


def test_routes_matching_the_running_servers_are_ok_whatever_their_trailing_slash():
    routes = {**HUB_ROUTE, "/user/alice": {"target": "http://10.0.0.5:8888", "user": "alice"}}

    (finding,) = compare(routes, {"/user/alice/": "alice"})

    assert finding.status == OK and "1 running server(s)" in finding.message


def test_a_route_to_a_server_the_hub_does_not_run_is_stale():
    routes = {**HUB_ROUTE, "/user/bob": {"target": "http://10.0.0.6:8888", "user": "bob"}}

    (finding,) = compare(routes, {})

    assert finding.status == PROBLEM
    assert "stale route /user/bob -> http://10.0.0.6:8888 (bob's server" in finding.message


def test_a_running_server_without_a_route_and_a_missing_hub_route_are_problems():
    findings = compare({}, {"/user/carol/lab/": "carol/lab"})

    messages = [f.message for f in findings]
    assert any("no route to the hub" in m for m in messages)
    assert any("carol/lab's running server has no route (/user/carol/lab/)" in m for m in messages)
    assert all(f.status == PROBLEM and "restart hub" in f.advice for f in findings)


def test_advice_is_shown_under_what_is_not_ok_and_json_says_whether_all_is_well():
    findings = [
        Finding("engine", OK, "Docker 28", "never shown"),
        Finding("disk", PROBLEM, "1 GiB free", "docker image prune"),
        Finding("disk", SKIPPED, "not here", "run it on the host"),
    ]

    text = to_text(findings)

    assert "never shown" not in text
    assert "-> docker image prune" in text and "-> run it on the host" in text
    assert text.splitlines()[-1].startswith("1 problem(s), 0 warning(s)")
    assert json.loads(to_json(findings))["ok"] is False
    assert json.loads(to_json(findings[:1]))["ok"] is True


def phase_count(phase: str, outcome: str) -> float:
    labels = {"phase": phase, "outcome": outcome}
    return REGISTRY.get_sample_value("hubdist_spawn_phase_duration_seconds_count", labels) or 0


def test_each_phase_of_a_start_is_timed_and_a_failure_marks_the_phase_it_ended_in():
    before = {(p, o): phase_count(p, o) for p in PHASES for o in ("ok", "failed")}
    channel = ProgressChannel()

    channel.reset()
    channel.phase("image")
    channel.phase("image")  # still the same phase
    channel.phase("create")
    channel.close(ok=False)

    counted = {key: phase_count(*key) - value for key, value in before.items()}
    assert {key for key, n in counted.items() if n} == {
        ("prepare", "ok"), ("image", "ok"), ("create", "failed"),
    }  # fmt: skip
    assert all(n in (0, 1) for n in counted.values())
