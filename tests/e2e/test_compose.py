"""`docker compose up` in the repository builds both images and serves a working hub.

The path a new user takes: build, start, read the trial password from the log, log in
through the form, start a server, reach it through the hub's proxy, stop it. Each run is
its own compose project with its own port, network, name prefix and image tag, and ignores
the checkout's .env and config.d, so it never touches a real deployment on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from hubdist.doctor.deployment import checkout_source

from ..hubrig import docker
from ..image_probes import AIOHTTP_TLS_ANSWERS, aiohttp_tls_probe, iri_probe
from .deployment import api, deployed, http_session, login, wait_for_server, wait_until

ADMIN = "boss"
METRICS_TOKEN = "e2e-metrics-token-5d0c2b7a"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    overrides = tmp_path_factory.mktemp("config.d")
    # Two overrides run in name order with one `c`; anything but *.py is ignored.
    (overrides / "10-first.py").write_text(
        'c.JupyterHub.template_vars = {"announcement_login": "e2e-first"}\n'
    )
    (overrides / "20-second.py").write_text(
        'c.JupyterHub.template_vars["announcement_login"] += " e2e-second"\n'
    )
    (overrides / "30-ignored.txt").write_text("this is not Python(\n")
    settings = {
        "HUBDIST_ADMIN_USERS": ADMIN,
        "HUBDIST_METRICS_TOKEN": METRICS_TOKEN,
        # as ./hubdist-up labels the images, so the doctor can tell they match this checkout
        "HUBDIST_SOURCE": checkout_source(),
    }
    with deployed("e2e", overrides, **settings) as dep:
        yield dep


def test_wrong_password_gets_the_login_page_again_and_no_session(deployment):
    session, response = login(deployment.url, "mallory", "not-the-trial-password")

    assert response.status_code == 403
    assert 'name="password"' in response.text and "Invalid username or password" in response.text
    assert "jupyterhub-hub-login" not in session.cookies
    assert api(session, deployment.url, "GET", "/user").status_code == 403


def test_override_files_run_in_name_order_with_the_same_config(deployment):
    page = http_session().get(f"{deployment.url}/hub/login", timeout=10)

    assert "e2e-first e2e-second" in page.text


def test_admin_logs_in_with_the_admin_password_only(deployment):
    _, with_user_password = login(deployment.url, ADMIN, deployment.password())
    assert with_user_password.status_code == 403

    session, response = login(deployment.url, ADMIN, deployment.password("trial admin password"))
    assert response.status_code == 200, response.text[:500]
    assert api(session, deployment.url, "GET", "/user").json()["admin"] is True


def test_user_logs_in_starts_reaches_and_stops_a_server(deployment):
    user = "alice"
    session, response = login(deployment.url, user, deployment.password())
    assert response.status_code == 200 and response.url.endswith("/hub/home"), response.text[:500]
    me = api(session, deployment.url, "GET", "/user").json()
    assert (me["name"], me["admin"]) == (user, False)

    started = time.monotonic()
    spawn = api(session, deployment.url, "POST", f"/users/{user}/server")
    assert spawn.status_code in (201, 202), spawn.text
    status = wait_for_server(session, deployment.url, user, deployment.logs)
    print(f"server answered through the proxy {time.monotonic() - started:.1f} s after the request")
    assert "started" in status

    container = json.loads(docker("inspect", deployment.user_object(user)).stdout)[0]
    assert deployment.project in container["NetworkSettings"]["Networks"]
    mounts = {m.get("Name"): m["Destination"] for m in container["Mounts"]}
    assert mounts.get(deployment.user_volume(user)) == "/home/jovyan/work"

    stop = api(session, deployment.url, "DELETE", f"/users/{user}/server")
    assert stop.status_code in (202, 204), stop.text
    wait_until(
        lambda: docker("inspect", deployment.user_object(user), check=False).returncode,
        what="the stopped server's container to be removed",
    )
    # the container is gone, the user's files are not
    assert docker("volume", "inspect", deployment.user_volume(user), check=False).returncode == 0


def test_only_the_proxy_publishes_a_port_and_only_the_hub_has_the_docker_socket(deployment):
    hub, proxy = (
        json.loads(docker("inspect", deployment.container(service)).stdout)[0]
        for service in ("hub", "proxy")
    )

    published = {
        name: {port for port, bound in c["NetworkSettings"]["Ports"].items() if bound}
        for name, c in (("hub", hub), ("proxy", proxy))
    }
    assert published == {"hub": set(), "proxy": {"8000/tcp"}}
    sockets = {
        name: [m for m in c["Mounts"] if m["Destination"] == "/var/run/docker.sock"]
        for name, c in (("hub", hub), ("proxy", proxy))
    }
    assert len(sockets["hub"]) == 1 and sockets["proxy"] == []
    # the proxy shares only the folder of the proxy token with the hub, not its data
    assert {m["Destination"] for m in proxy["Mounts"]} == {"/srv/hubdist-shared"}


def test_the_hubs_sqlite_database_writes_through_the_write_ahead_log(deployment):
    """HUBDIST_SQLITE_JOURNAL's default, as the running hub's own connections set it (the
    mode is kept in the file): commits that do not wait for the disk (docs/operations.md)."""
    ask = (
        "import sqlite3; db = sqlite3.connect('file:/srv/jupyterhub/jupyterhub.sqlite?mode=ro',"
        " uri=True); print(db.execute('PRAGMA journal_mode').fetchone()[0])"
    )
    done = deployment.compose("exec", "-T", "hub", "python3", "-c", ask)
    assert done.stdout.strip() == "wal", done.stderr


def test_the_hub_starts_without_building_iri_grammars_and_still_checks_iris(deployment):
    """The hub image defers rfc3987_syntax's grammars (built whenever JupyterHub is imported,
    1.3 s of every hub start) to the first IRI check, as the single-user image does; the
    check itself is unchanged."""
    done = deployment.compose("exec", "-T", "hub", "python3", "-c", iri_probe("jupyterhub.app"))
    assert done.stdout.split() == ["True", "False", "False"], done.stdout + done.stderr


def test_the_hub_image_saved_jupyterhubs_newest_schema_revision_and_believes_it(deployment):
    """`hubdist start` compares the database's revision with JupyterHub's newest at every
    start; the image saved the newest at build, so reading alembic's scripts (0.3 s) is not
    repeated. The saved one is the one the scripts give."""
    probe = (
        "import sys\nfrom hubdist.database import schema\n"
        "head = schema.schema_head()\n"
        "print(schema.HEAD_FILE.is_file(), 'alembic.script' in sys.modules,"
        " head == schema._read_head())\n"
    )
    done = deployment.compose("exec", "-T", "hub", "python3", "-c", probe)
    assert done.stdout.split() == ["True", "False", "True"], done.stdout + done.stderr


def test_the_hub_imports_aiohttp_without_loading_the_ca_bundle_and_still_verifies(deployment):
    """aiohttp's default SSL contexts, made at import (two CA-bundle loads, 0.07 CPU-s of
    every hub start on the trixie base, 0.2 on bookworm), are made on first use in the hub
    image; they still verify."""
    probe = aiohttp_tls_probe("jupyterhub.app")
    done = deployment.compose("exec", "-T", "hub", "python3", "-c", probe)
    assert done.stdout.splitlines() == AIOHTTP_TLS_ANSWERS, done.stdout + done.stderr


def doctor_findings(done: subprocess.CompletedProcess) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for finding in json.loads(done.stdout)["findings"]:
        found.setdefault(finding["check"], []).append(finding)
    return found


def test_doctor_in_the_hub_and_on_the_host_finds_a_sound_deployment_then_a_stopped_netguard(
    deployment,
):
    user = "carol"
    session, _ = login(deployment.url, user, deployment.password())
    assert api(session, deployment.url, "POST", f"/users/{user}/server").status_code in (201, 202)
    wait_for_server(session, deployment.url, user, deployment.logs)
    host_command = [sys.executable, "-m", "hubdist", "doctor", "--json"]
    host_command += ["--project", deployment.project]
    try:
        inside = deployment.compose("exec", "-T", "hub", "hubdist", "doctor", "--json")
        on_host = subprocess.run(host_command, capture_output=True, text=True, timeout=120)
        metrics = http_session().get(
            f"{deployment.url}/hub/metrics",
            headers={"Authorization": f"token {METRICS_TOKEN}"},
            timeout=10,
        )
        assert deployment.compose("stop", "netguard").returncode == 0
        stopped = deployment.compose("exec", "-T", "hub", "hubdist", "doctor", "--json")
    finally:
        deployment.compose("up", "-d", "netguard")
        api(session, deployment.url, "DELETE", f"/users/{user}/server")

    assert inside.returncode == 0, inside.stdout + inside.stderr
    assert on_host.returncode == 0, on_host.stdout + on_host.stderr
    for run in (inside, on_host):
        found = doctor_findings(run)
        for check in ("engine", "network", "images", "netguard", "routes", "adopted", "database"):
            assert [f["status"] for f in found[check]] == ["ok"], found[check]
        assert "1 running server(s)" in found["routes"][0]["message"]
        assert "user(s)" in found["database"][0]["message"]
    # the host sees the firewall and the disk itself; the hub container reads netguard's report
    host_found = doctor_findings(on_host)
    assert "rules in place and effective" in host_found["netguard"][0]["message"]
    assert host_found["disk"][0]["status"] in ("ok", "warning")
    assert doctor_findings(inside)["disk"][0]["status"] == "skipped"

    assert metrics.status_code == 200
    assert 'hubdist_spawn_phase_duration_seconds_count{outcome="ok",phase="answer"}' in (
        metrics.text
    )

    assert stopped.returncode == 1
    (netguard,) = doctor_findings(stopped)["netguard"][:1]
    assert netguard["status"] == "problem" and "not running" in netguard["message"]
    assert "docker compose up -d netguard" in netguard["advice"]
