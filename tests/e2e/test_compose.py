"""`docker compose up` in the repository builds both images and serves a working hub.

The path a new user takes: build, start, read the trial password from the log, log in
through the form, start a server, reach it through the hub's proxy, stop it. Each run is
its own compose project with its own port, network, name prefix and image tag, and ignores
the checkout's .env and config.d, so it never touches a real deployment on the machine.
"""

from __future__ import annotations

import json
import time

import pytest

from ..hubrig import docker
from .deployment import api, deployed, http_session, login, wait_for_server, wait_until

ADMIN = "boss"

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
    with deployed("e2e", overrides, HUBDIST_ADMIN_USERS=ADMIN) as dep:
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
