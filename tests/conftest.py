"""Fixtures shared by the whole suite.

Engine tests need the real Docker engine, configurable-http-proxy on PATH and the test
images; ``tests/run`` provides all three. Without them the tests fail (never skip): a
missing engine must not look like a pass.
"""

from __future__ import annotations

import secrets
import shutil

import pytest

from .hubrig import BASE_IMAGE, PREFIX, TEST_IMAGE, Hub, docker


@pytest.fixture(scope="session")
def engine_ready():
    """The Docker engine answers, the images exist, and the proxy is installed."""
    info = docker("info", check=False)
    assert info.returncode == 0, f"the Docker engine is not running (run tests/run): {info.stderr}"
    for image in (TEST_IMAGE, BASE_IMAGE):
        assert docker("image", "inspect", image, check=False).returncode == 0, (
            f"test image {image} is missing; tests/run builds it"
        )
    assert shutil.which("configurable-http-proxy"), "configurable-http-proxy is not on PATH"
    yield
    _remove_test_objects()


def _remove_test_objects() -> None:
    """Everything this run created carries its prefix; remove it all."""
    names = docker("ps", "-aq", "--filter", f"name={PREFIX}", check=False).stdout.split()
    if names:
        docker("rm", "-fv", *names, check=False)
    volumes = docker("volume", "ls", "-q", "--filter", f"name={PREFIX}", check=False)
    if volumes.stdout.split():
        docker("volume", "rm", "-f", *volumes.stdout.split(), check=False)
    networks = docker("network", "ls", "-q", "--filter", f"name={PREFIX}", check=False)
    if networks.stdout.split():
        docker("network", "rm", *networks.stdout.split(), check=False)


@pytest.fixture
def make_hub(engine_ready, tmp_path):
    """Start hubs with extra config; every hub started here is stopped afterwards."""
    hubs: list[Hub] = []

    def make(config: str = "", name: str = "hub", start: bool = True, env=None) -> Hub:
        hub = Hub(tmp_path / name, config, prefix=PREFIX, image=TEST_IMAGE, env=env)
        hubs.append(hub)
        return hub.start() if start else hub

    yield make
    for hub in hubs:
        hub.stop()


@pytest.fixture(scope="module")
def shared_hub(engine_ready, tmp_path_factory):
    """One default-config hub for the tests that need nothing special."""
    hub = Hub(tmp_path_factory.mktemp("shared"), "", prefix=PREFIX, image=TEST_IMAGE).start()
    yield hub
    hub.stop()


@pytest.fixture
def username(request) -> str:
    """A user name unique to the test (JupyterHub lowercases names)."""
    # letters and digits only: escaping leaves it as it is, and with the test prefix a
    # container name stays short of the 63 characters where names get shortened
    words = "".join(c for c in request.node.name[5:].lower() if c.isalnum())
    return f"u{secrets.token_hex(3)}{words[:17]}"


@pytest.fixture(scope="session")
def swarm(engine_ready):
    """A single-node swarm; made here if the engine is not in one, and left again after."""
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    made_here = state != "active"
    had_gwbridge = docker("network", "inspect", "docker_gwbridge", check=False).returncode == 0
    if made_here:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    yield
    services = docker("service", "ls", "-q", "--filter", f"name={PREFIX}", check=False)
    if services.stdout.split():
        docker("service", "rm", *services.stdout.split(), check=False)
    if made_here:
        docker("swarm", "leave", "--force", check=False)
        if not had_gwbridge:  # swarm init made it; leaving does not remove it
            docker("network", "rm", "docker_gwbridge", check=False)
