"""`docker stack deploy -c docker-stack.yml -c docker-stack.postgres.yml`: the hub on a Swarm
with its database in the postgres service (docs/operations.md, On a Swarm).

The password is a Docker secret; PostgreSQL runs on the node labelled for it. A user logs in
and runs code; the hub's task is then replaced (as when Swarm reschedules it), and the new
one finds the user, their API token and their running server in PostgreSQL. (On this
one-node swarm the new task runs on the same node: moving to another manager is the
multi-node bed's to show.)
"""

from __future__ import annotations

import time

import pytest

from ..hubrig import PREFIX, docker, free_port
from .deployment import REPO, api, http_session, isolated_env, wait_healthy, wait_until
from .test_stack import SECRETS, STACK_FILE, Stack, run_code_on_a_server

pytestmark = pytest.mark.e2e

POSTGRES_STACK_FILE = REPO / "docker-stack.postgres.yml"
USER = "erin"


@pytest.fixture(scope="module")
def stack(swarm, tmp_path_factory):
    name = f"{PREFIX}-pgstack"
    port = free_port()
    env = isolated_env(
        name,
        port,
        tmp_path_factory.mktemp("config.d"),
        HUBDIST_SINGLEUSER_IMAGE=f"hubdist/singleuser:{name}",
        COMPOSE_PROFILES="postgres",  # `compose build` makes hubdist/postgres too
    )
    node = docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    label = f"{name}-database"  # HUBDIST_PREFIX-database: where PostgreSQL's volume is
    docker("node", "update", "--label-add", f"{label}=true", node)
    deployed = Stack(
        name,
        f"http://127.0.0.1:{port}",
        env,
        files=(STACK_FILE, POSTGRES_STACK_FILE),
        secret_names=(*SECRETS, "postgres-password"),
    )
    try:
        started = time.monotonic()
        deployed.deploy()
        took = wait_healthy(deployed)
        print(f"build and deploy took {time.monotonic() - started:.1f} s ({took:.1f} s to health)")
        yield deployed
    finally:
        try:
            deployed.tear_down()
        finally:
            docker("node", "update", "--label-rm", label, node, check=False)


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
        response = http_session().get(
            f"{stack.url}/hub/api/user", headers={"Authorization": f"token {token}"}, timeout=15
        )
        return response.json() if response.status_code == 200 else None

    model = wait_until(me, "the new hub task to answer with the token", timeout=120)
    assert model["name"] == USER and model["servers"][""]["ready"] is True, model
    assert users_in_postgres(stack) == [USER]
