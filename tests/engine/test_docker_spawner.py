"""DockerSpawner against the real engine, a real hub and a real configurable-http-proxy."""

from __future__ import annotations

from html.parser import HTMLParser

import requests

from ..hubrig import (
    EVERY_PROGRESS_EVENT,
    PREFIX,
    TEST_IMAGE,
    docker,
    exists,
    inspect,
    user_container,
)


def test_spawn_reach_and_stop_through_the_proxy(make_hub, username):
    hub = make_hub(EVERY_PROGRESS_EVENT)
    events = hub.spawn(username)
    messages = [e["message"] for e in events]
    assert any("Creating container" in m for m in messages), messages
    assert any("Waiting for the server" in m for m in messages), messages

    status = hub.user_get(username, "api/status")
    assert status.status_code == 200, status.text
    assert "started" in status.json()

    name = user_container(username)
    info = inspect("container", name)
    assert info["State"]["Running"]
    assert info["Config"]["Labels"]["org.jupyter.hubdist.user"] == username
    assert info["Config"]["Image"] == TEST_IMAGE

    hub.stop_server(username)
    assert not exists("container", name), "remove=True must delete the container on stop"
    assert hub.user_get(username, "api/status", allow_redirects=False).status_code != 200


def test_named_servers_get_their_own_containers(shared_hub, username):
    shared_hub.spawn(username)
    shared_hub.spawn(username, "analysis")
    for server in ("", "analysis"):
        assert shared_hub.user_get(username, "api/status", server=server).status_code == 200
    default, named = user_container(username), user_container(username, "analysis")
    assert inspect("container", default)["Id"] != inspect("container", named)["Id"]
    shared_hub.stop_server(username, "analysis")
    assert exists("container", default) and not exists("container", named)
    shared_hub.stop_server(username)


def test_templated_volume_keeps_files_across_stop_and_start(make_hub, username):
    hub = make_hub(
        'c.DockerSpawner.volumes = {"{prefix}-home-{username}": "/home/jovyan/work"}\n'
        'c.DockerSpawner.read_only_volumes = {"{prefix}-shared": "/srv/shared"}\n'
    )
    hub.spawn(username)
    volume = f"{PREFIX}-home-{username.replace('-', '-2d')}"
    assert exists("volume", volume)
    saved = hub.user_request(
        "PUT",
        username,
        "api/contents/work/notes.txt",
        json={"type": "file", "format": "text", "content": "kept across restarts"},
    )
    assert saved.status_code in (200, 201), saved.text
    mounts = {m["Destination"]: m for m in inspect("container", user_container(username))["Mounts"]}
    assert mounts["/srv/shared"]["RW"] is False
    hub.stop_server(username)

    hub.spawn(username)
    read = hub.user_get(username, "api/contents/work/notes.txt")
    assert read.status_code == 200, read.text
    assert read.json()["content"] == "kept across restarts"
    hub.stop_server(username)


def test_limits_are_enforced_by_the_engine(make_hub, username):
    hub = make_hub(
        'c.Spawner.mem_limit = "512M"\n'
        "c.Spawner.cpu_limit = 1.5\n"
        'c.Spawner.mem_guarantee = "256M"\n'
    )
    hub.spawn(username)
    host = inspect("container", user_container(username))["HostConfig"]
    assert host["Memory"] == 512 * 1024**2
    assert host["CpuQuota"] / host["CpuPeriod"] == 1.5
    assert host["MemoryReservation"] == 256 * 1024**2
    # and the server sees its own limit, as JupyterHub promises
    env = inspect("container", user_container(username))["Config"]["Env"]
    assert f"MEM_LIMIT={512 * 1024**2}" in env
    # the kernel enforces it: the container's own cgroup says 512 MiB
    cgroup = docker(
        "exec", user_container(username), "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null"
        " || cat /sys/fs/cgroup/memory.max",
    ).stdout.strip()  # fmt: skip
    assert cgroup == str(512 * 1024**2)
    hub.stop_server(username)


def test_callable_limits_are_asked_at_every_start_and_hooks_see_the_values_used(
    make_hub, username, tmp_path
):
    """A callable limit is evaluated afresh at each start (dockerspawner: once per spawner);
    a hook that reads spawner.mem_limit / cpu_limit after a start gets the values that
    start used (as in dockerspawner), not the callable."""
    seen = tmp_path / "seen-by-hook.txt"
    hub = make_hub(
        "starts = []\n"
        "def memory(spawner):\n"
        "    starts.append(spawner.name)\n"
        "    return '384M' if spawner.name == 'small' else f'{512 + 128 * len(starts)}M'\n"
        "def cpus(spawner):\n"
        "    return 0.5 * len(starts)\n"
        "c.Spawner.mem_limit = memory\n"
        "c.Spawner.cpu_limit = cpus\n"
        "def note_limits(spawner):\n"
        f"    with open({str(seen)!r}, 'a') as f:\n"
        "        print(spawner.name, spawner.mem_limit, spawner.cpu_limit, file=f)\n"
        "c.Spawner.post_stop_hook = note_limits\n"
    )
    mib = 1024**2

    def host_config(server: str) -> dict:
        return inspect("container", user_container(username, server))["HostConfig"]

    hub.spawn(username, "small")
    assert host_config("small")["Memory"] == 384 * mib
    hub.spawn(username, "big")
    assert host_config("big")["Memory"] == 768 * mib  # the second start: 512 + 2 * 128
    assert host_config("big")["CpuQuota"] == 100_000
    hub.stop_server(username, "big")
    hub.spawn(username, "big")  # the same spawner, started again: asked again
    assert host_config("big")["Memory"] == 896 * mib
    assert host_config("big")["CpuQuota"] == 150_000
    hub.stop_server(username, "big")
    hub.stop_server(username, "small")

    assert seen.read_text().splitlines() == [
        f"big {768 * mib} 1.0",
        f"big {896 * mib} 1.5",
        f"small {384 * mib} 0.5",
    ]


def test_choosing_an_image_is_refused_unless_allowed(shared_hub, username):
    """Regression test for dockerspawner's GHSA-hfgr-h3vc-p6c2: with allowed_images unset,
    a user must not run an image of their choosing."""
    r = shared_hub.request_spawn(username, options={"image": "evil/miner:latest"})
    assert r.status_code == 400 and "not allowed" in r.json()["message"]
    assert not exists("container", user_container(username))
    r = shared_hub.request_spawn(username, options={"imaeg": "typo"})
    assert r.status_code == 400 and "unknown user option(s): 'imaeg'" in r.json()["message"]


def test_allowed_images_select_and_refuse(make_hub, username):
    docker("tag", TEST_IMAGE, f"{PREFIX}-alt:1")
    hub = make_hub(
        f'c.DockerSpawner.allowed_images = {{"Lab": "{TEST_IMAGE}", "Alt": "{PREFIX}-alt:1"}}\n'
    )
    message = hub.spawn_failure(username, options={"image": "evil/miner:latest"})
    assert "not allowed" in message and "Alt, Lab" in message

    hub.spawn(username, options={"image": "Alt"})
    assert inspect("container", user_container(username))["Config"]["Image"] == f"{PREFIX}-alt:1"
    hub.stop_server(username)
    docker("rmi", f"{PREFIX}-alt:1", check=False)


class _SelectParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.selects: list[dict] = []
        self.open_tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "select":
            self.selects.append({"name": attrs.get("name"), "options": [], "selected": None})
        elif tag == "option" and self.selects:
            self.selects[-1]["options"].append(attrs.get("value"))
            if "selected" in attrs:
                self.selects[-1]["selected"] = attrs.get("value")


def test_options_form_is_a_real_select_on_the_spawn_page(make_hub, username):
    hub = make_hub(
        f'c.DockerSpawner.allowed_images = {{"Lab": "{TEST_IMAGE}", "Tiny": "{PREFIX}-tiny:1"}}\n'
    )
    session = requests.Session()
    login = session.get(f"{hub.url}/hub/login")
    xsrf = session.cookies.get("_xsrf")
    assert login.status_code == 200
    r = session.post(
        f"{hub.url}/hub/login",
        data={"username": username, "password": "x", "_xsrf": xsrf},
        allow_redirects=False,
    )
    assert r.status_code == 302, r.text
    page = session.get(f"{hub.url}/hub/spawn")
    assert page.status_code == 200
    assert "['<option" not in page.text, "no Python list repr in the form"
    parser = _SelectParser()
    parser.feed(page.text)
    [select] = [s for s in parser.selects if s["name"] == "image"]
    assert select["options"] == ["Lab", "Tiny"]
    assert select["selected"] == "Lab"


def test_container_exiting_while_starting_fails_fast_with_its_logs(make_hub, username):
    hub = make_hub(
        'c.Spawner.cmd = ["sh", "-c", "echo the-disk-is-full >&2; exit 3"]\n'
        "c.Spawner.start_timeout = 600\n"
    )
    message = hub.spawn_failure(username)
    assert "exit code 3" in message, message
    assert "the-disk-is-full" in message, message
    assert not exists("container", user_container(username)), "failed container is cleaned up"
    # the user can try again (and fails the same way, not with 'already pending')
    assert "exit code 3" in hub.spawn_failure(username)


def test_missing_image_with_pull_never_fails_at_once(make_hub, username):
    hub = make_hub(
        f'c.DockerSpawner.image = "{PREFIX}-absent:1"\nc.DockerSpawner.pull_policy = "never"\n'
    )
    message = hub.spawn_failure(username)
    assert f"{PREFIX}-absent:1" in message and "never" in message, message


def test_published_port_on_all_interfaces(make_hub, username):
    hub = make_hub('c.DockerSpawner.host_ip = "0.0.0.0"\n')
    hub.spawn(username)
    bindings = inspect("container", user_container(username))["HostConfig"]["PortBindings"]
    assert bindings["8888/tcp"][0]["HostIp"] == "0.0.0.0"
    assert hub.user_get(username, "api/status").status_code == 200
    hub.stop_server(username)
