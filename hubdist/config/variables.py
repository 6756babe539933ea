"""The environment variables the default configuration reads (``HUBDIST_*``, GitHub login's):
what each sets and its default, the list docs/configuration.md documents."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# -- environment variables ------------------------------------------------------------------

SPAWNERS = {
    "docker": "hubdist.DockerSpawner",
    "swarm": "hubdist.SwarmSpawner",
    "system-user": "hubdist.SystemUserSpawner",
}


def _spawner(value: str) -> str:
    if value not in SPAWNERS:
        raise ValueError(f"HUBDIST_SPAWNER={value!r}: use one of {', '.join(SPAWNERS)}")
    return SPAWNERS[value]


def _names(value: str) -> set[str]:
    # JupyterHub lowercases user names; commas, spaces or both separate them
    return {name.lower() for name in re.split(r"[\s,]+", value) if name}


def _not_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    return number


@dataclass(frozen=True)
class Variable:
    """An environment variable of the hub, as docs/configuration.md lists it."""

    name: str
    default: str  # what the default configuration uses when it is unset or empty
    help: str
    #: the option it sets after the defaults and before config.d, or None when the default
    #: configuration reads it itself (paths, or a value several options derive from)
    target: str | None = None
    #: string to value; None: the target option's own ``from_string``
    parse: Callable[[str], Any] | None = None


VARIABLES = (
    Variable(
        "HUBDIST_SPAWNER",
        "docker",
        "Where users' servers run: docker (a container each), swarm (a Docker Swarm service "
        "each, docs/swarm.md) or system-user (a container running as the host account of the "
        "same name, docs/spawners.md; refused in local trial mode, and never for accounts "
        "below SystemUserSpawner.min_uid).",
        "JupyterHub.spawner_class",
        _spawner,
    ),
    Variable(
        "HUBDIST_SINGLEUSER_IMAGE",
        "hubdist/singleuser:latest",
        "Image of users' servers. hubdist's own images (hubdist/...) are built locally and "
        "never pulled; name a registry (registry.example.org/...) to have it pulled.",
        "DockerSpawner.image",
    ),
    Variable(
        "HUBDIST_NETWORK",
        "hubdist",
        "Docker network of users' servers, shared with the hub and the proxy.",
        "DockerSpawner.network_name",
    ),
    Variable(
        "HUBDIST_PREFIX",
        "hubdist",
        "Start of the names of users' containers (PREFIX-USER) and volumes (PREFIX-user-USER).",
        "DockerSpawner.prefix",
    ),
    Variable(
        "HUBDIST_ADMIN_USERS",
        "",
        "JupyterHub admins, separated by commas or spaces (lowercased, as JupyterHub does).",
        "Authenticator.admin_users",
        _names,
    ),
    Variable(
        "HUBDIST_MEM_LIMIT",
        "",
        "Memory limit of each server, e.g. 2G (none by default).",
        "Spawner.mem_limit",
    ),
    Variable(
        "HUBDIST_CPU_LIMIT",
        "",
        "CPUs each server may use, e.g. 1.5 (none by default).",
        "Spawner.cpu_limit",
    ),
    Variable(
        "HUBDIST_CULL_TIMEOUT",
        "3600",
        "Seconds a server may sit idle before the idle culler stops it; 0 turns it off. "
        "Sets the culler service in JupyterHub.services and its role in load_roles.",
        parse=_not_negative,
    ),
    Variable(
        "HUBDIST_NAMED_SERVERS",
        "3",
        "Named servers each user may run besides the default one, each with its own "
        "container and volume (PREFIX-user-USER--SERVER); 0 turns named servers off. Sets "
        "JupyterHub.allow_named_servers and named_server_limit_per_user.",
        parse=_not_negative,
    ),
    Variable(
        "HUBDIST_DATA_DIR",
        "/srv/jupyterhub",
        "Folder of the hub's state: database, cookie secret, trial passwords (a volume).",
        parse=str,
    ),
    Variable(
        "HUBDIST_OVERRIDE_DIR",
        "/etc/hubdist/config.d",
        "Folder of the overrides (*.py, *.yaml, *.yml, *.json) read after the environment.",
        parse=str,
    ),
)
BY_NAME = {variable.name: variable for variable in VARIABLES}

#: GitHub login (hubdist.auth.github) sets these GitHubOAuthenticator options from these variables
#: (or their *_FILE variants); ``authenticator_class`` is set because GITHUB_CLIENT_ID is.
GITHUB_VARIABLES = {
    "authenticator_class": "GITHUB_CLIENT_ID",
    "client_id": "GITHUB_CLIENT_ID",
    "client_secret": "GITHUB_CLIENT_SECRET",
    "allowed_organizations": "GITHUB_ALLOWED_ORGANIZATIONS",
    "scope": "GITHUB_ALLOWED_ORGANIZATIONS",
    "allowed_users": "GITHUB_ALLOWED_USERS",
    "oauth_callback_url": "OAUTH_CALLBACK_URL",
    "github_url": "GITHUB_URL",
}
