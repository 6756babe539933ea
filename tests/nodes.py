"""Machines for multi-node tests: containers that each run their own Docker engine.

A node is a docker-in-docker container on a bridge network of its own, started with the
flags this kind of VM needs (ENVIRONMENT.md: no --privileged). Its engine keeps its data
in a named volume (overlay2 on the host's file system), not in RAM, and every object is
named after the test run's PREFIX, so tests/conftest.py removes leftovers of a crashed run.

    network = make_network(f"{PREFIX}-net")
    node = EngineNode.start(f"{PREFIX}-node1", network)
    node.load_image("hubdist/base:bookworm")  # or start(..., images=[...]): see image_store
    node.docker("run", "--rm", "hubdist/base:bookworm", "true")
    node.restart_engine(["--debug"])
    node.remove(); remove_network(network)

``python -m tests.nodes`` builds the node image if it is missing (tests/run does).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from .hubrig import BASE_IMAGE, PREFIX, docker

NODE_DIR = Path(__file__).resolve().parent / "nodes"

# what this VM needs for an engine in a container (--privileged fails here)
RUN_FLAGS = (
    "--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    # without it every task on a worker is rejected ("failed to disable IPv6 on br0")
    "-e", "DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1",
    "--init",  # reaps the engine's orphaned shims
)  # fmt: skip
# The node's /var/lib/docker is a named volume, a directory of the host's own file system
# (not the container's overlay root), so overlay2 works inside: images load at their size
ENGINE_FLAGS = ("--storage-driver=overlay2",)
ENGINE_START_TIMEOUT = 90
REGISTRY_CONFIG = "/etc/docker/registry/test-registry.yml"  # tests/nodes/registry.yml
#: where a node started with ``images`` sees the shared image store (image_store)
IMAGE_STORE = "/var/lib/hubdist-image-store"
# A new node's /var/lib/docker from a store: its own copy of the image metadata (the engine
# writes there), and its layers as links into the store (read, never changed: each
# container writes to a layer of its own in the node's volume)
LINK_STORE = (
    "mkdir -p /node/overlay2 && cp -a /store/image /node/"
    " && cp -a /store/overlay2/l /node/overlay2/"
    ' && for layer in /store/overlay2/*; do [ "$layer" = /store/overlay2/l ] ||'
    f' ln -s {IMAGE_STORE}/overlay2/"${{layer##*/}}" /node/overlay2/; done'
)


class NodeError(AssertionError):
    pass


def node_image(base: str = BASE_IMAGE) -> str:
    """The node image's tag: named after its sources and base, so edits make a new one."""
    digest = hashlib.sha256(base.encode())
    for path in sorted(NODE_DIR.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return f"hubdist/test-node:{digest.hexdigest()[:12]}"


def build_node_image(base: str = BASE_IMAGE) -> str:
    """Build the node image unless it is there; returns its tag."""
    tag = node_image(base)
    if docker("image", "inspect", tag, check=False).returncode != 0:
        build = ["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={base}", "-t", tag]
        built = subprocess.run([*build, str(NODE_DIR)], capture_output=True, text=True)
        if built.returncode:
            raise NodeError(f"building the node image failed:\n{built.stdout}{built.stderr}")
    return tag


def make_network(name: str, public: bool = False) -> str:
    """A bridge network for nodes, with an explicit subnet so a node cut off from it can be
    connected again at the same address (``docker network connect --ip`` needs that).

    ``public``: the nodes get addresses outside every private range, as machines that talk
    over public addresses do (a /24 of 198.18.0.0/15, the benchmarking range, which is
    routed nowhere but on this host's bridge), so no guard rule can hold only because
    a node's address happens to be private."""
    if public:
        taken = docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
                       *docker("network", "ls", "-q").stdout.split()).stdout.split()  # fmt: skip
        for third in range(256):
            subnet = f"198.18.{third}.0/24"
            if subnet not in taken:
                made = docker("network", "create", "--subnet", subnet, name, check=False)
                if made.returncode == 0:
                    return name
        raise NodeError(f"no free /24 in 198.18.0.0/16 for the network {name}")
    docker("network", "create", name)  # the engine picks a subnet free on this host...
    subnet = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", name)
    docker("network", "rm", name)
    docker("network", "create", "--subnet", subnet.stdout.strip(), name)  # ...kept explicit
    return name


def remove_network(name: str) -> None:
    docker("network", "rm", name, check=False)


class EngineNode:
    """One machine: a container whose own Docker engine is reached with ``docker()``."""

    def __init__(self, name: str, network: str, dockerd_args: Iterable[str] = ()):
        self.name = name
        self.network = network
        self.dockerd_args = [*ENGINE_FLAGS, *dockerd_args]
        self._ip = ""

    @property
    def volume(self) -> str:
        return f"{self.name}-docker"  # the engine's /var/lib/docker

    @classmethod
    def start(
        cls,
        name: str,
        network: str,
        dockerd_args: Iterable[str] = (),
        env: dict[str, str] | None = None,
        images: Iterable[str] = (),
    ) -> EngineNode:
        """Run the node and wait until its engine answers; with ``images`` (of this
        machine's engine), the engine has them from the start (see image_store)."""
        node = cls(name, network, dockerd_args)
        env_flags = [f"-e={key}={value}" for key, value in (env or {}).items()]
        images, store_flags = tuple(images), []
        if images:
            store = image_store(images)
            docker("volume", "create", node.volume)
            docker("run", "--rm", "-v", f"{store}:/store:ro", "-v", f"{node.volume}:/node",
                   "--entrypoint", "sh", node_image(), "-c", LINK_STORE)  # fmt: skip
            store_flags = ["-v", f"{store}:{IMAGE_STORE}"]
        docker(
            "run", "-d", "--name", name, "--hostname", name, "--network", network,
            *RUN_FLAGS, *env_flags, *store_flags, "-v", f"{node.volume}:/var/lib/docker",
            node_image(), *node.dockerd_args,
        )  # fmt: skip
        try:
            node.wait_until_answering()
        except NodeError:
            node.remove()
            raise
        return node

    @property
    def ip(self) -> str:
        """The node's address on its network (what other nodes and the host reach)."""
        if not self._ip:
            networks = self.inspect()["NetworkSettings"]["Networks"]
            self._ip = networks[self.network]["IPAddress"]
        return self._ip

    def inspect(self) -> dict:
        return json.loads(docker("inspect", self.name).stdout)[0]

    def cut_off(self) -> None:
        """Take the node off its network (a partition): it runs on, and nobody reaches it."""
        address = self.ip  # kept, to come back at the same address
        docker("network", "disconnect", self.network, self.name)
        self._ip = address

    def reconnect(self) -> None:
        docker("network", "connect", "--ip", self.ip, self.network, self.name)

    # -- the node's engine -----------------------------------------------------------------

    def docker(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess:
        """The docker CLI inside the node, talking to the node's engine."""
        flags = ["-i"] if input is not None else []
        flags += [f"-e={key}={value}" for key, value in (env or {}).items()]
        cmd = ["docker", "exec", *flags, self.name, "docker", *args]
        result = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)
        if check and result.returncode:
            raise NodeError(
                f"`docker {' '.join(args)}` on {self.name} exited {result.returncode}:\n"
                f"{result.stderr}{result.stdout}"
            )
        return result

    def load_image(self, image: str, tag: str = "") -> None:
        """Copy an image from this machine's engine into the node's (`docker save | load`),
        under another name too if ``tag`` is given."""
        self._pipe(["docker", "save", image], ["docker", "load", "-q"])
        if tag and tag != image:
            self.docker("tag", image, tag)

    def _pipe(self, host_cmd: list[str], node_cmd: list[str]) -> None:
        sender = subprocess.Popen(host_cmd, stdout=subprocess.PIPE)
        receiver = subprocess.run(
            ["docker", "exec", "-i", self.name, *node_cmd],
            stdin=sender.stdout,
            capture_output=True,
            text=True,
        )
        sender.stdout.close()
        if sender.wait() or receiver.returncode:
            raise NodeError(f"{' '.join(host_cmd)} | {' '.join(node_cmd)}: {receiver.stderr}")

    def copy_in(self, source: Path, target: str) -> None:
        """Copy a file or folder of this machine to ``target`` in the node."""
        docker("exec", self.name, "mkdir", "-p", str(Path(target).parent))
        docker("cp", str(source), f"{self.name}:{target}")

    def start_registry(self) -> str:
        """Serve a registry on this node's port 5000; returns its address for image names.

        Nodes reach it by the node's name (Docker's DNS on the nodes' network); it is not
        127.0.0.0/8 for them, so start them with ``--insecure-registry`` for that address.
        """
        docker("exec", "-d", self.name, "docker-registry", "serve", REGISTRY_CONFIG)
        probe = "import urllib.request as r; r.urlopen('http://127.0.0.1:5000/v2/', timeout=2)"
        deadline = time.monotonic() + 30
        while docker("exec", self.name, "python3", "-c", probe, check=False).returncode:
            if time.monotonic() > deadline:
                raise NodeError(f"the registry on {self.name} did not answer in 30 s")
            time.sleep(0.3)
        return f"{self.name}:5000"

    def wait_until_answering(self, timeout: float = ENGINE_START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.docker("info", check=False, timeout=30).returncode == 0:
                return
            time.sleep(0.5)
        log = docker("exec", self.name, "tail", "-n", "30", "/var/log/dockerd.log", check=False)
        raise NodeError(f"the engine in {self.name} did not answer in {timeout} s:\n{log.stdout}")

    def restart_engine(self, dockerd_args: Iterable[str] = ()) -> None:
        """Stop the node's dockerd and start it again with the node's arguments plus
        ``dockerd_args`` (e.g. ["--live-restore"]); return once it answers. The node itself
        (its network address, its volume) stays as it is."""
        self.stop_engine()
        self.start_engine(dockerd_args)

    def stop_engine(self) -> None:
        """Shut the node's dockerd down as the machine's shutdown does (SIGTERM to its PID:
        it stops its containers, then exits); return once it has."""
        pid = "/var/run/docker.pid"  # dockerd removes it when it has stopped
        stop = f"kill -TERM $(cat {pid}); while [ -e {pid} ]; do sleep 0.2; done"
        docker("exec", self.name, "sh", "-c", stop)

    def start_engine(self, dockerd_args: Iterable[str] = ()) -> None:
        args = " ".join([*self.dockerd_args, *dockerd_args])
        start = f"exec dockerd {args} >>/var/log/dockerd.log 2>&1"
        docker("exec", "-d", self.name, "sh", "-c", start)
        self.wait_until_answering()

    def remove(self) -> None:
        """Remove the node and its engine's data; nothing of it is left."""
        docker("rm", "-f", self.name, check=False)
        docker("volume", "rm", "-f", self.volume, check=False)


_stores: dict[tuple[str, ...], str] = {}
_stores_lock = threading.Lock()


def image_store(images: Iterable[str]) -> str:
    """A volume holding ``images`` as a node's engine stores them, made once per test run
    for each set of images: a throwaway node loads them and its store is kept.

    Loading the hub image into a node takes 20-40 s here (the engine unpacks 24,000 files);
    a node started from the store has them in about a second. Nodes share the store's
    layers, which an engine only reads (it marks each one used, with an empty file), so no
    node sees another's containers or files. Removed with the run's other objects
    (tests/conftest.py), after the nodes using it."""
    images = tuple(images)
    wanted = tuple(sorted(f"{image}@{image_id(image)}" for image in images))
    with _stores_lock:
        if wanted not in _stores:
            key = hashlib.sha256(" ".join(wanted).encode()).hexdigest()[:12]
            maker = EngineNode.start(f"{PREFIX}-images-{key}", "bridge")
            try:
                for image in images:
                    maker.load_image(image)
                maker.stop_engine()
            except BaseException:
                maker.remove()
                raise
            docker("rm", "-f", maker.name)  # its volume stays: the store
            _stores[wanted] = maker.volume
        return _stores[wanted]


def image_id(image: str) -> str:
    return docker("image", "inspect", "-f", "{{.Id}}", image).stdout.strip()


if __name__ == "__main__":
    print(build_node_image(sys.argv[1] if len(sys.argv) > 1 else BASE_IMAGE))
