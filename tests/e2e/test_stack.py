"""`docker stack deploy -c docker-stack.yml` serves a working hub on a Swarm.

The images are built with compose first (stack deploy cannot build), the secrets are
Docker secrets, the hub spawns users' servers as Swarm services (SwarmSpawner) on the
stack's overlay network, and the proxy publishes its port in host mode. This machine's
Swarm has no working service virtual IPs or routing mesh, so the test also shows the stack
needs neither. Everything is named after this run and removed afterwards.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ..hubrig import PREFIX, docker, free_port, task_logs
from .deployment import (
    BUILD_TIMEOUT,
    MANAGED_LABEL,
    REPO,
    Deployment,
    api,
    isolated_env,
    login,
    server_api,
    wait_for_server,
    wait_healthy,
    wait_until,
)
from .kernel import KernelSocket

pytestmark = pytest.mark.e2e

STACK_FILE = REPO / "docker-stack.yml"
SECRETS = ("cookie-secret", "proxy-token", "crypt-key")
USER = "dora"


@dataclass
class Stack:
    name: str  # also the network, the prefix of users' services and secrets, the image tag
    url: str
    env: dict[str, str]
    secret_values: tuple[str, ...] = ()
    files: tuple[Path, ...] = (STACK_FILE,)
    secret_names: tuple[str, ...] = SECRETS
    verify: str | bool = True  # over HTTPS: the CA file the test's clients trust
    #: secrets the test made itself (with contents of its own), removed with the stack
    own_secrets: tuple[str, ...] = ()

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, env=self.env, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )

    def logs(self, service: str = "hub") -> str:
        return task_logs(f"{self.name}_{service}")

    def service(self, name: str) -> dict:
        return json.loads(docker("service", "inspect", name).stdout)[0]

    def deploy(self) -> None:
        build = Deployment(self.name, self.url, self.env).compose("build", timeout=BUILD_TIMEOUT)
        assert build.returncode == 0, f"docker compose build failed:\n{build.stderr[-4000:]}"
        values = []
        for secret in self.secret_names:
            values.append(secrets.token_hex(32))
            created = subprocess.run(
                ["docker", "secret", "create", f"{self.name}-{secret}", "-"],
                input=values[-1],
                capture_output=True,
                text=True,
            )
            assert created.returncode == 0, created.stderr
        self.secret_values = tuple(values)
        # --resolve-image never: the images are local; nothing asks a registry
        files = [arg for path in self.files for arg in ("-c", str(path))]
        deploy = self.run(
            "docker", "stack", "deploy", *files, "--resolve-image", "never", self.name
        )  # fmt: skip
        assert deploy.returncode == 0, deploy.stderr

    def tear_down(self) -> None:
        """Remove the stack and everything the run made; fail if anything is left."""
        users = self._names("service", "ls", "--filter", f"label={MANAGED_LABEL}")
        if users:
            docker("service", "rm", *users, check=False)
            # their containers leave the stack's network only when stopped: a stack rm before
            # that fails to remove the network, for good (as docs/swarm.md tells admins)
            wait_until(
                lambda: not self._names("ps", "-a", "--filter", f"label={MANAGED_LABEL}"),
                "users' containers to go",
            )
        removed = docker("stack", "rm", self.name, check=False)
        # stack rm returns before the tasks' containers and the network are gone
        try:
            wait_until(
                lambda: not (self._names("ps", "-a") or self._names("network", "ls")),
                f"the stack's containers and network to go (stack rm said: {removed.stderr})",
                timeout=120,
            )
        finally:
            volumes = self._names("volume", "ls")
            if volumes:
                docker("volume", "rm", "-f", *volumes, check=False)
            made = (*(f"{self.name}-{s}" for s in self.secret_names), *self.own_secrets)
            docker("secret", "rm", *made, check=False)
            for image in ("hub", "singleuser", "postgres"):
                docker("image", "rm", f"hubdist/{image}:{self.name}", check=False)
        left = {
            kind: self._names(*ls)
            for kind, ls in {
                "services": ("service", "ls"),
                "containers": ("ps", "-a"),
                "volumes": ("volume", "ls"),
                "networks": ("network", "ls"),
                "secrets": ("secret", "ls"),
            }.items()
        }
        assert removed.returncode == 0, removed.stderr
        assert not any(left.values()), f"left behind: {left}"

    def _names(self, *ls_args: str) -> list[str]:
        field = "{{.Names}}" if ls_args[0] == "ps" else "{{.Name}}"
        listed = docker(*ls_args, "--format", field).stdout.split()
        return [name for name in listed if name.startswith(self.name)]


@pytest.fixture(scope="module")
def stack(swarm, tmp_path_factory) -> Stack:
    name = f"{PREFIX}-stack"  # the swarm fixture also removes services named so
    port = free_port()
    env = isolated_env(
        name,
        port,
        tmp_path_factory.mktemp("config.d"),
        HUBDIST_SINGLEUSER_IMAGE=f"hubdist/singleuser:{name}",
    )
    deployed = Stack(name, f"http://127.0.0.1:{port}", env)
    try:
        started = time.monotonic()
        deployed.deploy()
        took = wait_healthy(deployed)
        print(f"build and deploy took {time.monotonic() - started:.1f} s ({took:.1f} s to health)")
        yield deployed
    finally:
        deployed.tear_down()


def run_code_on_a_server(stack: Stack, user: str) -> requests.Session:
    """``user`` logs in with the trial password, starts a server and runs code in a kernel
    through the proxy; their logged-in session."""
    password = re.search(r"trial password: (\S+)", stack.logs())
    assert password, stack.logs()[-3000:]
    session, response = login(stack.url, user, password.group(1), stack.verify)
    assert response.status_code == 200, response.text[:500]

    started = time.monotonic()
    spawn = api(session, stack.url, "POST", f"/users/{user}/server")
    assert spawn.status_code in (201, 202), spawn.text
    wait_for_server(session, stack.url, user, stack.logs)
    print(f"server answered through the proxy {time.monotonic() - started:.1f} s after the request")
    kernel = server_api(session, stack.url, user, "POST", "/kernels", json={})
    assert kernel.status_code == 201, kernel.text
    cookies = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    ca_certs = stack.verify if isinstance(stack.verify, str) else None
    with KernelSocket.for_kernel(
        f"{stack.url}/user/{user}/", kernel.json()["id"], headers={"Cookie": cookies},
        ca_certs=ca_certs,
    ) as socket:  # fmt: skip
        assert socket.execute("print(6*7)") == "42\n"
    return session


def test_a_user_logs_in_and_runs_code_on_a_server_that_is_a_swarm_service(stack):
    run_code_on_a_server(stack, USER)

    server = stack.service(f"{stack.name}-{USER}")
    networks = server["Spec"]["TaskTemplate"]["Networks"]
    assert [docker("network", "inspect", "-f", "{{.Name}}", n["Target"]).stdout.strip()
            for n in networks] == [stack.name]  # fmt: skip
    assert "Ports" not in server.get("Endpoint", {})  # reached at its task's address


ATTEMPT = """
import socket, sys
for host, port in (("proxy", 8001), ("hub", 8081)):
    try:
        socket.create_connection((host, port), timeout=5).close()
        print("reached")
    except OSError as e:
        print(type(e).__name__ + ": " + (e.strerror or str(e)))
"""


def test_the_users_server_is_guarded_by_the_netguard_on_its_node(stack):
    """Runs after the user's server was started above: its node's guard put the rules in
    before it answered; from inside it the proxy's API is rejected, the hub's API is not
    (tests/engine/test_swarm_isolation.py tries every attack, with controls)."""
    guard = stack.service(f"{stack.name}_netguard")
    assert "Global" in guard["Spec"]["Mode"]
    spec = guard["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert set(spec["CapabilityAdd"]) == {"CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}
    assert f"guarded {stack.name}-{USER}." in stack.logs("netguard"), stack.logs("netguard")

    label = f"label=com.docker.swarm.service.name={stack.name}-{USER}"
    (container,) = docker("ps", "-q", "--filter", label).stdout.split()
    tried = docker("exec", container, "python3", "-c", ATTEMPT).stdout.splitlines()
    assert tried == ["OSError: No route to host", "reached"], tried


def test_no_virtual_ip_and_no_routing_mesh(stack):
    hub, proxy = (stack.service(f"{stack.name}_{s}") for s in ("hub", "proxy"))

    assert hub["Spec"]["EndpointSpec"]["Mode"] == proxy["Spec"]["EndpointSpec"]["Mode"] == "dnsrr"
    assert "Ports" not in hub["Spec"]["EndpointSpec"]
    (published,) = proxy["Spec"]["EndpointSpec"]["Ports"]
    assert (published["TargetPort"], published["PublishMode"]) == (8000, "host")
    assert str(published["PublishedPort"]) == stack.env["HUBDIST_HTTP_PORT"]
    assert hub["Spec"]["TaskTemplate"]["Placement"]["Constraints"] == ["node.role == manager"]


def test_the_secrets_are_docker_secrets_and_never_logged(stack):
    hub_log, proxy_log = stack.logs("hub"), stack.logs("proxy")

    assert "cookie secret from /run/secrets/cookie_secret (JPY_COOKIE_SECRET_FILE)" in hub_log
    assert "proxy auth token from /run/secrets/proxy_token (CONFIGPROXY_AUTH_TOKEN_FILE)" in (
        proxy_log
    )
    # every secret the stack must give is a Docker secret; only the doctor's own API token
    # (the hub's to make, like its SQLite file) is made in the hub's volume
    generated = [
        line
        for line in (hub_log + proxy_log).splitlines()
        if "generated now" in line and "doctor's API token" not in line
    ]
    assert not generated
    for value in stack.secret_values:
        assert value not in hub_log + proxy_log


def test_the_idle_culler_reaches_the_hub_from_its_first_round(stack):
    # "hub" resolves only once the hub's health check passed: the culler does not use it
    wait_until(lambda: "(idle-culler@127.0.0.1)" in stack.logs(), "the culler's first round")

    assert "Name or service not known" not in stack.logs()
