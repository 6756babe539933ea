"""Deleting a user removes what was made for them; their data only if the policy says so."""

from __future__ import annotations

from hubdist import names

from ..hubrig import PREFIX, docker, exists, user_container

VOLUMES = f"""
c.DockerSpawner.remove = False  # the stopped container stays, so deletion must remove it
c.DockerSpawner.volumes = {{
    "{PREFIX}-home-{{username}}": "/home/jovyan/work",
    "{PREFIX}-scratch-{{username}}-{{servername}}": "/scratch",
    "{PREFIX}-shared": "/shared",
}}
"""


def volume(template: str, user: str, server: str = "") -> str:
    return template.format(
        prefix=PREFIX, username=names.escape(user), servername=names.escape(server)
    )


def delete(hub, path: str, **kwargs) -> None:
    answer = hub.api("DELETE", path, **kwargs)
    assert answer.status_code == 204, answer.text


def test_deleting_a_user_removes_their_container_and_keeps_their_data(make_hub, username):
    hub = make_hub(VOLUMES)
    hub.spawn(username)
    hub.stop_server(username)
    assert exists("container", user_container(username)), "kept while the user exists"

    delete(hub, f"/users/{username}")

    assert not exists("container", user_container(username))
    assert exists("volume", volume("{prefix}-home-{username}", username)), "data kept"
    assert exists("volume", f"{PREFIX}-shared")


def test_with_delete_volumes_a_deleted_user_loses_their_volumes_not_shared_ones(make_hub, username):
    hub = make_hub(VOLUMES + "c.DockerSpawner.delete_volumes = True\n")
    hub.spawn(username, "gpu")
    hub.stop_server(username, "gpu")
    scratch = volume("{prefix}-scratch-{username}-{servername}", username, "gpu")
    home = volume("{prefix}-home-{username}", username)
    assert exists("volume", scratch) and exists("volume", home)

    # a named server deleted: its own volume goes, the user's home stays
    delete(hub, f"/users/{username}/servers/gpu", json={"remove": True})
    assert not exists("container", user_container(username, "gpu"))
    assert not exists("volume", scratch)
    assert exists("volume", home)

    hub.spawn(username)
    hub.stop_server(username)
    delete(hub, f"/users/{username}")  # the user deleted: the home volume goes too
    assert not exists("container", user_container(username))
    assert not exists("volume", home)
    assert exists("volume", f"{PREFIX}-shared"), "shared data is never the user's to lose"
    docker("volume", "rm", f"{PREFIX}-shared", check=False)
