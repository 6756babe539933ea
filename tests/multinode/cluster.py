"""A swarm of engine-in-container nodes running the shipped docker-stack.yml.

The manager runs the hub and the proxy (the stack's own placement) and a registry that
serves the single-user image to the workers; the workers start empty, so a user's first
server on one pulls the image there. The hub is configured only through a config.d file,
as an admin would (CONFIG below): user names choose a node, and so does a GPU profile (w1
advertises one fake GPU, as a machine with one NVIDIA GPU would).
"""

from __future__ import annotations

import json
import secrets
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ..e2e.deployment import (
    BUILD_TIMEOUT,
    Deployment,
    api,
    http_session,
    isolated_env,
    login,
    wait_until,
)
from ..e2e.test_stack import SECRETS, STACK_FILE
from ..hubrig import BASE_IMAGE, TEST_IMAGE, docker, task_logs, user_container
from ..nodes import EngineNode, make_network, remove_network

STUB_DIR = Path(__file__).resolve().parent / "stub"
HTTP_PORT = 8000  # the proxy's, published in host mode on the manager

# What an admin writes in config.d (a str.format template: {stack}). A callable constraint
# chooses per user (here by name); a pre-spawn hook pins some users to their node; profiles
# (set on DockerSpawner) offer a GPU.
CONFIG = """
def placement(spawner):
    name = spawner.user.name
    if name.startswith("big-"):
        return ["node.labels.hubdist.size == large"]
    if name.startswith("on-"):  # on-NODE-...: the test picks the node
        return ["node.hostname == {stack}-" + name.split("-")[1]]
    return ["node.role == worker"]

c.SwarmSpawner.placement_constraints = placement

def pin_some(spawner):
    spawner.pin_to_node = spawner.user.name.startswith("pin-")

c.Spawner.pre_spawn_hook = pin_some
c.SwarmSpawner.stop_timeout = 2

# set on DockerSpawner, as in a single-machine hub: it configures SwarmSpawner too
c.DockerSpawner.profiles = [
    {{"name": "cpu", "display_name": "CPU only", "default": True}},
    {{"name": "gpu", "display_name": "One GPU", "gpus": 1}},
    {{"name": "lab", "display_name": "JupyterLab", "image": "{lab_image}",
      "environment": {{"JUPYTERHUB_ACTIVITY_INTERVAL": "{activity_interval}"}}}},
]
"""
#: how often the "lab" profile's server reports its activity to the hub (seconds)
LAB_ACTIVITY_INTERVAL = 5
#: run in the hub: the network guards' addresses it finds (whom SwarmSpawner asks)
GUARDS_FOUND = """
import socket
try:
    print(*{a[4][0] for a in socket.getaddrinfo("tasks.netguard", 8091)})
except OSError:
    pass
"""
GUARDS_HEALTH = """
import json, socket, urllib.request
for address in sorted({a[4][0] for a in socket.getaddrinfo("tasks.netguard", 8091)}):
    with urllib.request.urlopen(f"http://{address}:8091/health", timeout=5) as answer:
        print(json.dumps(json.load(answer)))
"""
#: the generic resource w1 advertises (SwarmSpawner.gpu_resource's default kind)
FAKE_GPU = "NVIDIA-GPU=GPU-fake-0"


def hub_image(stack: str) -> str:
    """Built from this checkout for the stack's cluster, kept while it lives: every node
    starts with it, the ones joining later too, for the stack's network guard (a global
    service)."""
    return f"hubdist/hub:{stack}"


def start_first_node(
    stack: str, network: str, name: str, args: list[str], workdir: Path, *services: str
) -> EngineNode:
    """Build the stack's hub image, and the compose file's ``services`` that each are in
    the profile of their name (postgres: hubdist/postgres:STACK), then start the first node
    with the hub image (every node starts with it). On failure nothing is left."""
    profiles = {"COMPOSE_PROFILES": ",".join(services)} if services else {}
    env = isolated_env(stack, HTTP_PORT, workdir, **profiles)
    try:
        build = Deployment(stack, "", env).compose("build", "hub", *services, timeout=BUILD_TIMEOUT)
        assert build.returncode == 0, f"building the images failed:\n{build.stderr[-3000:]}"
        return EngineNode.start(name, network, args, images=[hub_image(stack)])
    except BaseException:
        remove_network(network)
        built = [hub_image(stack), *(f"hubdist/{service}:{stack}" for service in services)]
        docker("image", "rm", *built, check=False)
        raise


def config_for(stack: str) -> str:
    """The cluster's config.d file for this stack (the lab profile runs TEST_IMAGE)."""
    return textwrap.dedent(CONFIG).format(
        stack=stack, lab_image=TEST_IMAGE, activity_interval=LAB_ACTIVITY_INTERVAL
    )


@dataclass
class Cluster:
    stack: str  # the stack's name; also its network, the users' services' prefix, ...
    network: str
    manager: EngineNode
    workers: list[EngineNode]
    registry: str = ""
    image: str = ""  # the single-user image, as the nodes pull it from the registry
    password: str = ""
    extra_nodes: list[EngineNode] = field(default_factory=list)

    @property
    def hub_image(self) -> str:
        return hub_image(self.stack)

    @property
    def url(self) -> str:
        return f"http://{self.manager.ip}:{HTTP_PORT}"

    @property
    def engine_args(self) -> list[str]:
        return ["--insecure-registry", f"{self.stack}-manager:5000"]

    # -- building it ---------------------------------------------------------------------

    @classmethod
    def create(cls, stack: str, workdir: Path) -> Cluster:
        network = make_network(stack, public=True)  # nodes on public addresses
        args = ["--insecure-registry", f"{stack}-manager:5000"]
        manager = start_first_node(stack, network, f"{stack}-manager", args, workdir)
        cluster = cls(stack, network, manager, [])
        try:
            for name, gpu in (("w1", ["--node-generic-resource", FAKE_GPU]), ("w2", [])):
                node = EngineNode.start(
                    f"{stack}-{name}", network, [*args, *gpu], images=[cluster.hub_image]
                )
                cluster.workers.append(node)
            cluster._form_swarm()
            cluster._serve_image()
            cluster._deploy(workdir)
        except BaseException:
            cluster.remove()
            raise
        return cluster

    def _form_swarm(self) -> None:
        self._init_swarm()
        for worker in self.workers:
            self.join(worker)
        self.manager.docker("node", "update", "--label-add", "hubdist.size=large", self.w2.name)

    def _init_swarm(self) -> None:
        # a 1 s heartbeat: Swarm declares a silent node down in seconds (default 5 s)
        self.manager.docker(
            "swarm", "init", "--advertise-addr", self.manager.ip, "--dispatcher-heartbeat", "1s"
        )

    def join(self, node: EngineNode, role: str = "worker") -> None:
        token = self.manager.docker("swarm", "join-token", "-q", role).stdout.strip()
        node.docker("swarm", "join", "--token", token, f"{self.manager.ip}:2377")

    def add_node(self, name: str) -> EngineNode:
        """A new worker joins the swarm (removed again by remove_node): without the
        single-user image, with the hub image its network guard runs from."""
        node = EngineNode.start(
            f"{self.stack}-{name}", self.network, self.engine_args, images=[self.hub_image]
        )
        self.extra_nodes.append(node)
        self.join(node)
        self.wait_for_guard(node)
        self.wait_for_guards_to_know_each_other()
        return node

    def wait_for_guards_to_know_each_other(self, timeout: float = 120) -> None:
        """Until there is one guard per node and each has learned every other node's
        addresses from its guard (the nodes are on public addresses: only that knowledge
        keeps servers from the other nodes). Guards ask each other every sweep (10 s)."""
        nodes = [self.manager, *self.workers, *self.extra_nodes]

        def every_guard_knows_the_others() -> bool:
            done = self.hub_exec("python3", "-c", GUARDS_HEALTH, check=False)
            guards = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
            ids = {g["node_id"] for g in guards}
            # a guard keeps what it learned of a machine that left (test_images' w3): known
            # nodes may be more than those in the swarm now, never fewer
            return len(guards) == len(nodes) and all(
                set(g.get("knows", [])) >= ids - {g["node_id"]} for g in guards
            )

        wait_until(every_guard_knows_the_others, "every guard to know the other nodes", timeout)

    def wait_for_guard(self, node: EngineNode, timeout: float = 180) -> None:
        """Until the stack's network guard runs on ``node`` and the hub finds it among the
        guards (tasks.netguard): before that the hub rightly refuses servers there, and a
        machine that just joined may take longer than a spawn's netguard_wait to get there."""
        guard_service = f"{self.stack}_netguard"

        def guard_address() -> str:
            """The address of node's running guard on the guards network, once it has one."""
            running = self.running_tasks_on(guard_service, node)
            if not running:
                return ""
            task = self.manager.docker("inspect", running[0]["ID"], check=False).stdout
            for attachment in json.loads(task or "[{}]")[0].get("NetworksAttachments") or []:
                if attachment["Network"]["Spec"]["Name"] == f"{self.stack}_guards":
                    return attachment["Addresses"][0].split("/")[0]
            return ""

        address = wait_until(guard_address, f"the network guard on {node.name}", timeout=timeout)
        wait_until(
            lambda: address in self.hub_exec("python3", "-c", GUARDS_FOUND).stdout.split(),
            f"the hub to find {node.name}'s network guard ({address})",
            timeout=timeout,
        )

    def wait_for_anchor(self, node: EngineNode, timeout: float = 120) -> None:
        """Until the stack's anchor task runs on ``node`` (it keeps the node in the users'
        network; after an engine restart Swarm starts it again within seconds)."""
        anchor = f"{self.stack}_anchor"
        wait_until(
            lambda: self.running_tasks_on(anchor, node), f"the anchor on {node.name}", timeout
        )

    def remove_node(self, node: EngineNode) -> None:
        node.remove()
        self.extra_nodes.remove(node)
        self.manager.docker("node", "rm", "--force", node.name, check=False)

    def _serve_image(self) -> None:
        """The stub single-user image goes to the manager's registry, not to the workers."""
        local = f"{self.stack}-stub:1"
        docker("build", "-q", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", local, str(STUB_DIR))
        try:
            self.manager.load_image(local)
        finally:
            docker("image", "rm", local, check=False)
        self.registry = self.manager.start_registry()
        self.image = f"{self.registry}/stub:1"
        self.manager.docker("tag", local, self.image)
        self.manager.docker("push", self.image)
        # w1 and w2 are machines in use for a while: they have it (new ones pull it)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda node: node.docker("pull", "-q", self.image), self.workers))

    def stack_settings(self) -> dict[str, str]:
        """The stack file's variables for this cluster's deployment (config.d copied to
        /stack/config.d on the managers)."""
        return {
            "HUBDIST_TAG": self.stack,
            "HUBDIST_NETWORK": self.stack,
            "HUBDIST_PREFIX": self.stack,
            "HUBDIST_CONFIG_DIR": "/stack/config.d",
            "HUBDIST_HTTP_PORT": str(HTTP_PORT),
            "HUBDIST_SINGLEUSER_IMAGE": self.image,
        }

    def _deploy(self, workdir: Path) -> None:
        """docker stack deploy of the shipped stack file, run on the manager."""
        config_dir = workdir / "config.d"
        config_dir.mkdir()
        config = config_for(self.stack)
        (config_dir / "50-multinode.py").write_text(config)
        self.manager.copy_in(STACK_FILE, "/stack/docker-stack.yml")
        self.manager.copy_in(config_dir, "/stack/config.d")
        for secret in SECRETS:
            self.manager.docker(
                "secret", "create", f"{self.stack}-{secret}", "-", input=secrets.token_hex(32)
            )
        settings = self.stack_settings()
        self.manager.docker(
            "stack",
            "deploy",
            "-c",
            "/stack/docker-stack.yml",
            "--resolve-image",
            "never",
            self.stack,
            env=settings,
        )
        self.wait_healthy()
        self.wait_for_guards_to_know_each_other()
        found = wait_until(
            lambda: "trial password: " in self.hub_logs() and self.hub_logs(),
            "the trial password in the hub's log",
        )
        self.password = found.split("trial password: ", 1)[1].split()[0]

    def wait_healthy(self, timeout: float = 240) -> None:
        def healthy() -> bool:
            try:
                return http_session().get(f"{self.url}/hub/health", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_until(healthy, "the hub to answer through the proxy", timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.hub_logs()[-3000:]}") from None

    def remove(self) -> None:
        """Remove every node (all they ran goes with them), the network and the hub image."""
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(EngineNode.remove, [self.manager, *self.workers, *self.extra_nodes]))
        remove_network(self.network)
        docker("image", "rm", self.hub_image, check=False)

    # -- looking at it ---------------------------------------------------------------------

    @property
    def w1(self) -> EngineNode:
        return self.workers[0]

    @property
    def w2(self) -> EngineNode:
        return self.workers[1]

    def hub_logs(self) -> str:
        return task_logs(f"{self.stack}_hub", self.manager.docker)

    def hub_exec(self, *args: str, check: bool = True):
        """Run a command in the hub's container (where an admin runs hubdist commands)."""
        label = f"label=com.docker.swarm.service.name={self.stack}_hub"
        container = self.manager.docker("ps", "-q", "--filter", label).stdout.split()[0]
        return self.manager.docker("exec", container, *args, check=check)

    def service(self, user: str) -> str:
        """The user's service: the default name template, {prefix}-{username}, escaped."""
        return user_container(user, prefix=self.stack)

    def tasks(self, service: str) -> list[dict]:
        """The service's tasks as `docker service ps` shows them (Node is the host name)."""
        listed = self.manager.docker(
            "service", "ps", "--no-trunc", "--format", "{{json .}}", service, check=False
        )
        return [json.loads(line) for line in listed.stdout.splitlines()]

    def constraints(self, service: str) -> list[str]:
        spec = self.manager.docker("service", "inspect", "-f", "{{json .Spec}}", service).stdout
        return json.loads(spec)["TaskTemplate"]["Placement"].get("Constraints", [])

    def node_state(self, node: EngineNode) -> str:
        """ready, down, ...: what the manager thinks of the node."""
        inspect = ["node", "inspect", "-f", "{{.Status.State}}", node.name]
        return self.manager.docker(*inspect, check=False).stdout.strip()

    def running_tasks_on(self, service: str, node: EngineNode) -> list[dict]:
        """The service's tasks running on ``node``."""
        return [
            t
            for t in self.tasks(service)
            if t["Node"] == node.name and t["CurrentState"].startswith("Running")
        ]

    def running_task_or_none(self, service: str) -> str | None:
        running = [t for t in self.tasks(service) if t["CurrentState"].startswith("Running")]
        return running[0]["ID"] if len(running) == 1 else None

    def running_task(self, service: str) -> dict:
        running = [t for t in self.tasks(service) if t["CurrentState"].startswith("Running")]
        assert len(running) == 1, f"{service}: {self.tasks(service)}"
        return running[0]

    def running_servers(self, node: EngineNode) -> list[str]:
        """Every user's running server containers on that node."""
        listed = node.docker("ps", "-q", "--filter", "label=org.jupyter.hubdist.user", check=False)
        return listed.stdout.split()

    def user_containers(self, node: EngineNode, user: str) -> list[str]:
        """The user's server containers on that node (running or not)."""
        listed = node.docker(
            "ps", "-a", "-q", "--filter", f"label=org.jupyter.hubdist.user={user}", check=False
        )
        return listed.stdout.split()


class User:
    """A person using the hub: logs in through the form, spawns through the REST API."""

    def __init__(self, cluster: Cluster, name: str):
        self.cluster = cluster
        self.name = name
        self.session, response = login(cluster.url, name, cluster.password)
        assert response.status_code == 200, response.text[:500]

    @property
    def service(self) -> str:
        return self.cluster.service(self.name)

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return api(self.session, self.cluster.url, method, path, **kwargs)

    def start(self, options: dict | None = None) -> list[dict]:
        """Start the server and follow its progress to the end; returns the events.

        The request waits up to 10 s for a spawn (JupyterHub's slow_spawn_timeout), and the
        progress stream replays a spawn's events only while it is pending: it is opened
        meanwhile, as the spawn page does.
        """
        response, events = self._spawn(options)
        assert response.status_code in (201, 202), response.text
        return events

    def start_failure(self, options: dict | None = None) -> str:
        """Start a server that must fail; returns what the user is shown."""
        response, events = self._spawn(options)
        if response.status_code >= 400:  # failed within the request
            return response.json()["message"]
        failed = [event for event in events if event.get("failed")]
        assert failed, f"the spawn did not fail: {events}"
        return failed[-1]["message"]

    def _spawn(self, options: dict | None) -> tuple[requests.Response, list[dict]]:
        body = {"user_options": options} if options else None
        with ThreadPoolExecutor(1) as pool:
            posted = pool.submit(self.api, "POST", f"/users/{self.name}/server", json=body)
            wait_until(
                lambda: posted.done() or (self.server() or {}).get("pending") == "spawn",
                "the spawn to be pending",
                interval=0.1,
            )
            events = self.progress()
            return posted.result(), events

    def progress(self) -> list[dict]:
        url = f"{self.cluster.url}/hub/api/users/{self.name}/server/progress"
        events = []
        with self.session.get(url, stream=True, timeout=300) as stream:
            for line in stream.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    # when it arrived (time.monotonic()), for benchmarks' step timings
                    events.append(json.loads(line[5:]) | {"received": time.monotonic()})
        return events

    def server(self) -> dict | None:
        """The hub's model of the server (None: the hub says it is not running)."""
        return self.api("GET", f"/users/{self.name}").json()["servers"].get("")

    def stop(self) -> None:
        response = self.api("DELETE", f"/users/{self.name}/server")
        assert response.status_code in (202, 204), response.text
        wait_until(lambda: self.server() is None, f"{self.name}'s server to stop")

    def get(self, path: str = "") -> requests.Response:
        """A request to the server through the proxy."""
        return self.session.get(f"{self.cluster.url}/user/{self.name}/{path}", timeout=15)

    def put(self, path: str, body: str) -> requests.Response:
        return self.session.put(
            f"{self.cluster.url}/user/{self.name}/{path}", data=body, timeout=15
        )


def start_server(
    cluster: Cluster, name: str, options: dict | None = None
) -> tuple[User, list[dict]]:
    """Log in as ``name``, start the server, and check it answers through the proxy."""
    user = User(cluster, name)
    events = user.start(options)
    model = user.server()
    assert model and model["ready"], f"spawn failed: {events}\n{cluster.hub_logs()[-3000:]}"
    answer = user.get()
    assert answer.status_code == 200 and answer.json()["user"] == name, answer.text[:300]
    return user, events


def messages(events: list[dict]) -> list[str]:
    return [event["message"] for event in events]


def since(started: float) -> str:
    return f"{time.monotonic() - started:.1f} s"
