"""Safe defaults for users' containers, each one configurable.

A hub serves many people on one machine: one user's container must not gain privileges,
exhaust the host's processes, swap it to a halt, fill its disk with logs, or reach the
Docker engine (which is root on the host). dockerspawner sets none of this.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

from traitlets import Bool, HasTraits, Integer, List, Unicode

from .failure import SpawnFailed

# What an image that starts as root needs to become its user (create the account, own the
# home, switch uid/gid): the hubdist image's start script, docker-stacks' start.sh
ROOT_START_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"]

# The engines' sockets as an admin would write them. The hub (often in a container) cannot
# resolve the host's symlinks, so a path reaching a socket through some other link is not
# recognised: docs/spawners.md says so.
ENGINE_SOCKETS = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/docker/containerd/containerd.sock",
    "/var/run/docker/containerd/containerd.sock",
)
SOCKET_NAMES = ("docker.sock", "containerd.sock", "containerd.sock.ttrpc")


class DockerSocketRefused(SpawnFailed, ValueError):
    """A mount that would give the user the Docker or containerd engine."""


def _normalized(path: str) -> str:
    return "/" + posixpath.normpath(path).lstrip("/") if path else path


def reaches_engine_socket(path: str) -> bool:
    """True for an engine socket, a folder holding one (``/``, ``/run``, ``/var/run``...),
    or any file named like one (a rootless engine's ``/run/user/1000/docker.sock``)."""
    if not isinstance(path, str) or not path.startswith("/"):
        return False  # a named volume
    path = _normalized(path)
    if path == "/" or posixpath.basename(path) in SOCKET_NAMES:
        return True
    return any(socket == path or socket.startswith(path + "/") for socket in ENGINE_SOCKETS)


def _bind_source(spec: str) -> str:
    return spec.split(":", 1)[0]


# keys whose values are free text, never mounts
NOT_MOUNTS = {"env", "environment", "Env", "labels", "Labels", "command", "args", "Args"}


def host_paths(payload: Any) -> Iterator[str]:
    """Every host path a create payload mounts, wherever it was written: ``binds`` (dict or
    "src:dst" strings), ``mounts`` (Mount dicts in either case, or strings), bind sources,
    a volume driver's ``device`` option, and task templates given through extra kwargs."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in NOT_MOUNTS:
                continue
            if key in ("binds", "Binds"):
                if isinstance(value, dict):
                    yield from (k for k in value if isinstance(k, str))
                elif isinstance(value, list | tuple):
                    yield from (_bind_source(v) for v in value if isinstance(v, str))
            elif key in ("mounts", "Mounts") and isinstance(value, list | tuple):
                yield from (_bind_source(v) for v in value if isinstance(v, str))
            elif key in ("source", "Source", "device") and isinstance(value, str):
                yield value
            yield from host_paths(value)
    elif isinstance(payload, list | tuple):
        for item in payload:
            yield from host_paths(item)


class Hardening(HasTraits):
    """Traits mixed into the container spawners."""

    cap_drop = List(
        Unicode(),
        ["ALL"],
        config=True,
        help="""Linux capabilities removed from users' containers; all by default: a
        server running as a normal user needs none. Containers that start as root get back
        only what becoming the user needs (CHOWN, DAC_OVERRIDE, FOWNER, SETUID, SETGID).""",
    )
    cap_add = List(
        Unicode(),
        config=True,
        help="""Capabilities to give back, e.g. ["NET_BIND_SERVICE"].""",
    )
    log_max_size = Unicode(
        "10m",
        config=True,
        help="""Largest log file per container (json-file driver) before it is rotated, so
        a chatty server cannot fill the host's disk. "" leaves Docker's default logging
        alone.""",
    )
    log_max_files = Integer(
        3,
        config=True,
        help="""Rotated log files kept per container.""",
    )
    allow_docker_socket = Bool(
        False,
        config=True,
        help="""Allow mounting the Docker or containerd socket, or a folder holding one (/,
        /run, /var/run, /run/containerd...), into users' containers, through volumes,
        read_only_volumes, mounts, extra_host_config or extra_create_kwargs. Off by default:
        it would make every user root on the host.""",
    )

    image_starts_as_root = Bool(
        None,
        allow_none=True,
        config=True,
        help="""Whether the image starts as root and switches to the user itself (the
        docker-stacks convention), which needs CHOWN, DAC_OVERRIDE, FOWNER, SETUID and
        SETGID for its start. None (the default): read from the image's USER when the engine
        has the image (inspected once per image name with pull_policy "skip"); an image
        that cannot be inspected (a Swarm manager without it) gets none of them. True: add
        them even when the image cannot be inspected; False: never add them. A container
        user set explicitly (extra_create_kwargs or extra_container_spec "user",
        SystemUserSpawner.run_as_root) decides over this.""",
    )

    def hardened_host_config(self, starts_as_root: bool) -> dict:
        """HostConfig arguments for these settings (extra_host_config may override)."""
        caps = list(self.cap_add) + (ROOT_START_CAPS if starts_as_root else [])
        config: dict = {"cap_drop": list(self.cap_drop)}
        if caps:
            config["cap_add"] = sorted(set(caps))
        if self.log_max_size:
            config["log_config"] = {
                "type": "json-file",
                "config": {"max-size": self.log_max_size, "max-file": str(self.log_max_files)},
            }
        return config

    def refuse_engine_sockets(self, *payloads: Any) -> None:
        """Fail the spawn if the final create payloads mount an engine socket or a folder
        holding one (unless allow_docker_socket)."""
        if self.allow_docker_socket:
            return
        for payload in payloads:
            for source in host_paths(payload):
                if reaches_engine_socket(source):
                    raise DockerSocketRefused(
                        f"The mount of host path {source} would give the user control of the "
                        "Docker engine (root on the host): it is, or holds, the Docker or "
                        "containerd socket. Remove it from volumes, read_only_volumes, "
                        "mounts, extra_host_config or extra_create_kwargs (mount a "
                        "subfolder instead of /, /run or /var/run), or set "
                        "allow_docker_socket = True if giving users the engine is intended."
                    )


class ProcessLimits(HasTraits):
    """What a plain container can set and a Swarm service cannot (Docker API 1.41):
    DockerSpawner only."""

    no_new_privileges = Bool(
        True,
        config=True,
        help="""Set no-new-privileges: setuid programs (sudo, su) cannot raise privileges.
        Images that rely on sudo (docker-stacks' GRANT_SUDO) need False.""",
    )
    pids_limit = Integer(
        4096,
        config=True,
        help="""Most processes and threads one server may have, so a fork bomb stays
        inside it. 0 or -1: unlimited.""",
    )

    def process_limits_host_config(self) -> dict:
        """HostConfig arguments for these settings (extra_host_config may override)."""
        config: dict = {}
        if self.no_new_privileges:
            config["security_opt"] = ["no-new-privileges"]
        if self.pids_limit > 0:
            config["pids_limit"] = self.pids_limit
        return config


def starts_as_root(user: str | None, image_info: dict | None, declared: bool | None) -> bool:
    """Whether the container's first process runs as root and must become the user.

    An explicit container user decides; then the admin's ``image_starts_as_root``; then
    the image's USER when the image could be inspected. An image nobody could look at
    (pull_policy "skip", a Swarm manager without it) is not assumed to start as root: the
    capabilities to switch user are something the admin turns on.
    """
    if user is not None:
        return str(user).split(":")[0] in ("0", "root")
    if declared is not None:
        return declared
    if image_info is None:
        return False
    image_user = ((image_info.get("Config") or {}).get("User") or "").split(":")[0]
    return image_user in ("", "0", "root")
