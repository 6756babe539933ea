"""JupyterHub's internal SSL: the hub, the proxy and the user's server talk mutual TLS.
DockerSpawner copies the certificates the hub made for a server into its container at
/certs (dockerspawner's place), with no helper container or volume; SwarmSpawner gives
them to the service as Docker secrets, removed with it.
"""

from __future__ import annotations

import requests

from ..hubrig import bridge_gateway, docker, inspect, user_container
from .test_swarm import SWARM, service_name

INTERNAL_SSL = f"""
c.JupyterHub.internal_ssl = True
c.JupyterHub.trusted_alt_names = ["IP:{bridge_gateway()}"]  # how servers reach the hub
# with internal_ssl the proxy's API speaks TLS too
c.ConfigurableHTTPProxy.api_url = c.ConfigurableHTTPProxy.api_url.replace("http:", "https:")
c.DockerSpawner.use_internal_hostname = False  # this hub runs on the host: published port
"""


def test_a_server_works_over_mutual_tls_with_its_certificates_in_its_container(make_hub, username):
    hub = make_hub(INTERNAL_SSL)
    hub.spawn(username)

    answer = hub.user_get(username, "api/status")
    assert answer.status_code == 200, answer.text[:300]

    container = user_container(username)
    env = dict(item.split("=", 1) for item in inspect("container", container)["Config"]["Env"])
    assert env["JUPYTERHUB_SSL_KEYFILE"].startswith("/certs/"), env
    listed = docker("exec", container, "ls", "/certs").stdout.split()
    for key in ("JUPYTERHUB_SSL_KEYFILE", "JUPYTERHUB_SSL_CERTFILE", "JUPYTERHUB_SSL_CLIENT_CA"):
        assert env[key].removeprefix("/certs/") in listed, (key, listed)
    mounts = [m.get("Destination") for m in inspect("container", container)["Mounts"]]
    assert "/certs" not in mounts  # copied into the container, no volume left to clean up

    # the server speaks TLS only: a plain request from the host gets no answer
    port = docker("port", container, "8888/tcp").stdout.split(":")[-1].strip()
    try:
        plain = requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code
    except requests.RequestException:
        plain = None
    assert plain in (None, 400), plain  # refused, or a TLS server's "plain HTTP" error

    hub.stop_server(username)
    assert docker("container", "inspect", container, check=False).returncode != 0


def test_a_read_only_container_fails_the_spawn_saying_why(make_hub, username):
    hub = make_hub(INTERNAL_SSL + 'c.DockerSpawner.extra_host_config = {"read_only": True}\n')

    failure = hub.spawn_failure(username)

    assert "Could not copy the internal-SSL certificates" in failure, failure
    assert "read-only" in failure, failure


def test_a_swarm_service_works_over_mutual_tls_with_its_certificates_as_secrets(
    swarm, make_hub, username
):
    hub = make_hub(SWARM + INTERNAL_SSL)
    hub.spawn(username)

    answer = hub.user_get(username, "api/status")
    assert answer.status_code == 200, answer.text[:300]
    spec = inspect("service", service_name(username))["Spec"]["TaskTemplate"]["ContainerSpec"]
    env = dict(item.split("=", 1) for item in spec["Env"])
    files = {f"/run/secrets/{secret['File']['Name']}" for secret in spec["Secrets"]}
    for key in ("JUPYTERHUB_SSL_KEYFILE", "JUPYTERHUB_SSL_CERTFILE", "JUPYTERHUB_SSL_CLIENT_CA"):
        assert env[key] in files, (key, env[key], files)

    hub.stop_server(username)
    left = docker("secret", "ls", "-q", "--filter", f"label=org.jupyter.hubdist.user={username}")
    assert left.stdout.split() == []  # the certificates go with the service
