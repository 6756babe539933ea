"""Moving a dockerspawner 14 deployment to hubdist by the steps of docs/migrating.md.

The old deployment is made by dockerspawner itself: a real JupyterHub with dockerspawner
14.0.0 in a virtual environment of its own (benchmarks/prepare.py makes it; pip fetches it
on a fresh machine), with its default names (jupyter-USER, jupyterhub-user-USER), its own
network, and a user's server running with a file in its volume. That hub stops; the
servers run on. Then, as the document says: the old configuration goes into the override
folder, where `hubdist config check` names each line that needs dockerspawner's package
with the line to write instead, and the lines hubdist sets itself (the network) go; the
database and cookie secret are copied; hubdist's hub starts, answering where the old one
did. The hub here runs on this machine (tests/hubrig.py) and reads the override folder
with the same code as the hub container (hubdist.config.layers.load_overrides).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import prepare
from hubdist import names
from hubdist.doctor import OK, WARNING
from hubdist.doctor.adopted import check_adopted
from hubdist.doctor.deployment import HOST, Deployment
from hubdist.engine import Engine

from ..hubrig import PREFIX, TEST_IMAGE, TOKEN, Hub, docker, exists, inspect, user_container

REPO = Path(__file__).resolve().parents[2]

# the old deployment's own configuration file: dockerspawner's way of writing it
OLD_CONFIG = """\
import dockerspawner

c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.JupyterHub.cleanup_servers = False
c.DockerSpawner.network_name = "{network}"
c.DockerSpawner.remove = False
c.DockerSpawner.notebook_dir = "/home/jovyan/work"
c.DockerSpawner.volumes = {{"jupyterhub-user-{{username}}": "/home/jovyan/work"}}
c.DockerSpawner.format_volume_name = dockerspawner.volumenamingstrategy.escaped_format_volume_name
c.Spawner.mem_limit = "1G"
"""


@pytest.fixture(scope="module")
def dockerspawner_python(engine_ready) -> str:
    """The python of a virtual environment with dockerspawner 14.0.0 (and the same
    JupyterHub), made once per machine by benchmarks/prepare.py."""
    prepare.ensure_venv()
    return str(prepare.VENV_PYTHON)


@pytest.fixture
def networks(engine_ready):
    """The old deployment's network and hubdist's users' network."""
    made = [f"{PREFIX}-{role}-{secrets.token_hex(2)}" for role in ("old", "users")]
    for network in made:
        docker("network", "create", network)
    yield made
    for network in made:
        docker("network", "rm", network, check=False)


def config_check(override_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBDIST_")}
    env["HUBDIST_DATA_DIR"] = str(tmp_path / "check-data")
    return subprocess.run(
        [sys.executable, "-m", "hubdist", "config", "check", "--override-dir", str(override_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def write_the_lines_check_asks_for(config: Path, said: str) -> int:
    """docs/migrating.md step 3: each refused line replaced by the one the check gives."""
    lines = config.read_text().splitlines()
    fixes = re.findall(rf"^  {re.escape(str(config))}:(\d+): .*; write instead: (.*)$", said, re.M)
    for number, line in fixes:
        lines[int(number) - 1] = line
    config.write_text("\n".join(lines) + "\n")
    return len(fixes)


def adopted_findings(hub: Hub, network: str):
    deployment = Deployment(
        HOST, env={"HUBDIST_NETWORK": network}, hub_api_url=f"{hub.url}/hub/api", hub_token=TOKEN
    )
    return asyncio.run(check_adopted(deployment, Engine(call_timeout=10)))


def test_a_dockerspawner_deployment_moves_to_hubdist_by_the_documented_steps(
    dockerspawner_python, networks, username, tmp_path
):
    old_network, users_network = networks
    old_name, volume = f"jupyter-{username}", f"jupyterhub-user-{username}"
    assert names.escape(username) == username, "the default names, unescaped"
    old_config = OLD_CONFIG.format(network=old_network)
    old = Hub(
        tmp_path / "old",
        old_config,
        prefix="jupyter",  # dockerspawner's default
        image=TEST_IMAGE,
        python=dockerspawner_python,
    )
    hub = None
    try:
        # -- the old deployment, made by dockerspawner 14 ------------------------------------
        old.start()
        old.spawn(username)
        before = inspect("container", old_name)
        assert before["Config"]["Labels"].get(f"{names.LABEL}.user") is None, "dockerspawner's"
        docker("exec", old_name, "sh", "-c", "echo mine > /home/jovyan/work/f.txt")
        old.stop()  # SIGTERM: with cleanup_servers = False the server runs on
        assert inspect("container", old_name)["State"]["Running"]

        # -- step 3: the old configuration in the override folder, checked ----------------------
        overrides = tmp_path / "config.d"
        overrides.mkdir()
        moved = overrides / "10-dockerspawner.py"
        moved.write_text(old_config)
        refused = config_check(overrides, tmp_path)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert write_the_lines_check_asks_for(moved, refused.stdout) == 2, refused.stdout
        # ... and the lines hubdist sets itself go: here, the old network
        kept = [line for line in moved.read_text().splitlines() if "network_name" not in line]
        moved.write_text("\n".join(kept) + "\n")
        checked = config_check(overrides, tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        # -- step 4: the database and the cookie secret, copied; hubdist's hub started -------
        hub = Hub(
            tmp_path / "new",
            f'c.DockerSpawner.network_name = "{users_network}"\n'
            "from hubdist.config import layers\n"
            "c = layers.record(c)\n"
            f'layers.load_overrides(c, "{overrides}")\n'
            "layers.finish(c)\n",
            prefix=PREFIX,
            image=TEST_IMAGE,
        )
        for name in ("jupyterhub.sqlite", "cookie_secret"):
            shutil.copy2(old.workdir / name, hub.workdir / name)
        hub.hub_port = old.hub_port  # where running servers call the hub (step 4)
        hub.start()

        # the running server is adopted: the same container, reached through the proxy
        assert hub.server_model(username)["ready"]
        assert hub.user_get(username, "api/contents/f.txt").status_code == 200
        now = inspect("container", old_name)
        assert now["Id"] == before["Id"], "the same container"
        assert now["State"]["StartedAt"] == before["State"]["StartedAt"], "never restarted"
        (finding,) = adopted_findings(hub, users_network)
        assert finding.status == WARNING, finding
        assert f"{username}'s server runs in {old_name}" in finding.message
        assert f"on {old_network}, not on {users_network}" in finding.message

        # -- the user's next start: hubdist's own container, on hubdist's network ------------
        hub.stop_server(username)
        hub.spawn(username)
        new = inspect("container", user_container(username))
        labels = new["Config"]["Labels"]
        assert labels[f"{names.LABEL}.user"] == username
        assert labels[f"{names.LABEL}.deployment"] == PREFIX
        assert set(new["NetworkSettings"]["Networks"]) == {users_network}
        mounts = {m["Destination"]: m.get("Name") for m in new["Mounts"]}
        assert mounts["/home/jovyan/work"] == volume
        read = docker("exec", user_container(username), "cat", "/home/jovyan/work/f.txt")
        assert read.stdout.strip() == "mine", "the user finds their files"
        assert hub.user_get(username, "api/contents/f.txt").status_code == 200
        assert new["HostConfig"]["Memory"] == 1024**3, "the old settings took effect"
        assert [f.status for f in adopted_findings(hub, users_network)] == [OK]

        # nothing of the old deployment was removed: its container (stopped), its
        # network, its database and configuration
        assert inspect("container", old_name)["Id"] == before["Id"]
        assert not inspect("container", old_name)["State"]["Running"]
        assert exists("network", old_network)
        assert (old.workdir / "jupyterhub.sqlite").is_file()
        assert (old.workdir / "jupyterhub_config.py").read_text().endswith(old_config)
        hub.stop_server(username)
    finally:
        for running in (hub, old):
            if running is not None:
                running.stop(signal.SIGTERM)
        # the volume last: both containers mount it
        docker("rm", "-f", old_name, user_container(username), check=False)
        docker("volume", "rm", "-f", volume, check=False)
