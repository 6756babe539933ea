"""`./hubdist-up`, the README's one command for a hub, on an engine that cannot pull.

These machines reach no registry, so the public base image cannot be had: the command
must build from the local base instead, say so, and bring up a hub that answers. The local
base is the one tests/run made (HUBDIST_LOCAL_BASE), so the test does not wait for
debootstrap; making it when missing was checked by hand (see the report of the change).

The machine starts with bridged traffic not passed to iptables
(net.bridge.bridge-nf-call-iptables=0, as recent Docker releases leave it): the command,
run as root, turns it on for now and for later boots, as netguard needs, and waits for
netguard too. The setting and the files are put back as they were afterwards.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from ..hubrig import docker, free_port
from .deployment import (
    REPO,
    Deployment,
    http_session,
    hubdist_up,
    isolated_env,
    tear_down,
)

pytestmark = pytest.mark.e2e

PUBLIC_BASE = "python:3.12-slim-trixie"
BRIDGE_SYSCTL = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
BOOT_FILES = {
    Path("/etc/modules-load.d/hubdist.conf"): "br_netfilter",
    Path("/etc/sysctl.d/90-hubdist.conf"): "net.bridge.bridge-nf-call-iptables=1",
}


@pytest.fixture
def bridge_filtering_off():
    """bridge-nf-call-iptables at 0, and no boot files of ours; both restored after."""
    previous = BRIDGE_SYSCTL.read_text()
    kept = {path: path.read_bytes() for path in BOOT_FILES if path.exists()}
    for path in kept:
        path.unlink()
    BRIDGE_SYSCTL.write_text("0\n")
    try:
        yield
    finally:
        BRIDGE_SYSCTL.write_text(previous)
        for path in BOOT_FILES:
            if path in kept:
                path.write_bytes(kept[path])
            else:
                path.unlink(missing_ok=True)


@pytest.fixture
def fresh(tmp_path):
    """A project of its own, without the base image setting: the command picks the base."""
    project = f"hubdist-test-up-{secrets.token_hex(3)}"
    port = free_port()
    env = isolated_env(project, port, tmp_path)
    env["HUBDIST_LOCAL_BASE"] = env.pop("HUBDIST_BASE_IMAGE")
    # the developer's .env stays out, as for the other compose tests
    env.update(COMPOSE_PROJECT_NAME=project, COMPOSE_ENV_FILES=os.devnull)
    dep = Deployment(project, f"http://localhost:{port}", env)
    yield dep
    tear_down(dep)


def _first_layer(image: str) -> str:
    return docker("image", "inspect", "-f", "{{index .RootFS.Layers 0}}", image).stdout.strip()


def _registry_reachable() -> bool:
    if docker("image", "inspect", PUBLIC_BASE, check=False).returncode == 0:
        return True
    return docker("pull", "-q", PUBLIC_BASE, check=False).returncode == 0


def test_the_readme_command_falls_back_to_the_local_base_and_brings_up_a_hub(
    fresh, bridge_filtering_off
):
    local_base = fresh.env["HUBDIST_LOCAL_BASE"]
    started = time.monotonic()
    up = hubdist_up(fresh)
    print(f"./hubdist-up without images took {time.monotonic() - started:.1f} s")

    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    # netguard's rules between users' servers work only with bridged traffic filtered
    assert "turning on the filtering of bridged traffic (br_netfilter)" in up.stdout
    assert BRIDGE_SYSCTL.read_text().strip() == "1"
    for path, line in BOOT_FILES.items():
        assert path.read_text().strip() == line, path
    netguard = fresh.container("netguard")
    health = docker("inspect", "-f", "{{.State.Health.Status}}", netguard).stdout.strip()
    assert health == "healthy"
    if _registry_reachable():
        assert "NOTE" not in up.stdout
        assert _first_layer(f"hubdist/hub:{fresh.project}") == _first_layer(PUBLIC_BASE)
    else:
        # the local base exists already (tests/run made it), so it is not made again
        assert f"building FROM the local base image {local_base}" in up.stdout
        assert f"{PUBLIC_BASE} could not be pulled" in up.stdout
        assert _first_layer(f"hubdist/hub:{fresh.project}") == _first_layer(local_base)
    assert f"the hub is up: {fresh.url}" in up.stdout
    assert "docker compose exec hub cat /srv/jupyterhub/trial-password" in up.stdout
    url = fresh.url.replace("localhost", "127.0.0.1")
    assert http_session().get(f"{url}/hub/health", timeout=10).status_code == 200

    # again: nothing to build, nothing to change, the same answer
    started = time.monotonic()
    again = hubdist_up(fresh)
    print(f"./hubdist-up again took {time.monotonic() - started:.1f} s")
    assert again.returncode == 0, again.stderr
    assert "NOTE" not in again.stdout and "building" not in again.stdout
    assert f"the hub is up: {fresh.url}" in again.stdout

    # an image left from older source (as after `git pull`): rebuilt, and the hub runs it
    hub_image = f"hubdist/hub:{fresh.project}"
    subprocess.run(
        ["docker", "build", "-q", "-t", hub_image, "-"],
        input=f"FROM {hub_image}\nLABEL org.jupyter.hubdist.source=older\n",
        text=True,
        check=True,
        capture_output=True,
    )
    upgraded = hubdist_up(fresh)
    assert upgraded.returncode == 0, upgraded.stdout[-3000:] + upgraded.stderr[-3000:]
    assert f"{hub_image} was built from other source than this checkout" in upgraded.stdout
    label = '{{index .Config.Labels "org.jupyter.hubdist.source"}}'
    source = docker("image", "inspect", "-f", label, hub_image).stdout.strip()
    assert source not in ("older", "unknown", ""), source
    running = docker("inspect", "-f", "{{.Image}}", fresh.container("hub")).stdout.strip()
    assert running == docker("image", "inspect", "-f", "{{.Id}}", hub_image).stdout.strip()
    assert f"the hub is up: {fresh.url}" in upgraded.stdout


def _up_as_nobody(tmp_path, **settings: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "COMPOSE_ENV_FILES": os.devnull}
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", str(REPO / "hubdist-up")],
        env={**env, **settings},
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )


def test_without_root_the_command_stops_before_anything_saying_what_to_run(
    bridge_filtering_off, tmp_path
):
    refused = _up_as_nobody(tmp_path)

    assert refused.returncode == 1
    for command in (
        "modprobe br_netfilter",
        "sysctl -w net.bridge.bridge-nf-call-iptables=1",
        "echo br_netfilter > /etc/modules-load.d/hubdist.conf",
        "echo net.bridge.bridge-nf-call-iptables=1 > /etc/sysctl.d/90-hubdist.conf",
        "HUBDIST_NETGUARD=off",
    ):
        assert command in refused.stderr, refused.stderr
    assert BRIDGE_SYSCTL.read_text().strip() == "0"
    assert not any(path.exists() for path in BOOT_FILES)

    # with isolation switched off the check is skipped (this user then meets the engine)
    off = _up_as_nobody(tmp_path, HUBDIST_NETGUARD="off")
    assert "br_netfilter" not in off.stderr and "Docker engine does not answer" in off.stderr
