"""Safe defaults for users' containers, each one configurable.

A hub serves many people on one machine: one user's container must not gain privileges,
exhaust the host's processes, swap it to a halt, fill its disk with logs, or reach the
Docker engine (which is root on the host). dockerspawner sets none of this.
"""

from __future__ import annotations

import os

from traitlets import Bool, HasTraits, Integer, List, Unicode

# What an image that starts as root needs to become its user (create the account, own the
# home, switch uid/gid): the hubdist image's start script, docker-stacks' start.sh
ROOT_START_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"]

DOCKER_SOCKETS = {"/var/run/docker.sock", "/run/docker.sock"}


class DockerSocketRefused(ValueError):
    pass


class Hardening(HasTraits):
    """Traits mixed into the container spawners."""

    cap_drop = List(
        Unicode(),
        ["ALL"],
        config=True,
        help="""Linux capabilities removed from users' containers. Default: ["ALL"]: a
        server running as a normal user needs none. Containers that start as root get back
        only what becoming the user needs (CHOWN, DAC_OVERRIDE, FOWNER, SETUID, SETGID).""",
    )
    cap_add = List(
        Unicode(),
        config=True,
        help="""Capabilities to give back, e.g. ["NET_BIND_SERVICE"]. Default: [].""",
    )
    no_new_privileges = Bool(
        True,
        config=True,
        help="""Set no-new-privileges: setuid programs (sudo, su) cannot raise privileges.
        Default: True. Images that rely on sudo (docker-stacks' GRANT_SUDO) need False.""",
    )
    pids_limit = Integer(
        4096,
        config=True,
        help="""Most processes and threads one server may have, so a fork bomb stays
        inside it. Default: 4096. 0 or -1: unlimited.""",
    )
    log_max_size = Unicode(
        "10m",
        config=True,
        help="""Largest log file per container (json-file driver) before it is rotated, so
        a chatty server cannot fill the host's disk. Default: "10m". "" leaves Docker's
        default logging alone.""",
    )
    log_max_files = Integer(
        3,
        config=True,
        help="""Rotated log files kept per container. Default: 3.""",
    )
    allow_docker_socket = Bool(
        False,
        config=True,
        help="""Allow mounting the Docker socket into users' containers. Default: False: it
        would make every user root on the host.""",
    )

    def hardened_host_config(self, binds: dict, starts_as_root: bool) -> dict:
        """HostConfig arguments for these settings (extra_host_config may override)."""
        if not self.allow_docker_socket:
            refuse_docker_socket(binds)
        caps = list(self.cap_add) + (ROOT_START_CAPS if starts_as_root else [])
        config: dict = {"cap_drop": list(self.cap_drop)}
        if caps:
            config["cap_add"] = sorted(set(caps))
        if self.no_new_privileges:
            config["security_opt"] = ["no-new-privileges"]
        if self.pids_limit > 0:
            config["pids_limit"] = self.pids_limit
        if self.log_max_size:
            config["log_config"] = {
                "type": "json-file",
                "config": {"max-size": self.log_max_size, "max-file": str(self.log_max_files)},
            }
        return config


def refuse_docker_socket(binds: dict) -> None:
    for source in binds:
        if source.startswith("/") and (
            os.path.normpath(source) in DOCKER_SOCKETS or source.endswith("/docker.sock")
        ):
            raise DockerSocketRefused(
                f"volume {source} would give the user control of the Docker engine (root on "
                "the host); remove it, or set allow_docker_socket = True if that is intended"
            )


def starts_as_root(user: str | None, image_info: dict | None) -> bool:
    """Whether the container's first process runs as root (unknown image: assume so)."""
    if user is not None:
        return user.split(":")[0] in ("0", "root")
    if image_info is None:
        return True
    image_user = ((image_info.get("Config") or {}).get("User") or "").split(":")[0]
    return image_user in ("", "0", "root")
