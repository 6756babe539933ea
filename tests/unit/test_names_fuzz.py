"""Names generated in bulk, through the spawners' own naming code: always valid for Docker
and DNS, never shared between two (user, server) pairs, even by names crafted to collide."""

import hashlib
import os
import re
from types import SimpleNamespace

import escapism
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from traitlets.config import Config

from hubdist import DockerSpawner, SwarmSpawner, names

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
VOLUME_TEMPLATE = "{prefix}-user-{username}{servername_suffix}"  # the hub image's default

# what users type: unicode, dots, slashes, "..", mixed case, very long
user_names = st.one_of(
    st.text(min_size=1, max_size=120),
    st.text(alphabet="aAbB.-_/@ü..", min_size=1, max_size=80),
    st.sampled_from([".", "..", "../etc", "a/b", "a/./b", "Foo", "foo", "FOO", "x" * 300]),
)
long_names = st.text(alphabet="abcdefxyz0123456789.@:_", min_size=60, max_size=140)


def spawner(user: str, server: str = "", scheme: str = "default", cls=DockerSpawner):
    c = Config()
    if scheme == "legacy":
        c[cls.__name__].escape = "legacy"
    c[cls.__name__].volumes = {VOLUME_TEMPLATE: "/home/jovyan/work"}
    return cls(
        config=c,
        user=SimpleNamespace(name=user),
        orm_spawner=SimpleNamespace(name=server, server=None),
    )


def container_name(user: str, server: str = "", scheme: str = "default", cls=DockerSpawner):
    return spawner(user, server, scheme, cls).object_name


def volume_name(user: str, scheme: str = "default", server: str = "") -> str:
    (name,) = spawner(user, server, scheme=scheme).volume_binds
    return name


def old_shortened(name: str) -> str:
    """hubdist 0.1's shortening (HEAD-<10 hex> within 63), kept here to craft its twins."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[:52].rstrip('-_.')}-{digest}"


def twin_of(target: str, scheme: str) -> str | None:
    """A user name that renders, as a default server, to exactly ``target``; None if no
    user name can (the point of the new scheme)."""
    tail = target.removeprefix("jupyter-")
    if scheme == "legacy":
        user = escapism.unescape(tail, escape_char="_")
        return user if names.legacy_escape(user) == tail else None
    try:
        user = escapism.unescape(tail, escape_char="-")
    except UnicodeDecodeError:
        return None
    return user if names.escape(user) == tail else None


@settings(max_examples=300, deadline=None)
@given(user=user_names, server=st.one_of(st.just(""), user_names))
def test_every_name_is_a_valid_docker_and_dns_name(user, server):
    for cls in (DockerSpawner, SwarmSpawner):
        name = container_name(user, server, cls=cls)
        assert DOCKER_NAME.match(name) and DNS_LABEL.match(name), name
    volume = volume_name(user)
    assert DOCKER_NAME.match(volume) and len(volume) <= names.VOLUME_NAME_MAX, volume


@settings(max_examples=300, deadline=None)
@given(a=user_names, b=user_names, server_a=user_names, server_b=user_names)
def test_two_different_servers_never_share_a_name(a, b, server_a, server_b):
    pairs = {(a, ""), (b, ""), (a, server_a), (b, server_b), ("u", server_a), ("u", server_b)}
    containers = {container_name(user, server) for user, server in pairs}
    assert len(containers) == len(pairs)
    volumes = {volume_name(user, server=server) for user, server in pairs}
    assert len(volumes) == len(pairs)


@settings(max_examples=300, deadline=None)
@given(a=user_names, b=user_names)
def test_legacy_escaping_gives_users_distinct_names(a, b):
    """Legacy escaping keeps "-", so its named servers can collide at the template level
    ("a" + "--b" vs "a--b"): the ownership check refuses those (tests/engine)."""
    assume(a != b)
    assert container_name(a, scheme="legacy") != container_name(b, scheme="legacy")
    assert volume_name(a, "legacy") != volume_name(b, "legacy")


@pytest.mark.parametrize("scheme", ["default", "legacy"])
@settings(max_examples=300, deadline=None)
@given(victim=long_names)
def test_no_user_can_pick_a_twin_of_a_long_name(scheme, victim):
    """hubdist 0.1 shortened to HEAD-<10 hex>; a short name escaping to that (":" is
    "-3a", so HEAD + ":" + 8 hex twins every name whose digest starts with 3a) took the
    victim's container. Now a twin of the old or the new shortened name gets a name of its
    own."""
    rendered = f"jupyter-{spawner(victim, scheme=scheme).escape(victim)}"
    assume(len(rendered) >= names.DNS_LABEL_MAX)
    new = container_name(victim, scheme=scheme)
    for target in (old_shortened(rendered), new):
        attacker = twin_of(target, scheme)
        if attacker is not None and attacker != victim:
            assert container_name(attacker, scheme=scheme) != new


def test_an_old_style_twin_existed_and_no_longer_collides():
    """The attack of issue 11, with a name whose digest starts with 3a (":")."""
    victim = next(
        v
        for v in (f"{'a' * 60}{i}" for i in range(100_000))
        if hashlib.sha256(f"jupyter-{v}".encode()).hexdigest().startswith("3a")
    )
    attacker = twin_of(old_shortened(f"jupyter-{victim}"), "default")
    assert attacker is not None and ":" in attacker  # the crafted twin of hubdist 0.1
    assert container_name(attacker) != container_name(victim)


def test_ordinary_names_are_used_unchanged():
    assert container_name("alice") == "jupyter-alice"
    assert container_name("alice", "work") == "jupyter-alice--work"
    assert volume_name("alice") == "jupyter-user-alice"
    # volumes are bounded at the engine's 255, not at 63: every volume that exists keeps
    # its exact name
    assert volume_name("a" * 200) == "jupyter-user-" + "a" * 200


def test_names_the_engine_would_refuse_are_shortened_to_its_limit():
    user = ".".join(["x"] * 70) + "y" * 60  # 130 characters that escape to about 340
    volume = volume_name(user)
    assert len(volume) == names.VOLUME_NAME_MAX
    assert volume != volume_name(user + "z")
    assert len(container_name(user)) == names.DNS_LABEL_MAX


@settings(max_examples=300, deadline=None)
@given(user=user_names)
def test_templated_host_paths_stay_inside_their_base(user):
    for template in ("/home/{username}", "/data/users/{username}/work"):
        try:
            path = names.check_host_path(template, template.format(username=user))
        except names.UnsafePathError:
            continue  # refused, which is the other acceptable outcome
        base = template.split("{")[0].rstrip("/")
        assert os.path.normpath(path).startswith(base + "/"), path
        assert not {".", ".."} & set(path.split("/"))
