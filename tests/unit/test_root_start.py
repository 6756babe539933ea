"""Who gets the capabilities to switch user: decided from the image, else by the admin."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from traitlets.config import Config

from hubdist import DockerSpawner
from hubdist.spawners.base import ContainerSpawner
from hubdist.spawners.hardening import starts_as_root

ROOT_IMAGE = {"Config": {"User": ""}}
USER_IMAGE = {"Config": {"User": "1000"}}


@pytest.mark.parametrize(
    "user, info, declared, expected",
    [
        ("0", USER_IMAGE, False, True),  # an explicit container user decides
        ("root:root", None, None, True),
        ("1000:100", ROOT_IMAGE, True, False),
        (None, ROOT_IMAGE, False, False),  # then the admin
        (None, None, True, True),
        (None, ROOT_IMAGE, None, True),  # then the image
        (None, USER_IMAGE, None, False),
        (None, {"Config": {"User": "root:0"}}, None, True),
        (None, None, None, False),  # an image nobody could inspect: no root start
    ],
)
def test_who_starts_as_root(user, info, declared, expected):
    assert starts_as_root(user, info, declared) is expected


class CountingEngine:
    def __init__(self):
        self.inspected: list[str] = []

    async def inspect_image(self, image):
        self.inspected.append(image)
        return USER_IMAGE if image == "present:1" else None


def test_skip_inspects_each_image_once_and_tolerates_a_missing_one(monkeypatch):
    engine = CountingEngine()
    monkeypatch.setattr(ContainerSpawner, "_inspected", {})
    monkeypatch.setattr(DockerSpawner, "engine", property(lambda self: engine))
    c = Config()
    c.DockerSpawner.pull_policy = "skip"

    def ensure(image):
        s = DockerSpawner(
            config=c,
            user=SimpleNamespace(name="a"),
            orm_spawner=SimpleNamespace(name="", server=None),
        )
        return asyncio.run(s.ensure_image(image))

    assert ensure("present:1") == USER_IMAGE
    assert ensure("present:1") == USER_IMAGE
    assert ensure("absent:1") is None
    assert engine.inspected == ["present:1", "absent:1"]
