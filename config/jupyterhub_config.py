"""hubdist's default JupyterHub configuration: the bottom layer, shipped in the hub image.

Read in layers, each able to change what the ones before set (docs/configuration.md):
  1. the defaults below;
  2. the environment: the HUBDIST_* variables of hubdist.config.variables (.env.example), and
     the login's: GITHUB_*, OIDC_* or GITLAB_* (hubdist.auth.environment);
  3. the override folder (config.d/ in the repository, mounted at /etc/hubdist/config.d):
     *.py files run with the same ``c``, and *.yaml, *.yml, *.json files of
     ``Class: {option: value}``, in file-name order;
  4. if no authenticator was chosen by then: local trial mode (hubdist.auth.trial), a random
     shared password shown once in the log. The hub is never open without a password.
Then unknown classes or options and values of the wrong type stop the hub, each named with
the file and line that set it (hubdist.config.layers). `hubdist config show` prints every value
with where it came from; `hubdist config check` checks without starting the hub.
"""

import os
import sys

from hubdist import metrics
from hubdist.auth import trial
from hubdist.config import layers
from hubdist.database import journal
from hubdist.database import settings as database
from hubdist.doctor import access as doctor
from hubdist.services import proxy, secrets
from hubdist.spawners import guard
from hubdist.tls.settings import public_origin

# Every value set through `c` is recorded with the line (or variable) that set it.
c = layers.record(get_config())  # noqa: F821 (provided by JupyterHub when it loads this file)
env = layers.Environment(c)

DATA_DIR = env.value("HUBDIST_DATA_DIR")
OVERRIDE_DIR = env.value("HUBDIST_OVERRIDE_DIR")

# -- the hub: public port 8000 (the proxy), hub API on 8081 for the user servers ----------
# The public URL, served by the proxy service; the hub itself listens only on 8081.
c.JupyterHub.bind_url = "http://:8000"
c.JupyterHub.hub_ip = "0.0.0.0"
# User servers reach the hub by its compose service name on the shared network.
c.JupyterHub.hub_connect_ip = "hub"
# HUBDIST_DATABASE: SQLite in the data volume, or PostgreSQL (docs/operations.md, Database)
with env.setting("HUBDIST_DATABASE") as chosen_database:
    c.JupyterHub.db_url = database.db_url(chosen_database, DATA_DIR)
# Upgrades of the hub image may change the schema; SQLite is backed up before upgrading.
c.JupyterHub.upgrade_db = True
c.JupyterHub.cookie_secret_file = f"{DATA_DIR}/jupyterhub_cookie_secret"
# Users' servers keep running while the hub restarts or is upgraded.
c.JupyterHub.cleanup_servers = False

# -- the proxy: a service of its own (`hubdist proxy`), so hub restarts cut no connection ----
# Its token, CONFIGPROXY_AUTH_TOKEN, is put in the environment by `hubdist start`.
c.ConfigurableHTTPProxy.should_start = False
# compose puts the proxy's API on a network only the hub and the proxy share: proxy-api
c.ConfigurableHTTPProxy.api_url = os.environ.get("HUBDIST_PROXY_API_URL") or "http://proxy:8001"
# A proxy that restarted knows no user routes, and JupyterHub puts them back only at its
# activity check (every 300 s, a pass over every route). This class asks the proxy every 5 s
# (ConfigurableHTTPProxy.check_running_interval) whether its table was rebuilt, one small
# request, and checks the routes at once if so (hubdist/services/proxy_watch.py).
c.JupyterHub.proxy_class = "hubdist.services.proxy_watch.RestartWatchingProxy"
# Used only if an override makes the hub start the proxy itself (should_start = True):
# outside the data volume, and checked, as a stale one could make the hub kill itself.
c.ConfigurableHTTPProxy.pid_file = "/tmp/jupyterhub-proxy.pid"
if not layers.dry_run(c):  # `hubdist config show` reads this file and must change nothing
    proxy.forget_stale_pid_file(c.ConfigurableHTTPProxy.pid_file)

# -- idle culler: stops servers unused for HUBDIST_CULL_TIMEOUT seconds (0: never) ----------
with env.setting("HUBDIST_CULL_TIMEOUT") as cull_timeout:
    if cull_timeout > 0:
        # hubdist.culler: the culler, made to stop on the SIGINT the hub stops services with
        culler_command = [sys.executable, "-m", "hubdist.culler", f"--timeout={cull_timeout}"]
        c.JupyterHub.services = [{"name": "idle-culler", "command": culler_command}]
        c.JupyterHub.load_roles = [
            {
                "name": "idle-culler",
                "description": "Find idle servers and stop them; nothing else",
                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
                "services": ["idle-culler"],
            }
        ]


def add_service(service: dict, role: dict) -> None:
    """A JupyterHub service and its role, next to those set before (and after: config.d)."""
    for option, item in (("services", service), ("load_roles", role)):
        if option in c.JupyterHub:
            getattr(c.JupyterHub, option).append(item)
        else:
            setattr(c.JupyterHub, option, [item])


# -- `hubdist doctor` reads the hub's servers with a token of its own (made by `hubdist start`)
if os.environ.get(secrets.DOCTOR_TOKEN.variable):
    add_service(*doctor.hub_service(os.environ[secrets.DOCTOR_TOKEN.variable]))

# -- metrics: /hub/metrics for Prometheus, only with a token of the read:metrics scope --------
c.JupyterHub.authenticate_prometheus = True  # JupyterHub's default; never open
with env.setting("HUBDIST_METRICS_TOKEN") as metrics_token:
    if metrics_token:
        add_service(*metrics.scrape_service(metrics_token))

# -- user servers: one container each, on the compose network -----------------------------
# HUBDIST_SPAWNER=swarm (set by docker-stack.yml): one Swarm service each, on that network.
c.JupyterHub.spawner_class = "hubdist.DockerSpawner"
c.DockerSpawner.image = "hubdist/singleuser:latest"
c.DockerSpawner.network_name = "hubdist"
c.DockerSpawner.prefix = "hubdist"
# Containers are disposable; each user's files live in a named volume that outlives them:
# PREFIX-user-USER for the default server, PREFIX-user-USER--SERVER for each named one.
c.DockerSpawner.remove = True
c.DockerSpawner.volumes = {"{prefix}-user-{username}{servername_suffix}": "/home/jovyan/work"}

# -- named servers: HUBDIST_NAMED_SERVERS per user besides the default one (0: none) --------
with env.setting("HUBDIST_NAMED_SERVERS") as named_servers:
    c.JupyterHub.allow_named_servers = named_servers > 0
    if named_servers > 0:
        c.JupyterHub.named_server_limit_per_user = named_servers

# -- layer 2, the environment: HUBDIST_SPAWNER, _SINGLEUSER_IMAGE, _ADMIN_USERS, limits, ...
# (hubdist.config.variables), and the login whose client ID and secret are set: GitHub,
# OpenID Connect or GitLab (hubdist.auth.environment, docs/authentication.md)
env.apply()

# HTTPS (docs/https.md): the edge serves the hub on this name; the hub says so in the URLs it
# makes (its API's full_url, servers' JUPYTERHUB_PUBLIC_URL)
with env.setting("HUBDIST_DOMAIN") as domain:
    if domain:
        c.JupyterHub.public_url = public_origin(env.environ) + "/"

# -- fail closed: no server starts unless netguard reports its rules enforced -----------------
# (compose sets HUBDIST_NETGUARD_STATUS_FILE; HUBDIST_NETGUARD=off: no check)
if guard.expected_status_file(os.environ):
    c.DockerSpawner.netguard_status_file = guard.expected_status_file(os.environ)
# (a stack sets HUBDIST_NETGUARD_ADDRESS: each node's guard is asked, docs/swarm.md)
if guard.expected_guard_address(os.environ):
    c.SwarmSpawner.netguard_address = guard.expected_guard_address(os.environ)

# -- layer 3, the overrides: config.d/*.py, *.yaml, *.yml, *.json, in file-name order --------
layers.load_overrides(c, OVERRIDE_DIR)

# -- SQLite's commits do not wait for the disk (HUBDIST_SQLITE_JOURNAL, docs/operations.md):
# after the overrides, which may set a db_url or db_kwargs of their own
with env.setting("HUBDIST_SQLITE_JOURNAL") as sqlite_journal:
    if c.JupyterHub.db_url.startswith("sqlite") and "db_kwargs" not in c.JupyterHub:
        c.JupyterHub.db_kwargs = journal.db_kwargs(sqlite_journal)

# -- unknown classes or options, wrong types: stop here, saying where each was set ------------
layers.check(c)

# -- never silently open: no authenticator chosen means local trial mode ---------------------
if "authenticator_class" not in c.JupyterHub:
    trial.configure(c, DATA_DIR, dry_run=layers.dry_run(c))

layers.finish(c)  # hand `c` over to JupyterHub
