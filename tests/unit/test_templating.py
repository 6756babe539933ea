"""Templates in volumes, mounts and the extra_* pass-throughs."""

import pytest

from hubdist.names import UnsafePathError
from hubdist.spawners.templating import (
    deep_merge,
    own_volume_names,
    render,
    render_mounts,
    volume_binds,
    volume_owners,
)

NS = {"username": "bob", "raw_username": "Bob", "servername": "", "prefix": "jupyter"}


def fmt(template, spawner):
    return template.format(**NS)


def test_render_formats_nested_strings_and_leaves_non_templates():
    value = {
        "labels": {"owner": "{username}"},
        "cmd": ["echo", "{raw_username}"],
        "n": 3,
        "json": '{"a": 1}',
        "unknown": "{nope}",
    }
    assert render(value, NS) == {
        "labels": {"owner": "bob"},
        "cmd": ["echo", "Bob"],
        "n": 3,
        "json": '{"a": 1}',
        "unknown": "{nope}",
    }


def test_deep_merge_merges_nested_dicts():
    assert deep_merge({"a": {"x": 1}, "b": 1}, {"a": {"y": 2}, "b": 2}) == {
        "a": {"x": 1, "y": 2},
        "b": 2,
    }


def test_volume_binds_modes_and_templates():
    binds = volume_binds(
        {
            "jupyterhub-user-{username}": "/home/jovyan/work",
            "/data/{username}": {"bind": "/data", "mode": "z"},
        },
        {"/srv/shared": "/shared"},
        fmt,
        None,
    )
    assert binds == {
        "jupyterhub-user-bob": {"bind": "/home/jovyan/work", "mode": "rw"},
        "/data/bob": {"bind": "/data", "mode": "z"},
        "/srv/shared": {"bind": "/shared", "mode": "ro"},
    }


def test_volume_binds_refuse_escaping_host_paths():
    def evil(template, spawner):
        return template.format(username="..", raw_username="..")

    with pytest.raises(UnsafePathError):
        volume_binds({"/home/{raw_username}/x": "/x"}, {}, evil, None)


def test_mounts_render_string_fields_only():
    mounts = render_mounts(
        [{"type": "volume", "source": "{prefix}-{username}", "target": "/d", "read_only": True}],
        fmt,
        None,
    )
    assert mounts == [
        {"type": "volume", "source": "jupyter-bob", "target": "/d", "read_only": True}
    ]


class Server:
    def __init__(self, name: str):
        self.name = name


def names_of(volumes, spawner, read_only=None, mounts=()):
    def fmt(template, s):
        return template.format(username="bob", raw_username="Bob", servername=s.name)

    owners = volume_owners(volumes, read_only or {}, list(mounts), fmt, spawner)
    return own_volume_names(owners, named_server=bool(spawner.name))


SETUP = {
    "home-{username}": "/home/jovyan/work",  # the user's
    "scratch-{username}-{servername}": "/scratch",  # one server's
    "datasets": "/data",  # everyone's
    "/srv/homes/{username}": "/home/jovyan/host",  # a host path: never deleted
}


def test_a_deleted_user_loses_only_the_volumes_named_after_them():
    owned = names_of(
        SETUP,
        Server(""),
        read_only={"refs-{raw_username}": "/refs"},
        mounts=[
            {"type": "volume", "source": "cache-{username}", "target": "/c"},
            {"type": "bind", "source": "/tmp/{username}", "target": "/t"},
        ],
    )
    assert owned == ["home-bob", "scratch-bob-", "refs-Bob", "cache-bob"]


def test_a_deleted_named_server_keeps_the_users_volumes():
    assert names_of(SETUP, Server("gpu")) == ["scratch-bob-gpu"]


def test_a_servername_suffix_volume_is_the_users_for_the_default_server_and_a_named_ones_own():
    """The hub image's template: the default server's volume keeps the name and labels it
    had before named servers (its user's, no server), each named server gets its own."""
    volumes = {"home-{username}{servername_suffix}": "/home/jovyan/work"}

    def owners(server: str):
        def fmt(template, s):
            suffix = f"--{s.name}" if s.name else ""
            return template.format(username="bob", servername_suffix=suffix)

        return volume_owners(volumes, {}, [], fmt, Server(server))

    assert owners("") == {"home-bob": (True, False)}
    assert owners("gpu") == {"home-bob--gpu": (True, True)}
    assert own_volume_names(owners("gpu"), named_server=True) == ["home-bob--gpu"]
