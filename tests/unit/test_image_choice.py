"""An image choice lasts one start of a spawner, whatever reuses the spawner object."""

import asyncio
from types import SimpleNamespace

import pytest
from jupyterhub.spawner import SpawnException
from traitlets.config import Config

from hubdist import DockerSpawner


def spawner(groups: set[str]) -> DockerSpawner:
    c = Config()
    c.DockerSpawner.image = "lab:1"
    c.DockerSpawner.allowed_images = lambda s: (
        {"Lab": "lab:1", "Beta": "beta:1"} if "beta" in groups else {"Lab": "lab:1"}
    )
    return DockerSpawner(
        config=c,
        user=SimpleNamespace(name="alice"),
        orm_spawner=SimpleNamespace(name="", server=None),
    )


def test_a_later_start_without_a_choice_gets_the_configured_image_again():
    """Before the fix choose_image kept the choice in self.image: the second start, with
    no choice and the user no longer in group beta, ran beta:1 again."""
    groups = {"beta"}
    s = spawner(groups)
    s.user_options = {"image": "Beta"}
    assert asyncio.run(s.choose_image()) == "beta:1"

    groups.clear()
    s.user_options = {}
    assert asyncio.run(s.choose_image()) == "lab:1"
    assert s.image == "lab:1"
    s.user_options = {"image": "Beta"}
    with pytest.raises(SpawnException, match="'Beta' is not allowed"):
        asyncio.run(s.choose_image())


def test_an_image_a_hook_set_after_the_choice_is_kept():
    s = spawner({"beta"})
    s.user_options = {"image": "Beta"}
    asyncio.run(s.choose_image())
    s.image = "from-a-hook:1"  # e.g. a pre_spawn_hook of the next start
    s.user_options = {}
    assert asyncio.run(s.choose_image()) == "from-a-hook:1"
