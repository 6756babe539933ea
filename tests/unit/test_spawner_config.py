"""DockerSpawner's configuration surface, checked without an engine."""

import asyncio
from types import SimpleNamespace

import pytest
from jupyterhub.spawner import SpawnException
from traitlets import TraitError
from traitlets.config import Config

from hubdist import DockerSpawner, names


def make(config: Config | None = None, user: str = "alice", server: str = "", **kw):
    return DockerSpawner(
        config=config or Config(),
        user=SimpleNamespace(name=user),
        orm_spawner=SimpleNamespace(name=server, server=None),
        **kw,
    )


def test_container_defaults_match_dockerspawner():
    s = make()
    assert (s.port, s.ip, s.cmd, s.pull_policy, s.prefix) == (
        8888,
        "0.0.0.0",
        None,
        "ifnotpresent",
        "jupyter",
    )
    assert s.remove is False and s.network_name == "bridge" and s.use_internal_ip is False
    assert s.env_keep == [], "nothing from the hub's environment leaks into containers"


def test_names_for_default_and_named_servers():
    assert make(user="Alice.Smith@x").object_name == "jupyter--41lice-2e-53mith-40x"
    assert make(server="work").object_name == "jupyter-alice--work"


def test_server_names_differing_in_case_get_different_containers():
    assert make(server="Foo").object_name != make(server="foo").object_name


def test_legacy_escape_and_custom_template():
    c = Config()
    c.DockerSpawner.escape = "legacy"
    c.DockerSpawner.name_template = "{prefix}-{username}-{imagename}"
    c.DockerSpawner.image = "registry:5000/lab:4"
    assert make(c, user="x_y").object_name == "jupyter-x_5Fy-registry-5000-lab-4"


def test_escape_must_be_legacy_or_callable():
    c = Config()
    c.DockerSpawner.escape = "fancy"
    with pytest.raises(TraitError, match="legacy"):
        make(c)


@pytest.mark.parametrize(
    "old, new, value",
    [
        ("container_image", "image", "img:1"),
        ("container_prefix", "prefix", "lab"),
        ("container_name_template", "name_template", "{username}-box"),
        ("remove_containers", "remove", True),
        ("container_ip", "host_ip", "0.0.0.0"),
        ("container_port", "port", 9999),
        ("image_whitelist", "allowed_images", ["a", "b"]),
    ],
)
def test_deprecated_aliases_still_work(old, new, value):
    c = Config()
    setattr(c.DockerSpawner, old, value)
    assert getattr(make(c), new) == value


def test_limits_accept_dockerspawner_forms():
    c = Config()
    c.Spawner.mem_limit = "2G"
    c.Spawner.cpu_limit = 1.5
    s = make(c)
    assert s.mem_limit == 2 * 1024**3 and s.cpu_limit == 1.5


async def test_callable_limits_are_resolved_at_each_spawn():
    c = Config()
    c.DockerSpawner.mem_limit = lambda spawner: "1G" if spawner.name == "big" else "256M"
    assert (await _resolved(make(c, server="big"))) == 1024**3
    assert (await _resolved(make(c, server="small"))) == 256 * 1024**2


async def _resolved(spawner):
    await spawner.resolve_limits()
    return spawner._mem_limit


def test_user_image_choice_is_denied_by_default():
    s = make()
    s.user_options = {"image": "evil/miner"}
    with pytest.raises(SpawnException) as info:
        asyncio.run(s.choose_image())
    assert info.value.status_code == 400


def test_user_image_choice_from_allowed_labels():
    c = Config()
    c.DockerSpawner.allowed_images = {"Lab": "img/lab:4", "R": "img/r:1"}
    s = make(c)
    s.user_options = {"image": "R"}
    assert asyncio.run(s.choose_image()) == "img/r:1" and s.image == "img/r:1"


async def test_options_form_is_offered_only_with_a_choice():
    c = Config()
    c.DockerSpawner.allowed_images = ["img/a", "img/b"]
    assert '<select class="form-select" name="image"' in await make(c).get_options_form()
    assert await make().get_options_form() == ""


def test_state_round_trip_keeps_the_container_name():
    s = make()
    s.remember_object("abc123")
    state = s.get_state()
    assert state["object_id"] == "abc123" and state["object_name"] == "jupyter-alice"
    c = Config()
    c.DockerSpawner.prefix = "renamed"
    restored = make(c)
    restored.load_state(state)
    assert restored.object_name == "jupyter-alice", "a running server is still found"
    legacy = make()
    legacy.load_state({"container_id": "old"})
    assert legacy.object_id == "old"


def test_long_user_names_stay_within_dns_limits():
    name = make(user="a.very.long.email.address.for.someone@university.example.edu").object_name
    assert len(name) <= names.DNS_LABEL_MAX


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"imaeg": "x"}, "unknown user option(s): 'imaeg'"),
        ({"image": ["a", "list"]}, "must be a non-empty string"),
        ({"image": ""}, "must be a non-empty string"),
    ],
)
def test_malformed_user_options_are_refused_with_a_400(options, fragment):
    c = Config()
    c.DockerSpawner.allowed_images = "*"
    s = make(c)
    s.user_options = options
    with pytest.raises(SpawnException) as info:
        asyncio.run(s.choose_image())
    assert info.value.status_code == 400 and fragment in info.value.message


def test_options_handled_by_apply_user_options_pass():
    c = Config()
    c.Spawner.apply_user_options = {"cpu": "cpu_limit"}
    s = make(c)
    s.user_options = {"cpu": "2"}
    assert asyncio.run(s.choose_image()) == s.image


def test_every_piece_of_state_is_saved_and_restored_and_nothing_else():
    from hubdist import SwarmSpawner, SystemUserSpawner

    saved = {
        DockerSpawner: {"object_id": "c1", "object_name": "jupyter-alice", "stop_reason": "oom"},
        SwarmSpawner: {"object_id": "s1", "object_name": "jupyter-alice", "pinned_node": "n1"},
        SystemUserSpawner: {"object_id": "c2", "object_name": "jupyter-alice", "user_id": 1001,
                            "group_id": 1001},
    }  # fmt: skip
    for cls, state in saved.items():
        first = cls(
            user=SimpleNamespace(name="alice"), orm_spawner=SimpleNamespace(name="", server=None)
        )
        first.load_state(state)
        assert first.get_state() == state, cls.__name__
        fresh = cls(
            user=SimpleNamespace(name="alice"), orm_spawner=SimpleNamespace(name="", server=None)
        )
        fresh.load_state(state)
        fresh.load_state({})  # loading an empty state resets every piece
        assert fresh.get_state() == {}, cls.__name__


def test_swarm_takes_docker_settings_and_refuses_what_a_service_cannot_do():
    from hubdist import SwarmSpawner

    def swarm(c: Config):
        return SwarmSpawner(config=c, user=SimpleNamespace(name="alice"),
                            orm_spawner=SimpleNamespace(name="", server=None))  # fmt: skip

    c = Config()
    c.DockerSpawner.image = "lab:2"
    c.DockerSpawner.volumes = {"home-{username}": "/home/jovyan/work"}
    c.DockerSpawner.remove = True  # services are always removed: nothing to refuse
    c.SwarmSpawner.image = "lab:3"  # the more specific section wins
    s = swarm(c)
    assert (s.image, list(s.volume_binds)) == ("lab:3", ["home-alice"])
    assert not hasattr(s, "remove") and not hasattr(s, "links")

    for option, value in (("remove", False), ("links", {"db": "db"}), ("pids_limit", 100)):
        bad = Config()
        bad.DockerSpawner[option] = value
        with pytest.raises(TraitError, match=f"SwarmSpawner cannot honour {option} = "):
            swarm(bad)


def test_jupyterhubs_poll_is_a_backstop_every_five_minutes_unless_configured():
    assert make().poll_interval == 300
    c = Config()
    c.Spawner.poll_interval = 30  # a dockerspawner config's JupyterHub setting still holds
    assert make(c).poll_interval == 30


def test_the_engine_is_found_once_and_again_when_its_settings_change():
    s = make()
    first = s.engine
    assert s.engine is first
    s.docker_timeout = 5
    assert s.engine is not first and s.engine.call_timeout == 5
