"""A user's image choice lasts one start; every start is checked against allowed_images."""

from __future__ import annotations

from ..hubrig import PREFIX, TEST_IMAGE, docker, exists, inspect, user_container

ALT = f"{PREFIX}-beta:1"

# allowed_images as a callable of the user's groups: only group "beta" may pick Alt
BETA_CONFIG = f"""
def allowed(spawner):
    images = {{"Lab": "{TEST_IMAGE}"}}
    if "beta" in {{group.name for group in spawner.user.groups}}:
        images["Alt"] = "{ALT}"
    return images
c.DockerSpawner.allowed_images = allowed
c.JupyterHub.load_roles.append(
    {{"name": "grouper", "scopes": ["admin:groups"], "services": ["tester"]}}
)
"""


def _spawn_with_empty_options(hub, user: str) -> None:
    """A start whose user_options are {}: a form without the image field, or an API call
    that sends other options only."""
    r = hub.api("POST", hub.server_path(user), json={"user_options": {}})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready(user)


def test_an_image_choice_does_not_outlive_the_permission_to_make_it(make_hub, username):
    """Attack: a member of group beta starts image Alt, is removed from the group, and
    starts again, once re-sending the stored choice and once naming no image. Both starts
    must be judged by allowed_images as it is now. JupyterHub 6.1 makes a new spawner
    object after each stop, so this passed before the fix too; the spawner kept the choice
    in self.image for any later start of the same object, which
    tests/unit/test_image_choice.py shows failing before the fix."""
    docker("tag", TEST_IMAGE, ALT)
    try:
        hub = make_hub(BETA_CONFIG)
        hub.ensure_user(username)
        r = hub.api("POST", "/groups/beta", json={"users": [username]})
        assert r.status_code == 201, r.text

        hub.spawn(username, options={"image": "Alt"})
        assert inspect("container", user_container(username))["Config"]["Image"] == ALT
        hub.stop_server(username)

        r = hub.api("DELETE", "/groups/beta/users", json={"users": [username]})
        assert r.status_code == 200, r.text
        # the stored choice, sent again (no body: JupyterHub reuses the last options)
        message = hub.spawn_failure(username)
        assert "'Alt' is not allowed" in message, message
        assert not exists("container", user_container(username))
        # no choice at all: the configured image, not the one chosen before
        _spawn_with_empty_options(hub, username)
        assert inspect("container", user_container(username))["Config"]["Image"] == TEST_IMAGE
        hub.stop_server(username)
    finally:
        docker("rmi", ALT, check=False)
