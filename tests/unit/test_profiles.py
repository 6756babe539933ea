"""Profiles: what a configuration may say, and what a user's choice may and may not do."""

import asyncio
from types import SimpleNamespace

import pytest
from jupyterhub.spawner import SpawnException
from traitlets import TraitError
from traitlets.config import Config

from hubdist import DockerSpawner
from hubdist.spawners import profiles
from hubdist.spawners.failure import SpawnFailed

PROFILES = [
    {"name": "small", "display_name": "Small", "image": "lab:1", "mem_limit": "1G"},
    {
        "name": "big",
        "display_name": "Big <b>",
        "default": True,
        "mem_limit": "8G",
        "environment": {"SIZE": "big"},
        "options": {
            "version": {
                "display_name": "Version",
                "choices": {
                    "v1": {"display_name": "One", "image": "lab:1"},
                    "v2": {"display_name": "Two", "image": "lab:2", "default": True},
                },
            }
        },
    },
    {"name": "gpu", "groups": ["gpu-users"], "gpus": 1, "image": "cuda:1"},
]


def spawner(groups=(), **config) -> DockerSpawner:
    c = Config()
    c.DockerSpawner.image = "configured:1"
    c.DockerSpawner.profiles = PROFILES
    c.DockerSpawner.environment = {"SITE": "x"}
    for key, value in config.items():
        setattr(c.DockerSpawner, key, value)
    user = SimpleNamespace(name="alice", groups=[SimpleNamespace(name=g) for g in groups])
    return DockerSpawner(config=c, user=user, orm_spawner=SimpleNamespace(name="", server=None))


def start(s: DockerSpawner, options: dict) -> str:
    s.user_options = options
    return asyncio.run(s.choose_image())


def test_the_default_profile_and_its_default_choice_apply_without_a_choice():
    s = spawner()
    assert start(s, {}) == "lab:2"
    assert s.mem_limit == 8 * 1024**3
    assert s.environment == {"SITE": "x", "SIZE": "big"}


def test_an_option_choice_overrides_its_profile():
    s = spawner()
    assert start(s, {"profile": "big", "version": "v1"}) == "lab:1"


def test_a_choice_lasts_one_start():
    s = spawner(groups=["gpu-users"])
    assert start(s, {"profile": "gpu"}) == "cuda:1" and s.chosen_gpus == 1
    assert start(s, {"profile": "small"}) == "lab:1"
    assert s.chosen_gpus is None and s.environment == {"SITE": "x"}


@pytest.mark.parametrize(
    "options, message",
    [
        ({"profile": "gpu"}, "profile 'gpu' is not one you may choose; choose one of: small, big"),
        ({"profile": "nope"}, "profile 'nope' is not one you may choose"),
        ({"profile": ["big"]}, "profile ['big'] is not one you may choose"),
        ({"profile": "big", "version": "v3"}, "'v3' is not a choice of 'version'"),
        ({"profile": "small", "version": "v1"}, "unknown user option(s) 'version'"),
        ({"profile": "big", "image": "evil:1"}, "unknown user option(s) 'image'"),
        ({"image": "lab:1"}, "unknown user option(s) 'image'"),
        ({"profile": "big", "mem_limit": "100G"}, "unknown user option(s) 'mem_limit'"),
    ],
)
def test_what_a_user_may_not_choose_is_refused_with_a_400_naming_it(options, message):
    s = spawner()
    with pytest.raises(SpawnException) as refused:
        start(s, options)
    assert refused.value.status_code == 400
    assert message in str(refused.value)
    assert s.image == "configured:1"


def test_a_group_or_a_callable_decides_who_sees_a_profile():
    s = spawner(groups=["gpu-users"])
    assert [p.name for p in asyncio.run(s.visible_profiles())] == ["small", "big", "gpu"]
    hidden = [{"name": "secret", "visible": lambda sp: sp.user.name == "bob"}, PROFILES[0]]
    s = spawner(profiles=hidden)
    assert [p.name for p in asyncio.run(s.visible_profiles())] == ["small"]


def test_profiles_and_allowed_images_together_are_refused():
    s = spawner(allowed_images=["lab:1"])
    with pytest.raises(SpawnFailed, match="profiles and allowed_images are both set: use one"):
        start(s, {})


@pytest.mark.parametrize(
    "config, message",
    [
        ([{"name": "Big"}], "profiles[0] 'Big': name must be 1-63 characters"),
        ([{"name": "a"}, {"name": "a"}], "profile name 'a' is used twice"),
        ([{"name": "a", "imag": "x"}], "profiles[0] 'a': unknown key(s) ['imag']"),
        ([{"name": "a", "gpus": 0}], 'gpus must be a count (1, 2, ...) or "all"'),
        ([{"name": "a", "mem_limit": "lots"}], "mem_limit must be bytes"),
        ([{"name": "a", "default": True}, {"name": "b", "default": True}], "only one"),
        ([{"name": "a", "options": {"v": {"choices": {}}}}], "choices must be a non-empty"),
        ([{"name": "a", "options": {"profile": {"choices": {"x": {}}}}}], "names the profile"),
    ],
)
def test_a_wrong_configuration_is_refused_when_read(config, message):
    with pytest.raises(TraitError) as refused:
        spawner(profiles=config)
    assert message in str(refused.value)


def test_the_form_offers_each_profile_with_its_options_escaped_and_reads_back():
    shown = profiles.visible(profiles.parse(PROFILES), spawner())
    html = profiles.options_form(shown, {"profile": "big", "version": "v1"})
    assert html.count('type="radio" name="profile"') == 2 and "gpu" not in html
    assert "Big &lt;b&gt;" in html and "<b>" not in html
    assert 'value="big" checked' in html and '<option value="v1" selected>' in html
    form = {
        "profile": ["big"],
        "profile-option-big--version": ["v2"],
        "profile-option-small--version": ["v1"],  # another profile's field: not read
    }
    assert profiles.options_from_form(form) == {"profile": "big", "version": "v2"}


def test_the_form_survives_whatever_the_last_api_call_sent():
    """JupyterHub keeps the last start's user_options, refused or not, for the next form."""
    shown = profiles.visible(profiles.parse(PROFILES), spawner())
    html = profiles.options_form(shown, {"profile": ["big"], "version": {"x": 1}})
    assert 'value="big" checked' in html  # the default, as if nothing had been sent
    html = profiles.options_form(shown, {"profile": "big", "version": ["v1"]})
    assert '<option value="v2" selected>' in html


def test_no_form_when_there_is_nothing_to_choose():
    assert profiles.options_form(profiles.parse(PROFILES[:1]), {}) == ""
