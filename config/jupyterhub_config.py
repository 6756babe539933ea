"""hubdist's default JupyterHub configuration: the bottom layer, shipped in the hub image.

Read in this order, each step able to change what the one before set:
  1. the defaults below, some taken from HUBDIST_* environment variables (.env.example);
     HUBDIST_DATA_DIR and HUBDIST_OVERRIDE_DIR move the data and override folders;
  2. every *.py file in the override directory (config.d/ in the repository, mounted at
     /etc/hubdist/config.d), in sorted order, run with the same ``c``;
  3. if no authenticator was chosen by then: local trial mode (hubdist.trial), a random
     shared password shown once in the log. The hub is never open without a password.
"""

import os
import re
from pathlib import Path

from hubdist import proxy, trial

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

DATA_DIR = os.environ.get("HUBDIST_DATA_DIR", "/srv/jupyterhub")
OVERRIDE_DIR = os.environ.get("HUBDIST_OVERRIDE_DIR", "/etc/hubdist/config.d")

# -- the hub: public port 8000 (the proxy), hub API on 8081 for the user servers ----------
c.JupyterHub.bind_url = "http://:8000"
c.JupyterHub.hub_ip = "0.0.0.0"
# User servers reach the hub by its compose service name on the shared network.
c.JupyterHub.hub_connect_ip = "hub"
c.JupyterHub.db_url = f"sqlite:///{DATA_DIR}/jupyterhub.sqlite"
# Upgrades of the hub image may change the schema; SQLite is backed up before upgrading.
c.JupyterHub.upgrade_db = True
c.JupyterHub.cookie_secret_file = f"{DATA_DIR}/jupyterhub_cookie_secret"
# Users' servers keep running while the hub restarts or is upgraded.
c.JupyterHub.cleanup_servers = False

# Outside the data volume, and checked: a stale one could make the hub kill itself.
c.ConfigurableHTTPProxy.pid_file = "/tmp/jupyterhub-proxy.pid"
proxy.forget_stale_pid_file(c.ConfigurableHTTPProxy.pid_file)

# -- user servers: one container each, on the compose network -----------------------------
c.JupyterHub.spawner_class = "hubdist.DockerSpawner"
c.DockerSpawner.image = os.environ.get("HUBDIST_SINGLEUSER_IMAGE") or "hubdist/singleuser:latest"
c.DockerSpawner.network_name = os.environ.get("HUBDIST_NETWORK") or "hubdist"
c.DockerSpawner.prefix = os.environ.get("HUBDIST_PREFIX") or "hubdist"
# Containers are disposable; each user's files live in a named volume that outlives them.
c.DockerSpawner.remove = True
c.DockerSpawner.volumes = {"{prefix}-user-{username}": "/home/jovyan/work"}

# -- who is an admin ----------------------------------------------------------------------
admins = {name.lower() for name in re.split(r"[\s,]+", os.environ.get("HUBDIST_ADMIN_USERS", ""))}
admins.discard("")
if admins:
    c.Authenticator.admin_users = admins

# -- overrides: config.d/*.py, in sorted order, with this same `c` -------------------------
override_dir = Path(OVERRIDE_DIR)
for override in sorted(override_dir.glob("*.py")) if override_dir.is_dir() else []:
    # the operator's own Python, run like this file: same `c`, same get_config()
    exec(
        compile(override.read_text(), str(override), "exec"),
        {"c": c, "get_config": get_config, "__file__": str(override)},  # noqa: F821
    )

# -- never silently open: no authenticator chosen means local trial mode ---------------------
if "authenticator_class" not in c.JupyterHub:
    trial.configure(c, DATA_DIR)
