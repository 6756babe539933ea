"""Named servers with the hub image's volume template: each its own container and volume,
stopped and started on its own, its files kept apart from the others'."""

from __future__ import annotations

import requests

from ..hubrig import PREFIX, TOKEN, exists, inspect, user_container

# the hub image's default (config/jupyterhub_config.py), with its named-server limit
CONFIG = """
c.DockerSpawner.volumes = {"{prefix}-user-{username}{servername_suffix}": "/home/jovyan/work"}
c.JupyterHub.named_server_limit_per_user = 2
"""


def contents(hub, user: str, server: str, path: str, method: str = "GET", **kwargs):
    """The Jupyter contents API of one of ``user``'s servers, through the proxy."""
    url = f"{hub.url}/user/{user}/{server + '/' if server else ''}api/contents/{path}"
    headers = {"Authorization": f"token {TOKEN}"}
    return requests.request(method, url, headers=headers, timeout=30, **kwargs)


def write(hub, user: str, server: str, name: str) -> None:
    body = {"type": "file", "format": "text", "content": f"written in {server or 'default'}"}
    r = contents(hub, user, server, f"work/{name}", "PUT", json=body)
    assert r.status_code in (200, 201), r.text


def files(hub, user: str, server: str) -> set[str]:
    r = contents(hub, user, server, "work")
    assert r.status_code == 200, r.text
    return {item["name"] for item in r.json()["content"]}


def volume_of(container: str) -> str:
    (mount,) = [m for m in inspect("container", container)["Mounts"] if m["Type"] == "volume"]
    return mount["Name"]


def test_two_named_servers_stop_and_start_on_their_own_and_keep_their_files_apart(
    make_hub, username
):
    hub = make_hub(CONFIG)
    hub.spawn(username)
    hub.spawn(username, "one")
    hub.spawn(username, "two")
    # the default server keeps the volume name it had before named servers
    assert volume_of(user_container(username)) == f"{PREFIX}-user-{username}"
    assert volume_of(user_container(username, "one")) == f"{PREFIX}-user-{username}--one"
    assert volume_of(user_container(username, "two")) == f"{PREFIX}-user-{username}--two"
    write(hub, username, "", "default.txt")
    write(hub, username, "one", "one.txt")
    write(hub, username, "two", "two.txt")

    # beyond the limit: refused, naming it
    r = hub.request_spawn(username, "three")
    assert r.status_code == 400 and "maximum of 2 named servers" in r.json()["message"], r.text

    hub.stop_server(username, "one")
    assert not exists("container", user_container(username, "one"))
    assert files(hub, username, "two") == {"two.txt"}  # the other one runs on
    assert files(hub, username, "") == {"default.txt"}

    hub.spawn(username, "one")
    assert files(hub, username, "one") == {"one.txt"}  # its own files came back, only its
    hub.stop_server(username, "two")
    assert files(hub, username, "one") == {"one.txt"}
    hub.spawn(username, "two")
    assert files(hub, username, "two") == {"two.txt"}
    for server in ("", "one", "two"):
        hub.stop_server(username, server)
