"""`hubdist doctor` on the real engine: each part broken for real, and the advice read.

The checks get the deployment's settings the way discovery would (hubdist.doctor.deployment);
what they look at is real: the engine and its socket, images built here, a network and
netguard rules made here, a real hub with its real configurable-http-proxy and database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest
import requests

from hubdist.doctor import CHECKS, OK, PROBLEM, Finding
from hubdist.doctor.command import check_name, diagnose
from hubdist.doctor.deployment import HOST, SOURCE_LABEL, Deployment, checkout_source
from hubdist.engine import Engine

from ..hubrig import BASE_IMAGE, PREFIX, TOKEN, docker
from .test_network_isolation import make_network, netguard_cli

CHECK_BY_NAME = {check_name(check): check for check in CHECKS}


def run_check(name: str, deployment: Deployment) -> list[Finding]:
    return asyncio.run(CHECK_BY_NAME[name](deployment, Engine(call_timeout=10)))


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def doctor_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hubdist", "doctor", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


# -- the engine and its socket ---------------------------------------------------------------


def test_an_engine_that_does_not_answer_is_a_problem_with_what_to_start(engine_ready, tmp_path):
    socket = tmp_path / "docker.sock"
    done = doctor_cli("--json", "--only", "socket", "engine", DOCKER_HOST=f"unix://{socket}")

    assert done.returncode == 1, done.stdout + done.stderr
    found = {f["check"]: f for f in json_findings(done)}
    assert found["socket"]["status"] == PROBLEM
    assert found["socket"]["message"] == f"{socket} does not exist"
    assert found["engine"]["status"] == PROBLEM
    assert "start the Docker engine" in found["engine"]["advice"]
    human = doctor_cli("--only", "engine", DOCKER_HOST=f"unix://{socket}")
    assert human.returncode == 1 and "PROBLEM  engine" in human.stdout
    assert "-> start the Docker engine" in human.stdout


def test_a_healthy_engine_passes_with_its_version(engine_ready):
    done = doctor_cli("--json", "--only", "socket", "engine")

    engine = next(f for f in json_findings(done) if f["check"] == "engine")
    assert engine["status"] == OK and "(API 1." in engine["message"]


def json_findings(done: subprocess.CompletedProcess) -> list[dict]:
    import json

    return json.loads(done.stdout)["findings"]


def test_too_little_free_disk_is_a_problem_saying_what_to_prune(engine_ready):
    free = shutil.disk_usage(docker("info", "-f", "{{.DockerRootDir}}").stdout.strip()).free
    roomy = only(run_check("disk", Deployment(HOST)))
    cramped = only(run_check("disk", Deployment(HOST, min_free_bytes=free * 2)))

    assert roomy.status == OK, roomy
    assert cramped.status == PROBLEM and "GiB free" in cramped.message
    assert "docker image prune" in cramped.advice


# -- the images ---------------------------------------------------------------------------------


@pytest.fixture
def labelled_images(engine_ready):
    """hubdist/hub:TAG and hubdist/singleuser:TAG, labelled as built from source "aaa"."""
    tag = PREFIX
    made = []

    def build(role: str, source: str) -> str:
        image = f"hubdist/{role}:{tag}"
        dockerfile = f"FROM {BASE_IMAGE}\nLABEL {SOURCE_LABEL}={source}\n"
        done = subprocess.run(
            ["docker", "build", "-q", "-t", image, "-"],
            input=dockerfile,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        made.append(image)
        return image

    build.tag = tag
    yield build
    docker("rmi", "-f", *made, check=False)


def test_a_missing_image_is_a_problem_saying_how_to_build_it(labelled_images):
    labelled_images("hub", "aaa")
    deployment = Deployment(HOST, env={"HUBDIST_TAG": labelled_images.tag}, source="aaa")

    finding = only(run_check("images", deployment))

    assert finding.status == PROBLEM
    assert f"singleuser image hubdist/singleuser:{labelled_images.tag} is missing" in (
        finding.message
    )
    assert "./hubdist-up" in finding.advice


def test_an_image_built_from_other_source_is_a_problem_until_rebuilt(labelled_images):
    labelled_images("hub", "aaa")
    labelled_images("singleuser", "old")
    deployment = Deployment(HOST, env={"HUBDIST_TAG": labelled_images.tag}, source="aaa")

    stale = only(run_check("images", deployment))
    labelled_images("singleuser", "aaa")
    rebuilt = only(run_check("images", deployment))

    assert stale.status == PROBLEM and "singleuser image" in stale.message
    assert "source old, not this checkout's (aaa)" in stale.message
    assert "rebuilds" in stale.advice
    assert rebuilt.status == OK and "built from aaa" in rebuilt.message


def test_the_checkouts_source_is_hashed_as_hubdist_up_hashes_it():
    script = 'source <(sed -n "/^source_hash()/,/^}/p" hubdist-up); repo=$PWD; source_hash'
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run(["bash", "-c", script], cwd=root, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert checkout_source() == done.stdout.strip() != ""


# -- the network and netguard --------------------------------------------------------------------


@pytest.fixture
def guarded_network(engine_ready):
    """A users' network made here, with a netguard configured for it (rules not applied)."""
    undo: list = []
    lab = make_network(undo)
    name = f"{PREFIX[-6:]}-doc"
    settings = {
        "HUBDIST_NETGUARD_NAME": name,
        "HUBDIST_NETGUARD_SUBNET": str(lab.subnet),
        "HUBDIST_NETGUARD_USERS_RANGE": str(lab.users),
        "HUBDIST_NETGUARD_ALLOW": f"{lab.gateway}:8081",
    }
    netguard = {
        "Config": {"Env": [f"{k}={v}" for k, v in settings.items()]},
        "State": {"Running": True, "Status": "running"},
    }
    deployment = Deployment(HOST, env={"HUBDIST_NETWORK": lab.network}, netguard=netguard)
    yield deployment, settings
    netguard_cli("--remove", "--name", name)
    for step in reversed(undo):
        step()


def test_a_missing_network_is_a_problem_saying_compose_makes_it(engine_ready):
    deployment = Deployment(HOST, env={"HUBDIST_NETWORK": f"{PREFIX}-no-such-network"})

    finding = only(run_check("network", deployment))

    assert finding.status == PROBLEM and "does not exist" in finding.message
    assert "docker compose up -d" in finding.advice


def test_a_network_whose_range_netguard_does_not_guard_is_a_problem(guarded_network):
    deployment, settings = guarded_network
    assert only(run_check("network", deployment)).status == OK

    elsewhere = dict(settings, HUBDIST_NETGUARD_USERS_RANGE="10.99.128.0/17")
    deployment.netguard["Config"]["Env"] = [f"{k}={v}" for k, v in elsewhere.items()]
    finding = only(run_check("network", deployment))

    assert finding.status == PROBLEM and "10.99.128.0/17" in finding.message
    assert "HUBDIST_NET_PREFIX" in finding.advice


def test_netguard_rules_removed_are_a_problem_saying_how_to_put_them_back(guarded_network):
    deployment, settings = guarded_network
    applied = subprocess.run(
        [sys.executable, "-m", "hubdist", "netguard", "--once"],
        env={**os.environ, **settings},
        capture_output=True,
        text=True,
    )
    assert applied.returncode == 0, applied.stderr
    enforced = only(run_check("netguard", deployment))

    netguard_cli("--remove", "--name", settings["HUBDIST_NETGUARD_NAME"])
    removed = only(run_check("netguard", deployment))

    assert enforced.status == OK and "rules in place and effective" in enforced.message
    assert removed.status == PROBLEM and "rules missing" in removed.message
    assert "docker compose up -d netguard" in removed.advice


def test_a_stopped_netguard_is_a_problem(guarded_network):
    deployment, _ = guarded_network
    deployment.netguard["State"] = {"Running": False, "Status": "exited"}

    findings = run_check("netguard", deployment)

    assert findings[0].status == PROBLEM and "not running (exited)" in findings[0].message
    assert "docker compose logs netguard" in findings[0].advice


# -- the proxy's routes and the database, on a real hub --------------------------------------


def hub_deployment(hub) -> Deployment:
    return Deployment(
        HOST,
        proxy_api_url=f"http://127.0.0.1:{hub.api_port}",
        proxy_token=hub.proxy_token,
        hub_api_url=f"{hub.url}/hub/api",
        hub_token=TOKEN,
        db_url=f"sqlite:///{hub.workdir}/jupyterhub.sqlite",
    )


def test_stale_and_missing_routes_are_problems_and_a_synced_proxy_is_not(shared_hub, username):
    hub = shared_hub
    deployment = hub_deployment(hub)
    hub.spawn(username)
    try:
        synced = only(run_check("routes", deployment))
        headers = {"Authorization": f"token {hub.proxy_token}"}
        api = f"http://127.0.0.1:{hub.api_port}/api/routes"
        ghost = {
            "target": "http://127.0.0.1:9",
            "user": "ghost",
            "server_name": "",
            "jupyterhub": True,
        }
        requests.post(f"{api}/user/ghost", json=ghost, headers=headers, timeout=10)
        requests.delete(f"{api}/user/{username}", headers=headers, timeout=10)
        broken = run_check("routes", deployment)
    finally:
        requests.delete(f"{api}/user/ghost", headers=headers, timeout=10)
        hub.stop_server(username)

    assert synced.status == OK and "1 running server(s)" in synced.message, synced
    messages = {f.message: f for f in broken}
    stale = next(f for m, f in messages.items() if "stale route /user/ghost" in m)
    missing = next(f for m, f in messages.items() if f"{username}'s running server has no" in m)
    for finding in (stale, missing):
        assert finding.status == PROBLEM and "docker compose restart hub" in finding.advice


def test_a_database_that_cannot_be_opened_is_a_problem(shared_hub, tmp_path):
    deployment = hub_deployment(shared_hub)
    sound = only(run_check("database", deployment))

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    deployment.db_url = f"sqlite:///{garbage}"
    unopenable = only(run_check("database", deployment))
    deployment.db_url = f"sqlite:///{tmp_path}/gone.sqlite"
    missing = only(run_check("database", deployment))

    assert sound.status == OK and "schema" in sound.message
    assert unopenable.status == PROBLEM and "cannot be opened" in unopenable.message
    assert missing.status == PROBLEM and "no database at" in missing.message
    assert "restore it from a backup" in missing.advice
    assert not (tmp_path / "gone.sqlite").exists()  # looked at, never made


def test_a_database_of_another_schema_says_the_hub_upgrades_it(shared_hub, tmp_path):
    copy = tmp_path / "old.sqlite"
    shutil.copy(shared_hub.workdir / "jupyterhub.sqlite", copy)
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE alembic_version SET version_num = 'abc123'")
    deployment = hub_deployment(shared_hub)
    deployment.db_url = f"sqlite:///{copy}"

    finding = only(run_check("database", deployment))

    assert finding.status == PROBLEM and "schema abc123" in finding.message
    assert "restart hub" in finding.advice


# -- the command ---------------------------------------------------------------------------------


def test_each_finding_says_what_to_do_and_a_problem_fails_the_run(engine_ready):
    args = argparse.Namespace(project=f"{PREFIX}-nothing", only=None, min_free_gb=0.0)
    findings = asyncio.run(diagnose(args, where=HOST))

    assert any(f.check == "deployment" and f.status == PROBLEM for f in findings)
    assert all(f.advice for f in findings if f.status != OK)
    done = doctor_cli("--project", f"{PREFIX}-nothing")
    assert done.returncode == 1 and "no hub container of the compose project" in done.stdout


def test_a_stopped_hub_container_of_the_project_is_a_problem(engine_ready):
    project = f"{PREFIX}-stopped"
    labels = ["--label", f"com.docker.compose.project={project}"]
    labels += ["--label", "com.docker.compose.service=hub"]
    docker("create", "--name", f"{PREFIX}-stopped-hub", *labels, BASE_IMAGE, "true")
    args = argparse.Namespace(project=project, only=["engine"], min_free_gb=0.0)

    findings = asyncio.run(diagnose(args, where=HOST))

    (stopped,) = [f for f in findings if f.check == "deployment"]
    assert stopped.status == PROBLEM and "hub container is not running (created)" in stopped.message
    assert "docker compose up -d hub" in stopped.advice
