"""Names generated in bulk: always valid for Docker and DNS, never shared, paths contained."""

import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from hubdist import names

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")

# what users type: unicode, dots, slashes, "..", mixed case, very long
user_names = st.one_of(
    st.text(min_size=1, max_size=120),
    st.text(alphabet="aAbB.-_/@ü..", min_size=1, max_size=80),
    st.sampled_from([".", "..", "../etc", "a/b", "a/./b", "Foo", "foo", "FOO", "x" * 300]),
)


def container_name(user: str, server: str = "") -> str:
    rendered = f"jupyter-{names.escape(user)}" + (f"--{names.escape(server)}" if server else "")
    return names.object_name(rendered)


@settings(max_examples=400, deadline=None)
@given(user=user_names, server=st.one_of(st.just(""), user_names))
def test_every_name_is_a_valid_docker_and_dns_name(user, server):
    name = container_name(user, server)
    assert DOCKER_NAME.match(name) and DNS_LABEL.match(name), name


@settings(max_examples=400, deadline=None)
@given(a=user_names, b=user_names)
def test_two_different_users_never_share_a_name(a, b):
    if a != b:
        assert container_name(a) != container_name(b)
        assert container_name("u", a) != container_name("u", b)


@settings(max_examples=400, deadline=None)
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
