"""A production-like Swarm site: `docker stack deploy -c docker-stack.yml -c
docker-stack.postgres.yml -c docker-stack.https.yml`, the hub's database in the postgres
service (docs/operations.md, On a Swarm) and HTTPS from the edge (docs/https.md).

The database password is a Docker secret; PostgreSQL runs on the node labelled for it. The
edge gets its certificate from pebble (Let's Encrypt's test server, validating for real, in
a container on the stack's edge network, tests/acme.py), whose root the edge trusts through
a Docker secret, as a site with its own ACME server would. A user logs in over https and
runs code; the hub's task is then replaced (as when Swarm reschedules it), and the new one
finds the user, their API token and their running server in PostgreSQL. (On this one-node
swarm the new task runs on the same node: moving to another manager is the multi-node bed's
to show.)
"""

from __future__ import annotations

import time

import pytest
import requests
from cryptography.x509.oid import NameOID

from hubdist.tls.certificates import served

from ..acme import listener_certificate, pebble_in_container, resolving_here
from ..hubrig import PREFIX, docker, free_port
from .deployment import (
    REPO,
    api,
    http_session,
    isolated_env,
    require_base_image,
    wait_healthy,
    wait_until,
)
from .test_stack import SECRETS, STACK_FILE, Stack, run_code_on_a_server

pytestmark = pytest.mark.e2e

POSTGRES_STACK_FILE = REPO / "docker-stack.postgres.yml"
HTTPS_STACK_FILE = REPO / "docker-stack.https.yml"
USER = "erin"
DOMAIN = "hub.test"
#: the site's addition for its own ACME server: the root it trusts, as a Docker secret
ACME_CA_STACK_FILE = """version: "3.8"
services:
  edge:
    secrets:
      - {source: acme_ca, target: acme_ca, uid: "10002", mode: 0400}
secrets:
  acme_ca:
    external: true
    name: NAME-acme-ca
"""


@pytest.fixture(scope="module")
def stack(swarm, tmp_path_factory):
    name = f"{PREFIX}-pgstack"
    port, http_port, https_port = free_port(), free_port(), free_port()
    folder = tmp_path_factory.mktemp("acme")
    folder.chmod(0o755)
    env = isolated_env(
        name,
        port,
        tmp_path_factory.mktemp("config.d"),
        HUBDIST_SINGLEUSER_IMAGE=f"hubdist/singleuser:{name}",
        COMPOSE_PROFILES="postgres",  # `compose build` makes hubdist/postgres too
        HUBDIST_DOMAIN=DOMAIN,
        HUBDIST_HTTPS_PORT=str(https_port),
        HUBDIST_EDGE_HTTP_PORT=str(http_port),
        HUBDIST_ACME_EMAIL="admin@hub.test",
        HUBDIST_ACME_DIRECTORY="https://acme:14000/dir",
        HUBDIST_ACME_CA_BUNDLE="/run/secrets/acme_ca",
        HUBDIST_TLS_FALLBACK_LIFETIME="90",  # pebble joins after the edge: retried in 60 s
        HUBDIST_TLS_CHECK_INTERVAL="5",
    )
    node = docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    label = f"{name}-database"  # HUBDIST_PREFIX-database: where PostgreSQL's volume is
    docker("node", "update", "--label-add", f"{label}=true", node)
    listener_ca, _key = listener_certificate(folder, ["localhost", "acme"])
    ca_secret = f"{name}-acme-ca"
    docker("secret", "create", ca_secret, str(listener_ca))
    site_file = folder / "docker-stack.acme-ca.yml"
    site_file.write_text(ACME_CA_STACK_FILE.replace("NAME", name))
    deployed = Stack(
        name,
        f"https://{DOMAIN}:{https_port}",
        env,
        files=(STACK_FILE, POSTGRES_STACK_FILE, HTTPS_STACK_FILE, site_file),
        secret_names=(*SECRETS, "postgres-password"),
        verify=False,  # until pebble's certificate is served, below
        own_secrets=(ca_secret,),
    )
    try:
        with resolving_here(DOMAIN):
            started = time.monotonic()
            deployed.deploy()
            with pebble_in_container(
                f"{name}-acme", f"{name}-edge", folder, 8080, 8443, 3600, require_base_image()
            ) as acme:
                acme.point(DOMAIN, edge_address(deployed))
                deployed.acme = acme
                deployed.http_port = http_port
                wait_until(
                    lambda: issuer_of(https_port).startswith("Pebble"),
                    "pebble's certificate served by the edge",
                    timeout=240,
                    interval=2,
                )
                roots = folder / "pebble-roots.pem"
                roots.write_text(acme.roots())
                deployed.verify = str(roots)
                took = wait_healthy(deployed)
                print(f"deploy to https took {time.monotonic() - started:.1f} s ({took:.1f} s)")
                yield deployed
    finally:
        try:
            deployed.tear_down()
        finally:
            docker("node", "update", "--label-rm", label, node, check=False)


def edge_address(stack: Stack) -> str:
    """The edge task's address on the stack's edge network, once it runs."""
    label = f"label=com.docker.swarm.service.name={stack.name}_edge"
    container = wait_until(
        lambda: docker("ps", "-q", "--filter", label).stdout.split(), "the edge's task"
    )[0]
    network = f"{stack.name}-edge"
    return docker(
        "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}',
        container,
    ).stdout.strip()  # fmt: skip


def issuer_of(port: int) -> str:
    try:
        certificate = served(port, DOMAIN)
    except OSError:
        return ""
    return certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def test_on_a_stack_the_edge_serves_https_and_a_new_edge_task_orders_nothing(stack):
    https_port = int(stack.env["HUBDIST_HTTPS_PORT"])
    redirect = http_session().get(
        f"http://{DOMAIN}:{stack.http_port}/hub/", allow_redirects=False, timeout=10
    )
    assert redirect.status_code == 308
    assert redirect.headers["Location"] == f"{stack.url}/hub/"
    # docker-stack.yml's published proxy port answers nothing: the proxy listens elsewhere
    with pytest.raises(requests.ConnectionError):
        http_session().get(f"http://127.0.0.1:{stack.env['HUBDIST_HTTP_PORT']}/hub/", timeout=5)

    held, issued = served(https_port, DOMAIN), stack.acme.issued()
    update = docker("service", "update", "--force", "--detach", f"{stack.name}_edge")
    assert update.returncode == 0, update.stderr
    wait_until(lambda: "held in the storage volume" in stack.logs("edge"), "a new edge task")
    wait_healthy(stack)
    assert served(https_port, DOMAIN).serial_number == held.serial_number
    assert stack.acme.issued() == issued


def users_in_postgres(stack: Stack) -> list[str]:
    label = f"label=com.docker.swarm.service.name={stack.name}_postgres"
    (container,) = docker("ps", "-q", "--filter", label).stdout.split()
    query = (
        "PGPASSWORD=$(cat /run/secrets/postgres_password) psql -h 127.0.0.1 -U hubdist "
        "-d hubdist -Atc 'SELECT name FROM users ORDER BY name'"
    )
    return docker("exec", container, "sh", "-c", query).stdout.split()


def test_on_a_stack_the_hub_keeps_its_users_in_postgres_across_a_new_task(stack):
    session = run_code_on_a_server(stack, USER)
    made = api(session, stack.url, "POST", f"/users/{USER}/tokens", json={})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    hub_log = stack.logs()
    assert "PostgreSQL password from /run/secrets/postgres_password (PGPASSWORD_FILE)" in hub_log
    assert stack.secret_values[-1] not in hub_log
    assert users_in_postgres(stack) == [USER]

    def hub_task() -> str:
        return docker("service", "ps", "-q", "--filter", "desired-state=running",
                      f"{stack.name}_hub").stdout.strip()  # fmt: skip

    before = hub_task()
    update = docker("service", "update", "--force", "--detach", f"{stack.name}_hub")
    assert update.returncode == 0, update.stderr
    wait_until(lambda: hub_task() not in ("", before), "a new hub task", timeout=120)
    wait_healthy(stack)

    def me():
        response = http_session(stack.verify).get(
            f"{stack.url}/hub/api/user", headers={"Authorization": f"token {token}"}, timeout=15
        )
        return response.json() if response.status_code == 200 else None

    model = wait_until(me, "the new hub task to answer with the token", timeout=120)
    assert model["name"] == USER and model["servers"][""]["ready"] is True, model
    assert users_in_postgres(stack) == [USER]
