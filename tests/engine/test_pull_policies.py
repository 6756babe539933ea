"""Every pull policy, against a real local registry (Debian's docker-registry on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import pytest
import requests

from hubdist.engine import Engine
from hubdist.spawners.options import built_locally

from ..hubrig import (
    BASE_IMAGE,
    EVERY_PROGRESS_EVENT,
    PREFIX,
    TEST_IMAGE,
    docker,
    exists,
    free_port,
    user_container,
)


@pytest.fixture(scope="module")
def registry(engine_ready, tmp_path_factory):
    """A registry we start ourselves, holding a tiny HTTP-server image."""
    binary = shutil.which("docker-registry")
    assert binary, "Debian's docker-registry is not installed (tests/run installs it)"
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root}/data}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
    )
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        image = f"127.0.0.1:{port}/{PREFIX}/stub:1"
        build = subprocess.run(
            ["docker", "build", "-q", "-t", image, "-"],
            input=f'FROM {BASE_IMAGE}\nCMD ["python3", "-m", "http.server", "8888"]\n',
            capture_output=True, text=True,
        )  # fmt: skip
        assert build.returncode == 0, build.stderr
        docker("push", image)
        docker("rmi", image)
        yield image
    finally:
        proc.terminate()
        proc.wait(10)
        docker("rmi", "-f", image, check=False)


def _hub_for(make_hub, image: str, policy: str):
    return make_hub(
        f'c.DockerSpawner.image = "{image}"\n'
        f'c.DockerSpawner.pull_policy = "{policy}"\n'
        # answer only after 2 s: the spawn stays pending long enough to read its progress
        'c.Spawner.cmd = ["sh", "-c", "sleep 2; exec python3 -m http.server 8888"]\n'
    )


def test_ifnotpresent_pulls_a_missing_image_with_progress(make_hub, registry, username):
    docker("rmi", "-f", registry, check=False)
    hub = _hub_for(make_hub, registry, "ifnotpresent")
    events = hub.spawn(username)
    pulling = [e["message"] for e in events if "Pulling image" in e["message"]]
    assert pulling, events
    assert any("layers" in m for m in pulling), pulling
    assert exists("image", registry)
    hub.stop_server(username)


def test_always_pulls_even_when_present(make_hub, registry, username):
    docker("pull", registry)
    hub = _hub_for(make_hub, registry, "always")
    events = hub.spawn(username)
    assert any("Pulling image" in e["message"] for e in events), events
    hub.stop_server(username)


def test_skip_does_not_pull_and_reports_the_missing_image(make_hub, registry, username):
    docker("rmi", "-f", registry, check=False)
    hub = _hub_for(make_hub, registry, "skip")
    message = hub.spawn_failure(username)
    assert "No such image" in message or "not found" in message.lower(), message
    assert not exists("image", registry), "skip must not pull"
    assert not exists("container", user_container(username))


def test_never_refuses_a_missing_image(make_hub, registry, username):
    docker("rmi", "-f", registry, check=False)
    hub = _hub_for(make_hub, registry, "never")
    message = hub.spawn_failure(username)
    assert "pull_policy is 'never'" in message, message


def test_failed_pull_shows_the_registry_reason(make_hub, registry, username):
    missing = registry.rsplit(":", 1)[0] + ":does-not-exist"
    hub = _hub_for(make_hub, missing, "ifnotpresent")
    message = hub.spawn_failure(username)
    assert f"Pulling image {missing} failed" in message, message
    assert "manifest unknown" in message or "not found" in message.lower(), message


def test_concurrent_pulls_of_one_image_share_one_download(registry):
    docker("rmi", "-f", registry, check=False)
    engine = Engine(max_concurrency=8)
    seen: list[list] = [[], []]

    async def both():
        await asyncio.gather(
            engine.pull(registry, seen[0].append), engine.pull(registry, seen[1].append)
        )

    asyncio.run(both())
    assert seen[0] and seen[1]
    assert seen[0][-1] is seen[1][-1], "both waiters follow the same pull"
    assert exists("image", registry)


def test_hubdists_own_image_is_never_pulled(make_hub, username):
    """Attack: someone publishes hubdist/singleuser on Docker Hub (a namespace that is not
    ours). Before the fix a hub missing the locally built image pulled theirs under
    "ifnotpresent", and "always" replaced the local build with it on every start (shown by
    tests/unit/test_local_images.py; not run here against the old code, which would send
    the pull to Docker Hub)."""
    missing = f"hubdist/singleuser:{PREFIX}-missing"
    hub = _hub_for(make_hub, missing, "ifnotpresent")
    message = hub.spawn_failure(username)
    assert "never pulled" in message and "docker compose build singleuser" in message, message
    assert "Pulling image" not in message

    assert built_locally(TEST_IMAGE), "the test image must be one of hubdist's own names"
    always = make_hub(
        'c.DockerSpawner.pull_policy = "always"\n' + EVERY_PROGRESS_EVENT, name="always"
    )
    events = always.spawn(username)  # TEST_IMAGE is hubdist/singleuser:test, built here
    assert not any("Pulling image" in e["message"] for e in events), events
    always.stop_server(username)
