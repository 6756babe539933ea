"""Every option documents its own default once, and correctly: `--help-all` prints the
trait's default, so no help text writes one by hand, and a computed default is described
(traitlets alone would print a static value that is not the one used)."""

from __future__ import annotations

import re

import pytest

from hubdist import DockerSpawner, SwarmSpawner, SystemUserSpawner
from hubdist.spawners.base import ContainerSpawner, described_default

SPAWNERS = [DockerSpawner, SwarmSpawner, SystemUserSpawner]


def hubdist_members(cls: type) -> list[tuple[str, object]]:
    """(name, value) of everything the hubdist classes in ``cls``'s MRO declare."""
    classes = [k for k in cls.__mro__ if k.__module__.startswith("hubdist.")]
    return [member for klass in classes for member in vars(klass).items()]


@pytest.mark.parametrize("cls", SPAWNERS, ids=lambda c: c.__name__)
def test_help_texts_leave_the_default_to_the_trait(cls):
    written = [
        name
        for name, trait in hubdist_members(cls)
        if getattr(trait, "help", None) and re.search(r"\bDefault:", trait.help)
    ]
    assert not written, f"help texts that write their default by hand: {written}"


@pytest.mark.parametrize("cls", SPAWNERS, ids=lambda c: c.__name__)
def test_every_computed_default_is_described(cls):
    undescribed = [
        name for name, handler in hubdist_members(cls) if type(handler).__name__ == "DefaultHandler"
    ]
    assert not undescribed, f"@default without a description (use described_default): {undescribed}"


def test_swarm_help_shows_the_swarm_defaults():
    text = SwarmSpawner.class_get_help()
    for option, shown in (("pull_policy", "'skip'"), ("network_name", "''"),
                          ("use_internal_ip", "True")):  # fmt: skip
        block = text.split(f"--SwarmSpawner.{option}=", 1)[1].split("--SwarmSpawner.", 1)[0]
        assert f"Default: {shown}" in block, block


def test_a_described_default_shows_its_description():
    text = DockerSpawner.class_get_help()
    block = text.split("--DockerSpawner.host_ip=", 1)[1].split("--DockerSpawner.", 1)[0]
    assert 'Default: the host of a tcp:// DOCKER_HOST, else "127.0.0.1"' in block
    assert isinstance(vars(ContainerSpawner).get("_host_ip_default"), described_default)
