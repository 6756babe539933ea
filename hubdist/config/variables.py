"""The environment variables the default configuration reads (``HUBDIST_*``, GitHub login's):
what each sets and its default, the list docs/configuration.md documents."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..database import journal
from ..database import settings as database

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


def _domain(value: str) -> str:
    from ..tls.settings import check_domain

    return check_domain(value)


def _metrics_token(value: str) -> str:
    from ..metrics import scrape_service

    scrape_service(value)  # refused here, naming the variable, if JupyterHub would refuse it
    return value


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
    #: a secret: may instead be read from the file ``<name>_FILE`` names (a Docker secret),
    #: which every user may not read
    from_file: bool = False


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
        "HUBDIST_DOMAIN",
        "",
        "The hub's public name when the edge serves it over HTTPS (docs/https.md), e.g. "
        "hub.example.org: sets JupyterHub.public_url to https://DOMAIN/ (with "
        "HUBDIST_HTTPS_PORT if not 443), and OAuth callbacks default to it. Unset: plain HTTP.",
        parse=_domain,
    ),
    Variable(
        "HUBDIST_HTTPS_PORT",
        "443",
        "The public HTTPS port, with HUBDIST_DOMAIN (the edge publishes it).",
        parse=str,
    ),
    Variable(
        "HUBDIST_METRICS_TOKEN",
        "",
        "A token for Prometheus to read /hub/metrics (JupyterHub's and hubdist's figures, "
        "docs/operations.md): the default configuration makes a service metrics-scraper with "
        "it and a role of that one scope, read:metrics. Unset: no token may read them but "
        "one given that scope otherwise; /hub/metrics is never open without a token. Or "
        "HUBDIST_METRICS_TOKEN_FILE: a file holding it (a Docker secret).",
        parse=_metrics_token,
        from_file=True,
    ),
    Variable(
        "HUBDIST_DATABASE",
        "sqlite",
        "The hub's database: sqlite (a file in the data folder), postgres (the compose "
        "service of that name, which ./hubdist-up starts; its password is made once) or a "
        "URL postgresql://USER@HOST:PORT/DATABASE (password: PGPASSWORD or PGPASSWORD_FILE). "
        "Sets JupyterHub.db_url; docs/operations.md, Database.",
        parse=database.parse,
    ),
    Variable(
        "HUBDIST_SQLITE_JOURNAL",
        "wal",
        "How the SQLite database writes: wal (SQLite's write-ahead log: a commit does not "
        "wait for the disk, which the engine keeps busy while it creates or removes "
        "containers; the last commits before a power cut may be lost, never those before a "
        "crash of the hub) or delete "
        "(SQLite's own default, for a data folder on NFS or another network filesystem, "
        "where wal cannot work). docs/operations.md, Database.",
        parse=journal.parse,
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

#: The logins hubdist.auth.environment configures, by prefix: which option each variable (or
#: its *_FILE variant) sets; ``authenticator_class`` is set because the client ID is.
LOGIN_VARIABLES = {
    "GITHUB": {
        "authenticator_class": "GITHUB_CLIENT_ID",
        "client_id": "GITHUB_CLIENT_ID",
        "client_secret": "GITHUB_CLIENT_SECRET",
        "allowed_organizations": "GITHUB_ALLOWED_ORGANIZATIONS",
        "scope": "GITHUB_ALLOWED_ORGANIZATIONS",
        "allowed_users": "GITHUB_ALLOWED_USERS",
        "oauth_callback_url": "OAUTH_CALLBACK_URL",
        "github_url": "GITHUB_URL",
    },
    "OIDC": {
        "authenticator_class": "OIDC_CLIENT_ID",
        "client_id": "OIDC_CLIENT_ID",
        "client_secret": "OIDC_CLIENT_SECRET",
        "issuer": "OIDC_ISSUER",
        "username_claim": "OIDC_USERNAME_CLAIM",
        "scope": "OIDC_SCOPES",
        "login_service": "OIDC_LOGIN_SERVICE",
        "allowed_users": "OIDC_ALLOWED_USERS",
        "allowed_groups": "OIDC_ALLOWED_GROUPS",
        "admin_groups": "OIDC_ADMIN_GROUPS",
        "manage_groups": "OIDC_GROUPS_CLAIM",
        "auth_state_groups_key": "OIDC_GROUPS_CLAIM",
        "oauth_callback_url": "OAUTH_CALLBACK_URL",
    },
    "GITLAB": {
        "authenticator_class": "GITLAB_CLIENT_ID",
        "client_id": "GITLAB_CLIENT_ID",
        "client_secret": "GITLAB_CLIENT_SECRET",
        "gitlab_url": "GITLAB_URL",
        "allowed_gitlab_groups": "GITLAB_ALLOWED_GROUPS",
        "allowed_project_ids": "GITLAB_ALLOWED_PROJECTS",
        "scope": "GITLAB_ALLOWED_GROUPS",
        "allowed_users": "GITLAB_ALLOWED_USERS",
        "manage_groups": "GITLAB_MANAGE_GROUPS",
        "admin_groups": "GITLAB_ADMIN_GROUPS",
        "oauth_callback_url": "OAUTH_CALLBACK_URL",
    },
}
