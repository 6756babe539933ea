"""In the hub container: `hubdist config show` and `check` on the image's paths, and a hub
that a misspelt override keeps from starting, saying why in its log."""

from __future__ import annotations

import time

import pytest

from .deployment import deployed, wait_healthy

pytestmark = pytest.mark.e2e

IMAGE_CONFIG = "/etc/hubdist/jupyterhub_config.py"
IMAGE_OVERRIDES = "/etc/hubdist/config.d"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    overrides = tmp_path_factory.mktemp("config.d")
    (overrides / "50-lab.yaml").write_text("Spawner:\n  # JupyterLab first\n  default_url: /lab\n")
    with deployed("config", overrides, HUBDIST_CULL_TIMEOUT="600") as dep:
        dep.overrides = overrides
        yield dep


def hubdist(dep, *args: str):
    return dep.compose("exec", "-T", "hub", "hubdist", *args)


def test_show_and_check_read_the_image_config_and_the_mounted_overrides(deployment):
    check = hubdist(deployment, "config", "check")
    shown = hubdist(deployment, "config", "show")

    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout == f"configuration OK: {IMAGE_CONFIG} < environment < {IMAGE_OVERRIDES}\n"
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    yaml_origin = f"{IMAGE_OVERRIDES}/50-lab.yaml:3 [Spawner.default_url]"
    assert f"c.Spawner.default_url = '/lab'  # override: {yaml_origin}" in lines
    services = next(line for line in lines if line.startswith("c.JupyterHub.services = "))
    assert "'--timeout=600'" in services and services.endswith(
        "# environment: HUBDIST_CULL_TIMEOUT"
    )
    # compose passes HUBDIST_DATABASE (sqlite by default), which chooses the database
    db_url = next(line for line in lines if line.startswith("c.JupyterHub.db_url = "))
    assert db_url.startswith("c.JupyterHub.db_url = 'sqlite:////srv/jupyterhub/")
    assert db_url.endswith("# environment: HUBDIST_DATABASE")


def test_a_misspelt_override_stops_the_hub_with_the_reason_in_its_log(deployment):
    (deployment.overrides / "60-typo.py").write_text("\nc.DockerSpawner.mem_limt = '2G'\n")
    said = (
        f"{IMAGE_OVERRIDES}/60-typo.py:2: DockerSpawner.mem_limt: DockerSpawner has no option "
        "'mem_limt'; did you mean DockerSpawner.mem_limit?"
    )
    try:
        check = hubdist(deployment, "config", "check")
        assert check.returncode == 1 and f"  {said}\n" in check.stdout, check.stdout

        deployment.compose("restart", "hub", timeout=120)
        deadline = time.monotonic() + 60
        while said not in deployment.logs() and time.monotonic() < deadline:
            time.sleep(1)
        log = deployment.logs()
        assert "hubdist: the hub will not start: 1 problem(s) in its configuration:" in log
        assert said in log and "Traceback" not in log
    finally:
        (deployment.overrides / "60-typo.py").unlink()
    # fixed, it starts again (compose restarts it; restart at once rather than wait)
    deployment.compose("restart", "hub", timeout=120)
    wait_healthy(deployment)
