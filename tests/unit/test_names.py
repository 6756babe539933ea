"""Names: dockerspawner-compatible escaping, no collisions, bounded length, safe paths."""

import re

import pytest

from hubdist import names

DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@pytest.mark.parametrize(
    "raw, escaped",
    [
        ("alice", "alice"),
        ("Alice.Smith@x", "-41lice-2e-53mith-40x"),
        ("user--foo", "user-2d-2dfoo"),
        ("x_y", "x-5fy"),
        ("ümlaut", "-c3-bcmlaut"),
        ("user@email.com", "user-40email-2ecom"),
    ],
)
def test_escape_matches_dockerspawner(raw, escaped):
    assert names.escape(raw) == escaped


def test_legacy_escape_keeps_case():
    assert names.legacy_escape("x_y") == "x_5Fy"
    assert names.legacy_escape("Bob") == "Bob"


def test_case_variants_never_share_a_name():
    assert names.escape("Foo") != names.escape("foo")


def test_image_slug():
    assert names.image_slug("my.registry:5000/team/img:1.2") == "my.registry-5000-team-img-1.2"


def test_long_names_are_shortened_uniquely_and_stably():
    a = names.object_name("jupyter-" + "a" * 80)
    b = names.object_name("jupyter-" + "a" * 79 + "b")
    assert len(a) <= 63 and len(b) <= 63
    assert a != b
    assert a == names.object_name("jupyter-" + "a" * 80)
    assert names.object_name("jupyter-bob") == "jupyter-bob"


@pytest.mark.parametrize(
    "raw", ["-starts-with-dash", "ends-with-dash-", "has space", "ünï", "a" * 200, "../up"]
)
def test_any_rendered_name_becomes_a_valid_docker_and_dns_name(raw):
    name = names.object_name(raw)
    assert DOCKER_NAME.match(name), name
    assert len(name) <= 63 and not name.endswith("-")


def test_host_path_from_template_cannot_leave_its_directory():
    assert names.check_host_path("/home/{raw_username}", "/home/alice") == "/home/alice"
    with pytest.raises(names.UnsafePathError, match="leaves"):
        names.check_host_path("/home/{raw_username}", "/home/../etc")
    with pytest.raises(names.UnsafePathError):
        names.check_host_path("/data/{raw_username}/work", "/data/../../root/work")
    # a named volume is not a path
    assert names.check_host_path("vol-{username}", "vol-..") == "vol-.."
