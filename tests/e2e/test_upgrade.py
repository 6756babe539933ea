"""Upgrading a running hub from the previous release with docs/upgrading.md's command.

The previous release's source comes out of this repository's history by its commit (tags
may not travel with a copy of the repository; CHANGELOG.md names the same commit). Its
images are built and its compose file brings up a deployment with two users, API tokens,
a running server with a kernel holding a value, and a file in the server's volume. Then
the working tree's ``./hubdist-up`` runs against the same compose project, as an admin runs
it after ``git pull``, and everything must still be there: the users and their tokens, the
very same server container with the same kernel, the file; stopping the old server and
starting it again on the new images works and finds the file. Then the upgrade is rolled
back as docs/upgrading.md says (no schema change between the two: the previous release's
``./hubdist-up``): the previous images run again, the tokens still answer, and the server
started on the new images keeps running, reached through the proxy with its file.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from hubdist.spawners.ownership import DEPLOYMENT

from ..hubrig import docker, free_port
from .deployment import (
    BUILD_TIMEOUT,
    REPO,
    Deployment,
    api,
    http_session,
    hubdist_up,
    isolated_env,
    login,
    tear_down,
    wait_for_server,
    wait_healthy,
    wait_until,
)
from .kernel import KernelSocket

pytestmark = pytest.mark.e2e

#: The release upgraded from, by commit (CHANGELOG.md: "## 0.1.0 — commit 81bc841").
PREVIOUS_RELEASE = "0.1.0"
PREVIOUS_COMMIT = "81bc841"
RUNNING = "alice"  # has a server running across the upgrade
IDLE = "bob"  # has only an API token
KEPT_FILE = "work/kept-across-the-upgrade.txt"
KEPT_TEXT = "written under hubdist 0.1.0"


def test_the_changelog_names_the_release_this_test_upgrades_from():
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert f"## {PREVIOUS_RELEASE} — commit {PREVIOUS_COMMIT}" in changelog


def release_source(destination: Path) -> Path:
    """The previous release's files (git archive of its commit) in ``destination``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", PREVIOUS_COMMIT],
        capture_output=True,
        timeout=120,
    )
    assert archive.returncode == 0, (
        f"commit {PREVIOUS_COMMIT} (release {PREVIOUS_RELEASE}) is not in this checkout's "
        f"history ({archive.stderr.decode()}): fetch it, e.g. git fetch --unshallow"
    )
    destination.mkdir()
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)
    return destination


@dataclass
class Previous:
    deployment: Deployment
    checkout: Path  # the previous release's source, as `git checkout PREVIOUS_COMMIT` gives
    #: image IDs to remove at the end (each build untags the one before)
    images: list[str]


@pytest.fixture
def previous(tmp_path) -> Iterator[Previous]:
    """A deployment of the previous release, as its own compose project (its images
    built from its source); everything is removed after, the upgraded deployment too."""
    project = f"hubdist-test-upgrade-{os.urandom(3).hex()}"
    port = free_port()
    config_dir = tmp_path / "config.d"
    config_dir.mkdir()
    old = release_source(tmp_path / f"hubdist-{PREVIOUS_RELEASE}")
    env = isolated_env(project, port, config_dir)
    # ./hubdist-up (the upgrade) is told the project as an admin's shell would have it in
    # .env; the developer's own .env stays out, as for the other compose tests
    env.update(COMPOSE_PROJECT_NAME=project, COMPOSE_ENV_FILES=os.devnull)
    dep = Deployment(project, f"http://127.0.0.1:{port}", env, (old / "docker-compose.yml",))
    images: list[str] = []
    try:
        started = time.monotonic()
        up = dep.compose("up", "-d", "--build", timeout=BUILD_TIMEOUT)
        print(f"{PREVIOUS_RELEASE}'s compose up --build took {time.monotonic() - started:.1f} s")
        assert up.returncode == 0, f"{PREVIOUS_RELEASE}'s compose up failed:\n{up.stderr}"
        images += image_ids(project)
        wait_healthy(dep)
        yield Previous(dep, old, images)
    finally:
        dep.files = (REPO / "docker-compose.yml",)  # whichever release runs now
        tear_down(dep)
        # the images of each release, untagged by the next build
        for image in set(images):
            docker("image", "rm", image, check=False)


def image_ids(project: str) -> list[str]:
    return [
        docker("image", "inspect", "-f", "{{.Id}}", f"hubdist/{image}:{project}").stdout.strip()
        for image in ("hub", "singleuser")
    ]


def token_session(token: str) -> requests.Session:
    s = http_session()
    s.headers["Authorization"] = f"token {token}"
    return s


def make_token(dep: Deployment, user: str) -> str:
    s, response = login(dep.url, user, dep.password())
    assert response.status_code == 200, response.text[:500]
    made = api(s, dep.url, "POST", f"/users/{user}/tokens", json={"note": "upgrade test"})
    assert made.status_code == 201, made.text
    return made.json()["token"]


def labels(kind: str, name: str) -> dict[str, str]:
    field = ".Labels" if kind == "volume" else ".Config.Labels"
    found = docker(kind, "inspect", "-f", f"{{{{json {field}}}}}", name).stdout
    return json.loads(found) or {}


def container_id(dep: Deployment, user: str) -> str:
    return docker("inspect", "-f", "{{.Id}}", dep.user_object(user)).stdout.strip()


def hub_says(dep: Deployment, token: str, path: str) -> dict:
    response = token_session(token).get(f"{dep.url}/hub/api{path}", timeout=15)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
    return response.json()


def server_call(dep: Deployment, token: str, method: str, path: str, **kw) -> requests.Response:
    url = f"{dep.url}/user/{RUNNING}/api{path}"
    return token_session(token).request(method, url, timeout=30, **kw)


def kernel_socket(dep: Deployment, token: str, kernel_id: str) -> KernelSocket:
    server_url = f"{dep.url}/user/{RUNNING}/"
    headers = {"Authorization": f"token {token}"}
    return KernelSocket.for_kernel(server_url, kernel_id, headers=headers)


def test_upgrading_from_the_previous_release_keeps_users_tokens_servers_and_files(previous):
    dep = previous.deployment
    tokens = {user: make_token(dep, user) for user in (RUNNING, IDLE)}

    # RUNNING's server, with a kernel holding a value and a file in its volume
    s, _ = login(dep.url, RUNNING, dep.password())
    spawn = api(s, dep.url, "POST", f"/users/{RUNNING}/server")
    assert spawn.status_code in (201, 202), spawn.text
    wait_for_server(s, dep.url, RUNNING, dep.logs)
    token = tokens[RUNNING]
    kernel = server_call(dep, token, "POST", "/kernels", json={})
    assert kernel.status_code == 201, kernel.text
    kernel_id = kernel.json()["id"]
    with kernel_socket(dep, token, kernel_id) as socket:
        assert socket.execute("x = 6*7\nprint(x)") == "42\n"
    model = {"type": "file", "format": "text", "content": KEPT_TEXT}
    saved = server_call(dep, token, "PUT", f"/contents/{KEPT_FILE}", json=model)
    assert saved.status_code in (200, 201), saved.text
    server_before = container_id(dep, RUNNING)
    # what the new hub must adopt: 0.1.0 labelled its servers without owner or deployment
    assert DEPLOYMENT not in labels("container", server_before)
    hub_before = docker("inspect", "-f", "{{.Image}}", dep.container("hub")).stdout.strip()

    started = time.monotonic()
    upgraded = hubdist_up(dep)  # docs/upgrading.md: after `git pull`, ./hubdist-up
    print(f"./hubdist-up (the upgrade) took {time.monotonic() - started:.1f} s")
    assert upgraded.returncode == 0, upgraded.stdout[-4000:] + upgraded.stderr[-4000:]
    dep.files = (REPO / "docker-compose.yml",)
    assert "was built from other source than this checkout: rebuilding it" in upgraded.stdout
    assert "the hub is up" in upgraded.stdout
    hub_after = docker("inspect", "-f", "{{.Image}}", dep.container("hub")).stdout.strip()
    assert hub_after != hub_before, "the hub still runs the previous release's image"
    # the replaced hub image is removed; the single-user one stays while a server uses it
    assert docker("image", "inspect", hub_before, check=False).returncode != 0
    assert "removed the image this rebuild replaced" in upgraded.stdout
    server_image = docker("inspect", "-f", "{{.Image}}", server_before).stdout.strip()
    assert docker("image", "inspect", server_image, check=False).returncode == 0
    wait_healthy(dep)

    # the users, each by the token made before the upgrade
    for user, user_token in tokens.items():
        assert hub_says(dep, user_token, "/user")["name"] == user
    # the server kept running: the same container, the same kernel with its value
    assert container_id(dep, RUNNING) == server_before
    running = hub_says(dep, token, "/user")["servers"].get("", {})
    assert running.get("ready") is True, running
    status = server_call(dep, token, "GET", "/status")
    assert status.status_code == 200, status.text[:300]
    with kernel_socket(dep, token, kernel_id) as socket:
        assert socket.execute("print(x)") == "42\n"
    kept = server_call(dep, token, "GET", f"/contents/{KEPT_FILE}")
    assert kept.status_code == 200 and kept.json()["content"] == KEPT_TEXT, kept.text[:300]

    # the new hub stops the old server (its container, unlabelled by 0.1.0, is adopted
    # since the database names it) and starts one on the new images with the same volume
    hub = token_session(token)
    stop = hub.delete(f"{dep.url}/hub/api/users/{RUNNING}/server", timeout=60)
    assert stop.status_code in (202, 204), stop.text
    wait_until(
        lambda: not hub_says(dep, token, "/user")["servers"],
        f"{RUNNING}'s server to stop",
        timeout=120,
    )
    gone = docker("inspect", server_before, check=False)
    assert gone.returncode != 0, f"the previous release's container is left: {gone.stdout}"
    start = hub.post(f"{dep.url}/hub/api/users/{RUNNING}/server", timeout=60)
    assert start.status_code in (201, 202), start.text
    wait_until(
        lambda: hub_says(dep, token, "/user")["servers"].get("", {}).get("ready"),
        f"{RUNNING}'s server on the new images",
        timeout=180,
    )
    image = docker("inspect", "-f", "{{.Config.Image}}", dep.user_object(RUNNING)).stdout
    assert image.strip() == f"hubdist/singleuser:{dep.project}"
    assert labels("container", dep.user_object(RUNNING))[DEPLOYMENT] == dep.project
    # the same volume, which Docker cannot relabel: adopted by its exact name
    assert DEPLOYMENT not in labels("volume", dep.user_volume(RUNNING))
    kept = server_call(dep, token, "GET", f"/contents/{KEPT_FILE}")
    assert kept.status_code == 200 and kept.json()["content"] == KEPT_TEXT, kept.text[:300]

    # rolling back (docs/upgrading.md, "Rolling back"): the schema is the same, so the
    # previous release's ./hubdist-up is all; the server started on the new images stays
    server_new = container_id(dep, RUNNING)
    previous.images += image_ids(dep.project)
    rolled_back = hubdist_up(dep, previous.checkout)
    assert rolled_back.returncode == 0, rolled_back.stdout[-4000:] + rolled_back.stderr[-4000:]
    dep.files = (previous.checkout / "docker-compose.yml",)
    hub_back = docker("inspect", "-f", "{{.Image}}", dep.container("hub")).stdout.strip()
    assert hub_back != hub_after, "the hub still runs the upgrade's image"
    wait_healthy(dep)
    for user, user_token in tokens.items():
        assert hub_says(dep, user_token, "/user")["name"] == user
    assert container_id(dep, RUNNING) == server_new
    running = hub_says(dep, token, "/user")["servers"].get("", {})
    assert running.get("ready") is True, f"{running}\n{dep.logs()[-3000:]}"
    kept = server_call(dep, token, "GET", f"/contents/{KEPT_FILE}")
    assert kept.status_code == 200 and kept.json()["content"] == KEPT_TEXT, kept.text[:300]
