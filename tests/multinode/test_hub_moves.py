"""The hub moves to another manager and loses nothing: issue 15's bed of two managers.

With its database in PostgreSQL (docker-stack.postgres.yml, PostgreSQL on the worker
labelled for it), the hub keeps nothing users depend on on its node. The manager running the
hub is drained, as before maintenance: Swarm starts the hub (and the proxy, if it was there)
on the other manager, whose engine has never seen it. The new hub finds the user, their API
token and their running server, which is never restarted; the user, logged in before the
move, reaches the server through the proxy again.

A swarm of its own (two managers, one worker), not the shared one of the other multi-node
tests, which has one manager.
"""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from ..e2e.deployment import http_session, wait_until
from ..e2e.test_stack import SECRETS, STACK_FILE
from ..hubrig import PREFIX, docker, task_logs
from ..nodes import EngineNode, build_node_image, make_network
from .cluster import HTTP_PORT, Cluster, User, config_for, start_first_node

POSTGRES_STACK_FILE = STACK_FILE.with_name("docker-stack.postgres.yml")
USER = "max"


class TwoManagers(Cluster):
    """m1 and m2 are managers (the hub, the proxy, m1 the registry); w1 is the worker for
    users' servers and PostgreSQL."""

    @property
    def managers(self) -> list[EngineNode]:
        return [self.manager, self.extra_nodes[0]]

    def node(self, name: str) -> EngineNode:
        return next(n for n in [*self.managers, *self.workers] if n.name == name)

    def hub_logs(self) -> str:
        """The hub's tasks' logs on both managers (it may run on either)."""
        return "".join(task_logs(f"{self.stack}_hub", m.docker) for m in self.managers)

    @property
    def url(self) -> str:
        """The proxy is published in host mode: reached on the manager it runs on."""
        running = self.running_task_or_none(f"{self.stack}_proxy")
        node = self.manager
        if running:
            node = self.node(self.running_task(f"{self.stack}_proxy")["Node"])
        return f"http://{node.ip}:{HTTP_PORT}"

    @classmethod
    def create(cls, stack: str, workdir: Path) -> TwoManagers:
        network = make_network(stack)
        args = ["--insecure-registry", f"{stack}-m1:5000"]
        m1 = start_first_node(stack, network, f"{stack}-m1", args, workdir, "postgres")
        cluster = cls(stack, network, m1, [])
        hub, postgres = cluster.hub_image, f"hubdist/postgres:{stack}"
        try:
            cluster.extra_nodes.append(EngineNode.start(f"{stack}-m2", network, args, images=[hub]))
            cluster.workers.append(EngineNode.start(f"{stack}-w1", network, args, images=[hub]))
            with ThreadPoolExecutor(1) as pool:
                loading = pool.submit(cluster.w1.load_image, postgres)  # PostgreSQL's node
                cluster._form_swarm()
                cluster._serve_image()
                loading.result()
            cluster._deploy_with_postgres(workdir)
        except BaseException:
            cluster.remove()
            raise
        finally:
            docker("image", "rm", postgres, check=False)  # the hub image goes in remove()
        return cluster

    def _form_swarm(self) -> None:
        self._init_swarm()
        self.join(self.extra_nodes[0], "manager")
        self.join(self.w1)
        database_label = f"{self.stack}-database=true"
        self.manager.docker("node", "update", "--label-add", database_label, self.w1.name)

    def _deploy_with_postgres(self, workdir: Path) -> None:
        config_dir = workdir / "config.d"
        config_dir.mkdir()
        (config_dir / "50-multinode.py").write_text(config_for(self.stack))
        m1 = self.manager
        m1.copy_in(STACK_FILE, "/stack/docker-stack.yml")
        m1.copy_in(POSTGRES_STACK_FILE, "/stack/docker-stack.postgres.yml")
        # the config folder is a bind mount: on every manager the hub may run on
        for manager in self.managers:
            manager.copy_in(config_dir, "/stack/config.d")
        for secret in (*SECRETS, "postgres-password"):
            m1.docker(
                "secret", "create", f"{self.stack}-{secret}", "-", input=secrets.token_hex(32)
            )
        settings = self.stack_settings()
        m1.docker(
            "stack", "deploy", "-c", "/stack/docker-stack.yml",
            "-c", "/stack/docker-stack.postgres.yml", "--resolve-image", "never",
            self.stack, env=settings,
        )  # fmt: skip
        self.wait_healthy()
        found = wait_until(
            lambda: "trial password: " in self.hub_logs() and self.hub_logs(),
            "the trial password in the hub's log",
        )
        self.password = found.split("trial password: ", 1)[1].split()[0]


@pytest.fixture(scope="module")
def two_managers(engine_ready, tmp_path_factory):
    build_node_image()
    started = time.monotonic()
    made = TwoManagers.create(f"{PREFIX}-2m", tmp_path_factory.mktemp("two-managers"))
    print(f"\nswarm of two managers and a worker deployed in {time.monotonic() - started:.0f} s")
    yield made
    made.remove()


def test_a_hub_drained_off_its_manager_keeps_users_tokens_and_servers(two_managers):
    cluster = two_managers
    user = User(cluster, USER)
    user.start()
    assert (user.server() or {}).get("ready"), cluster.hub_logs()[-3000:]
    made = user.api("POST", f"/users/{USER}/tokens", json={})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    server_task = cluster.running_task(cluster.service(USER))
    assert server_task["Node"] == cluster.w1.name
    hub = f"{cluster.stack}_hub"
    old = cluster.running_task(hub)
    other = next(m for m in cluster.managers if m.name != old["Node"])

    cluster.manager.docker("node", "update", "--availability", "drain", old["Node"])
    wait_until(
        lambda: (cluster.running_task_or_none(hub) or old["ID"]) != old["ID"],
        "the hub to run again",
        timeout=180,
    )
    assert cluster.running_task(hub)["Node"] == other.name
    cluster.wait_healthy()

    def me() -> dict | None:
        answer = http_session().get(
            f"{cluster.url}/hub/api/user", headers={"Authorization": f"token {token}"}, timeout=15
        )
        return answer.json() if answer.status_code == 200 else None

    model = wait_until(me, "the moved hub to accept the token", timeout=60)
    assert model["name"] == USER and model["servers"][""]["ready"] is True, model
    # the same task, never restarted, reached through the proxy (now perhaps on the other
    # manager: the stub server asks for no login)
    assert cluster.running_task(cluster.service(USER))["ID"] == server_task["ID"]

    def reaches() -> bool:
        try:
            answer = http_session().get(f"{cluster.url}/user/{USER}/", timeout=15)
        except requests.RequestException:
            return False
        return answer.status_code == 200 and answer.json()["user"] == USER

    wait_until(reaches, "the user's server through the proxy", timeout=60)
