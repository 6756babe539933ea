"""Profiles on a real hub and engine: what each group may start, through the REST API and the
spawn form alike, what reaches the container, and what is refused.

Two groups (course, gpu), three profiles: "lab" for everyone (the default), "course" for
group course (an image version drop-down, a volume, a CPU limit and an environment
variable), "gpu" for group gpu (one GPU). This machine has no NVIDIA runtime, so a GPU
server cannot start here: the test reads the create request the engine received, through a
relay in front of its socket.
"""

from __future__ import annotations

import re

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import Select, WebDriverWait

from ..browser import chromium, screenshots
from ..hubrig import PREFIX, TEST_IMAGE, docker, exists, inspect, user_container
from .relay import DroppingRelay

ALT = f"{PREFIX}-course:2"


def config(socket: str) -> str:
    return f"""
c.DockerSpawner.client_kwargs = {{"base_url": "unix://{socket}"}}
c.DockerSpawner.profiles = [
    {{"name": "lab", "display_name": "JupyterLab", "description": "For everyone",
      "default": True, "mem_limit": "1G", "environment": {{"PROFILE": "lab"}}}},
    {{"name": "course", "display_name": "Course", "description": "Data Science 101",
      "groups": ["course"], "cpu_limit": 0.5, "environment": {{"PROFILE": "course"}},
      "volumes": {{"{{prefix}}-course-{{username}}": "/home/jovyan/course"}},
      "options": {{"version": {{"display_name": "Image version", "choices": {{
          "v1": {{"display_name": "2025 (v1)", "image": "{TEST_IMAGE}"}},
          "v2": {{"display_name": "2026 (v2)", "image": "{ALT}", "default": True}},
      }}}}}}}},
    {{"name": "gpu", "display_name": "GPU", "description": "One NVIDIA GPU",
      "groups": ["gpu"], "gpus": 1, "mem_limit": "4G"}},
]
c.JupyterHub.load_roles.append(
    {{"name": "grouper", "scopes": ["admin:groups"], "services": ["tester"]}}
)
"""


@pytest.fixture
def hub(make_hub, tmp_path):
    docker("tag", TEST_IMAGE, ALT)
    relay = DroppingRelay(tmp_path / "engine.sock")
    hub = make_hub(config(str(tmp_path / "engine.sock")))
    hub.relay = relay
    yield hub
    relay.close()
    docker("rmi", ALT, check=False)


def join(hub, group: str, user: str) -> None:
    hub.ensure_user(user)
    r = hub.api("POST", f"/groups/{group}", json={"users": [user]})
    if r.status_code == 409:  # the group exists: add the user
        r = hub.api("POST", f"/groups/{group}/users", json={"users": [user]})
    assert r.status_code in (200, 201), r.text


def env_of(container: str) -> dict[str, str]:
    items = inspect("container", container)["Config"]["Env"]
    return dict(item.partition("=")[::2] for item in items)


def test_each_group_starts_what_its_profiles_allow_and_nothing_else(hub, username):
    join(hub, "course", username)
    container = user_container(username)

    hub.spawn(username, options={"profile": "course"})  # the option's default: v2
    info = inspect("container", container)
    assert info["Config"]["Image"] == ALT
    assert info["HostConfig"]["CpuQuota"] / info["HostConfig"]["CpuPeriod"] == 0.5
    assert info["HostConfig"]["Memory"] == 0
    assert env_of(container)["PROFILE"] == "course"
    mounts = {m["Destination"]: m.get("Name") for m in info["Mounts"]}
    assert mounts["/home/jovyan/course"] == f"{PREFIX}-course-{username}"
    hub.stop_server(username)

    # a profile change between two starts: nothing of the last one stays
    hub.spawn(username, options={"profile": "lab"})
    info = inspect("container", container)
    assert info["Config"]["Image"] == TEST_IMAGE
    assert info["HostConfig"]["Memory"] == 1024**3 and not info["HostConfig"]["CpuQuota"]
    assert env_of(container)["PROFILE"] == "lab"
    assert "/home/jovyan/course" not in {m["Destination"] for m in info["Mounts"]}
    hub.stop_server(username)

    refused = {
        "gpu": {"profile": "gpu"},  # another group's
        "nope": {"profile": "nope"},
        "'image'": {"profile": "lab", "image": "busybox"},
        "'v9'": {"profile": "course", "version": "v9"},
        "'mem_limit'": {"profile": "course", "mem_limit": "100G"},
    }
    for named, options in refused.items():
        r = hub.request_spawn(username, options=options)
        assert r.status_code == 400, (options, r.status_code, r.text)
        assert named in r.json()["message"], r.json()
        assert not exists("container", container)


def test_a_gpu_profile_asks_the_engine_for_a_gpu(hub, username):
    join(hub, "gpu", username)
    message = hub.spawn_failure(username, options={"profile": "gpu"})
    # no NVIDIA runtime on this machine: the engine says so, and the user reads it
    assert "nvidia" in message, message
    (create,) = [
        body
        for body in hub.relay.requests_to("/containers/create")
        if body.get("Labels", {}).get("org.jupyter.hubdist.user") == username
    ]
    (request,) = create["HostConfig"]["DeviceRequests"]
    assert (request["Driver"], request["Count"], request["Capabilities"]) == (
        "nvidia",
        1,
        [["gpu"]],
    )
    assert create["HostConfig"]["Memory"] == 4 * 1024**3
    assert not exists("container", user_container(username))


KEPT = """
c.DockerSpawner.remove = False
c.DockerSpawner.profiles = [
    {"name": "small", "mem_limit": "512M"},
    {"name": "big", "mem_limit": "2G", "environment": {"BIG": "yes"}},
]
"""


def test_a_kept_container_is_not_started_again_for_another_profile(make_hub, username):
    """With remove = False a stopped container of the same image is started again; one made
    for another profile's limits must not be (else "small" would run with "big"'s memory)."""
    hub = make_hub(KEPT)
    container = user_container(username)
    hub.spawn(username, options={"profile": "big"})
    hub.stop_server(username)
    assert exists("container", container)  # kept
    kept = inspect("container", container)["Id"]

    hub.spawn(username, options={"profile": "small"})
    info = inspect("container", container)
    assert info["Id"] != kept and info["HostConfig"]["Memory"] == 512 * 1024**2
    assert "BIG" not in env_of(container)
    hub.stop_server(username)

    hub.spawn(username, options={"profile": "small"})  # the same choice: reused
    assert inspect("container", container)["Id"] == info["Id"]
    hub.stop_server(username)
    docker("rm", "-f", container)


def login(hub, user: str) -> requests.Session:
    """A browser-like session of ``user`` (the dummy authenticator takes any password)."""
    session = requests.Session()
    session.get(f"{hub.url}/hub/login", timeout=30)
    xsrf = session.cookies.get("_xsrf")
    r = session.post(
        f"{hub.url}/hub/login",
        data={"username": user, "password": "any", "_xsrf": xsrf},
        timeout=30,
        allow_redirects=False,
    )
    assert r.status_code == 302, r.text
    return session


def test_the_spawn_form_offers_a_group_its_profiles_and_is_judged_like_the_api(hub, username):
    join(hub, "course", username)
    session = login(hub, username)
    page = session.get(f"{hub.url}/hub/spawn/{username}", timeout=30).text
    offered = re.findall(r'name="profile" id="[^"]+" value="([^"]+)"', page)
    assert offered == ["lab", "course"], page  # not gpu: another group's

    xsrf = session.cookies.get("_xsrf")
    # a forged form: the gpu profile is refused as it is over the API
    r = session.post(
        f"{hub.url}/hub/spawn/{username}",
        data={"profile": "gpu", "_xsrf": xsrf},
        timeout=60,
    )
    assert "profile &#39;gpu&#39; is not one you may choose" in r.text or (
        "profile 'gpu' is not one you may choose" in r.text
    ), r.text
    assert not exists("container", user_container(username))

    r = session.post(
        f"{hub.url}/hub/spawn/{username}",
        data={"profile": "course", "profile-option-course--version": "v1", "_xsrf": xsrf},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    hub.wait_ready(username)
    assert hub.server_model(username)["user_options"] == {"profile": "course", "version": "v1"}
    assert inspect("container", user_container(username))["Config"]["Image"] == TEST_IMAGE
    hub.stop_server(username)


@pytest.fixture
def browser(tmp_path):
    yield from chromium(tmp_path / "chromium-profile")


def test_the_spawn_form_in_a_browser(hub, username, browser):
    """The form as a user sees it in JupyterHub's page (screenshots in tests/artifacts/):
    this user's profiles as cards, the chosen one's drop-down, and the server it starts."""
    screenshot = screenshots(browser, "profiles")
    join(hub, "course", username)
    wait = WebDriverWait(browser, 30)
    browser.get(f"{hub.url}/hub/login")
    wait.until(seen.visibility_of_element_located((By.ID, "username_input"))).send_keys(username)
    browser.find_element(By.ID, "password_input").send_keys("any")
    browser.find_element(By.ID, "login_submit").click()
    browser.get(f"{hub.url}/hub/spawn/{username}")
    cards = wait.until(seen.visibility_of_all_elements_located((By.CSS_SELECTOR, ".card")))
    labels = [card.find_element(By.CSS_SELECTOR, "label").text for card in cards]
    assert labels == ["JupyterLab", "Course"], labels
    assert browser.find_element(By.ID, "hubdist-profile-lab").is_selected()  # the default
    screenshot("1-form")

    browser.find_element(By.ID, "hubdist-profile-course").click()
    version = Select(browser.find_element(By.NAME, "profile-option-course--version"))
    assert [o.text for o in version.options] == ["2025 (v1)", "2026 (v2)"]
    version.select_by_visible_text("2025 (v1)")
    screenshot("2-course-v1-chosen")
    browser.find_element(By.CSS_SELECTOR, "form#spawn_form [type=submit]").click()
    # the form is posted once the page has moved on (to the pending page or the server)
    wait.until(lambda b: not b.current_url.endswith(f"/hub/spawn/{username}"))

    hub.wait_ready(username)
    assert hub.server_model(username)["user_options"] == {"profile": "course", "version": "v1"}
    assert exists("container", user_container(username)), hub.log_tail()
    info = inspect("container", user_container(username))
    assert info["Config"]["Image"] == TEST_IMAGE
    assert env_of(user_container(username))["PROFILE"] == "course"
    hub.stop_server(username)
