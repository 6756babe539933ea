"""The default config's proxy, culler and spawner choice, and the culler's SIGINT wrapper.

The config is loaded the way JupyterHub loads it (the ``load`` fixture of conftest.py),
without a hub.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubdist.services import culler

REPO = Path(__file__).resolve().parents[2]


def test_the_proxy_is_a_service_of_its_own_whose_restarts_the_hub_watches(load):
    c = load()

    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.ConfigurableHTTPProxy.api_url == "http://proxy:8001"
    # the token comes from the environment `hubdist start` sets, never from the config
    assert "auth_token" not in c.ConfigurableHTTPProxy
    # restarts are caught by asking the proxy (proxy_watch), not by a frequent activity
    # check, whose cost grows with the number of servers: JupyterHub's default stays
    assert c.JupyterHub.proxy_class == "hubdist.services.proxy_watch.RestartWatchingProxy"
    assert "last_activity_interval" not in c.JupyterHub
    assert c.JupyterHub.cleanup_servers is False


def test_the_idle_culler_runs_by_default_with_only_the_scopes_it_needs(load):
    c = load()

    (culler,) = c.JupyterHub.services
    assert culler["command"] == [sys.executable, "-m", "hubdist.culler", "--timeout=3600"]
    assert "api_token" not in culler and "admin" not in culler
    (role,) = c.JupyterHub.load_roles
    assert role["services"] == [culler["name"]]
    assert sorted(role["scopes"]) == [
        "delete:servers",
        "list:users",
        "read:servers",
        "read:users:activity",
    ]


def test_the_culler_timeout_comes_from_the_environment_and_zero_turns_it_off(load, monkeypatch):
    monkeypatch.setenv("HUBDIST_CULL_TIMEOUT", "600")
    assert load().JupyterHub.services[0]["command"][-1] == "--timeout=600"

    monkeypatch.setenv("HUBDIST_CULL_TIMEOUT", "0")
    c = load()
    assert "services" not in c.JupyterHub and "load_roles" not in c.JupyterHub


def test_an_override_may_add_services_next_to_the_culler(load):
    c = load(**{"50-svc.py": 'c.JupyterHub.services.append({"name": "mine", "url": "http://x"})\n'})

    assert [s["name"] for s in c.JupyterHub.services] == ["idle-culler", "mine"]


def test_the_stack_file_chooses_the_swarm_spawner_by_environment(load, monkeypatch):
    monkeypatch.setenv("HUBDIST_SPAWNER", "swarm")
    c = load()
    assert c.JupyterHub.spawner_class == "hubdist.SwarmSpawner"
    # the same settings apply: SwarmSpawner is a DockerSpawner
    assert c.DockerSpawner.network_name == "hubdist"


# -- the culler wrapper -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, used",
    [
        ("http://hub:8081/hub/api", "http://127.0.0.1:8081/hub/api"),
        ("http://hub/prefix/hub/api", "http://127.0.0.1/prefix/hub/api"),
        ("https://hub:8081/hub/api", "https://hub:8081/hub/api"),  # certificate names hub
    ],
)
def test_the_culler_calls_the_hub_in_its_own_container_on_the_loopback_address(given, used):
    # under Swarm the name "hub" resolves only once the hub is healthy
    assert culler.loopback_url(given) == used


# Stands in for jupyterhub_idle_culler: an event loop that, like the real one, runs until
# KeyboardInterrupt; it says when it is running.
FAKE_CULLER = """
import asyncio

def main():
    async def forever():
        print("culling", flush=True)
        await asyncio.Event().wait()
    try:
        asyncio.run(forever())
    except KeyboardInterrupt:
        pass
"""


@pytest.mark.parametrize("wrapped", [True, False])
def test_the_culler_stops_on_sigint_even_when_started_with_sigint_ignored(tmp_path, wrapped):
    (tmp_path / "jupyterhub_idle_culler.py").write_text(FAKE_CULLER)
    module = "hubdist.culler" if wrapped else "jupyterhub_idle_culler"
    process = subprocess.Popen(
        [sys.executable, "-c", f"import {module} as m; m.main()"],
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"},
        stdout=subprocess.PIPE,
        text=True,
        # as a shell's background job, or a hub started as one, would start it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert process.stdout.readline() == "culling\n"
        process.send_signal(signal.SIGINT)
        time.sleep(1)
        stopped = process.poll() is not None
    finally:
        process.kill()
        process.wait()

    # unwrapped, the culler sits out SIGINT (the hub then waits 30 s for it); wrapped, it ends
    assert stopped is wrapped
