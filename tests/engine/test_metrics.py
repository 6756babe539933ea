"""/hub/metrics of a real hub: closed without the scoped token, and hubdist's own figures
(spawn phases, pulls, engine calls) with real values after a real spawn and pull; the
event stream's reconnects counted on the real engine."""

from __future__ import annotations

import time

import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from hubdist.engine import Engine

from .test_pull_policies import registry  # noqa: F401 (a fixture)

METRICS_TOKEN = "metrics-test-token-4f2a9c1e"
SCRAPER_CONFIG = f"""
from hubdist import metrics
service, role = metrics.scrape_service("{METRICS_TOKEN}")
c.JupyterHub.services.append(service)
c.JupyterHub.load_roles.append(role)
"""


def scrape(hub, token: str | None) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.get(f"{hub.url}/hub/metrics", headers=headers, timeout=30)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_metrics_are_refused_without_the_scoped_token(make_hub):
    hub = make_hub(SCRAPER_CONFIG)

    assert scrape(hub, None).status_code == 403
    assert scrape(hub, "not-a-token-at-all").status_code == 403
    # the scraper's token reads the metrics and nothing else
    assert scrape(hub, METRICS_TOKEN).status_code == 200
    users = requests.get(
        f"{hub.url}/hub/api/users", headers={"Authorization": f"token {METRICS_TOKEN}"}, timeout=30
    )
    assert users.status_code == 403, users.text


def test_a_spawn_with_a_pull_shows_in_hubdists_figures(make_hub, registry, username):  # noqa: F811
    hub = make_hub(
        f'c.DockerSpawner.image = "{registry}"\n'
        'c.DockerSpawner.pull_policy = "always"\n'
        'c.Spawner.cmd = ["sh", "-c", "sleep 2; exec python3 -m http.server 8888"]\n'
        + SCRAPER_CONFIG
    )
    before = samples(scrape(hub, METRICS_TOKEN).text)

    hub.spawn(username)
    found = samples(scrape(hub, METRICS_TOKEN).text)
    hub.stop_server(username)

    for phase in ("prepare", "image", "create", "start", "answer"):
        count = "hubdist_spawn_phase_duration_seconds_count"
        assert value(found, count, phase=phase, outcome="ok") == 1, (phase, found)
        total = value(found, "hubdist_spawn_phase_duration_seconds_sum", phase=phase, outcome="ok")
        assert total > 0, phase
    # the server's command sleeps 2 s before it answers
    spawn_seconds = value(found, "hubdist_spawn_duration_seconds_sum", outcome="ok")
    assert spawn_seconds >= 2
    answer = value(found, "hubdist_spawn_phase_duration_seconds_sum", phase="answer", outcome="ok")
    assert answer >= 2
    assert value(found, "hubdist_image_pulls_total", outcome="ok") == 1
    assert value(found, "hubdist_image_pull_duration_seconds_sum", outcome="ok") > 0
    calls = "hubdist_engine_call_duration_seconds_count"
    assert value(found, calls, call="create_container", outcome="ok") == 1
    assert value(found, calls, call="start", outcome="ok") == 1
    assert value(found, calls, call="inspect_container", outcome="ok") >= 1
    assert value(before, calls, call="create_container", outcome="ok") == 0
    # JupyterHub's own figures come in the same scrape
    assert any(name.startswith("jupyterhub_") for name, _ in found)


def test_a_broken_event_stream_is_reopened_and_counted(engine_ready):
    name = "hubdist_engine_event_stream_reconnects_total"
    opened: list[float] = []
    engine = Engine(call_timeout=10)
    feed = engine.watch_events(
        {"type": ["container"]}, lambda event: None, lambda: opened.append(1)
    )
    try:
        deadline = time.monotonic() + 30
        while not opened and time.monotonic() < deadline:
            time.sleep(0.05)
        before = REGISTRY.get_sample_value(name)
        feed.stream.close()  # as when the engine drops the connection
        while len(opened) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)

        assert len(opened) == 2
        assert REGISTRY.get_sample_value(name) == before + 1
    finally:
        feed.stop()
