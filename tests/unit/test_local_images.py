"""hubdist's own images are built locally and never pulled, whatever the pull policy."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from traitlets.config import Config

from hubdist import DockerSpawner
from hubdist.spawners.base import SpawnFailed
from hubdist.spawners.options import built_locally


@pytest.mark.parametrize(
    "image, local",
    [
        ("hubdist/singleuser:latest", True),
        ("hubdist/singleuser", True),
        ("docker.io/hubdist/singleuser:1.0", True),
        ("index.docker.io/hubdist/hub@sha256:" + "0" * 64, True),
        ("registry.example.org/hubdist/singleuser:latest", False),
        ("127.0.0.1:5000/hubdist/singleuser:latest", False),
        ("localhost/hubdist/singleuser", False),
        ("quay.io/jupyterhub/singleuser:6.1", False),
        ("jupyter/base-notebook", False),
        ("hubdistro/lab:1", False),
    ],
)
def test_which_names_are_hubdists_own(image, local):
    assert built_locally(image) is local


class FakeEngine:
    def __init__(self, present: set[str]):
        self.present = present
        self.pulled: list[str] = []

    async def inspect_image(self, image):
        return {"Id": "sha256:1", "Config": {}} if image in self.present else None

    async def pull(self, image, report):
        self.pulled.append(image)


class Spawner(DockerSpawner):
    fake: FakeEngine

    @property
    def engine(self):
        return self.fake


def ensure(image: str, policy: str, present: set[str]) -> tuple[FakeEngine, object]:
    c = Config()
    c.DockerSpawner.pull_policy = policy
    s = Spawner(
        config=c, user=SimpleNamespace(name="a"), orm_spawner=SimpleNamespace(name="", server=None)
    )
    s.fake = FakeEngine(present)
    try:
        result = asyncio.run(s.ensure_image(image))
    except SpawnFailed as exc:
        result = exc
    return s.fake, result


@pytest.mark.parametrize("policy", ["ifnotpresent", "always"])
def test_a_missing_default_image_is_not_pulled_and_the_error_says_how_to_build_it(policy):
    """Before the fix, "ifnotpresent" and "always" pulled hubdist/singleuser:latest from
    Docker Hub, a namespace that is not ours: whatever was published there would run."""
    engine, result = ensure("hubdist/singleuser:latest", policy, set())
    assert engine.pulled == []
    assert isinstance(result, SpawnFailed)
    assert "docker compose build singleuser" in str(result)
    assert "HUBDIST_SINGLEUSER_IMAGE" in str(result)


def test_always_uses_the_local_build_of_hubdists_image():
    engine, result = ensure("hubdist/singleuser:latest", "always", {"hubdist/singleuser:latest"})
    assert engine.pulled == [] and result["Id"] == "sha256:1"


def test_other_images_are_still_pulled():
    engine, _ = ensure("registry.example.org/lab:1", "ifnotpresent", set())
    assert engine.pulled == ["registry.example.org/lab:1"]
