"""Attacks on names: no user reuses, stops, removes or mounts another user's container,
service or volume, on the real engine (issue 11, part 1).

On hubdist 0.1 each attack below succeeded: the twin's spawn reused the victim's running
container (and its API token), which JupyterHub then stopped and removed; on Swarm it
removed the victim's service; a volume of that name was mounted whoever it belonged to; a
long user name got a 500 ("file name too long") instead of a server.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from hubdist import names
from hubdist.services import start

from ..hubrig import PREFIX, TEST_IMAGE, docker, exists, inspect, user_container

# Legacy escaping keeps "-", so dockerspawner's own template gives user "v" server "srv"
# and user "v--srv" one name: a collision that escaping cannot prevent, only labels.
LEGACY = 'c.DockerSpawner.escape = "legacy"\n'
HOME = f'c.DockerSpawner.volumes = {{"{PREFIX}-home-{{username}}": "/home/jovyan/work"}}\n'
REFUSED = "is taken by an object that is not this server's"
V010 = "81bc841"  # hubdist 0.1.0, the release the upgrade starts from


def home_volume(user: str) -> str:
    """The user's home volume, written out (the tests' names need no shortening)."""
    return f"{PREFIX}-home-{names.escape(user)}"


def twins(username: str) -> tuple[str, str]:
    """A victim and the user whose default server has the name of the victim's server
    "srv" under legacy escaping (short: a shortened name would have a hash of its own)."""
    victim = username[:10].rstrip("-")
    return victim, f"{victim}--srv"


def labels(kind: str, name: str) -> dict:
    info = inspect(kind, name)
    return (info.get("Spec") or info.get("Config") or info).get("Labels") or {}


# A first start asks the engine about its container's name only if the hub's view of the
# engine knows one of that name; "stale": the view has not heard of the victim's yet.
STALE_VIEW = (
    "from hubdist.engine.containers import ContainerView\n"
    "ContainerView.may_have_name = lambda self, name: False\n"
)


@pytest.mark.parametrize("view", ["current", "stale"])
def test_a_twin_name_cannot_take_over_or_remove_anothers_container(make_hub, username, view):
    hub = make_hub(LEGACY + (STALE_VIEW if view == "stale" else ""))
    victim, attacker = twins(username)
    hub.spawn(victim, "srv")
    container = f"{PREFIX}-{victim}--srv"
    before = inspect("container", container)

    message = hub.spawn_failure(attacker)

    assert REFUSED in message, message
    after = inspect("container", container)
    assert after["Id"] == before["Id"] and after["State"]["Running"], "victim's server untouched"
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert hub.server_model(victim, "srv")["ready"]
    assert hub.user_get(victim, "api/status", "srv").status_code == 200


@pytest.fixture
def swarm_hub(swarm, make_hub):
    return make_hub(
        'c.JupyterHub.spawner_class = "hubdist.SwarmSpawner"\n'
        "c.SwarmSpawner.use_internal_ip = False\n" + LEGACY.replace("Docker", "Swarm")
    )


def test_a_twin_name_cannot_remove_anothers_swarm_service(swarm_hub, username):
    hub = swarm_hub
    victim, attacker = twins(username)
    hub.spawn(victim, "srv")
    service = f"{PREFIX}-{victim}--srv"
    before = inspect("service", service)["ID"]

    message = hub.spawn_failure(attacker)

    assert REFUSED in message, message
    assert inspect("service", service)["ID"] == before, "the victim's service stays"
    assert hub.user_get(victim, "api/status", "srv").status_code == 200
    hub.stop_server(victim, "srv")


def test_a_volume_labelled_as_someone_elses_is_not_mounted(make_hub, username):
    """However a name comes to be shared (an admin's template), the volume's labels decide."""
    volume = home_volume(username)
    docker(
        "volume", "create", volume,
        "--label", f"{names.LABEL}.user=someone-else",
        "--label", f"{names.LABEL}.deployment={PREFIX}",
    )  # fmt: skip
    hub = make_hub(HOME)

    message = hub.spawn_failure(username)

    assert REFUSED in message and volume in message, message
    assert labels("volume", volume)[f"{names.LABEL}.user"] == "someone-else", "untouched"
    assert not exists("container", user_container(username)), "nothing was created"


def test_volumes_are_created_labelled_and_unlabelled_ones_of_older_releases_are_kept(
    make_hub, username
):
    """A volume the engine made on first mount (hubdist 0.1, dockerspawner) carries no
    labels: at its exact name it is this user's and is mounted, not refused or replaced."""
    old_user, new_user = username, f"{username}-new"
    old_volume = home_volume(old_user)
    docker("volume", "create", old_volume)
    docker(
        "run", "--rm", "-v", f"{old_volume}:/home/jovyan/work", "--entrypoint", "sh",
        TEST_IMAGE, "-c", "echo kept > /home/jovyan/work/notes.txt",
    )  # fmt: skip
    created = inspect("volume", old_volume)["CreatedAt"]
    hub = make_hub(HOME)

    hub.spawn(old_user)
    hub.spawn(new_user)

    read = docker("exec", user_container(old_user), "cat", "/home/jovyan/work/notes.txt")
    assert read.stdout.strip() == "kept"
    assert inspect("volume", old_volume)["CreatedAt"] == created, "the same volume"
    assert labels("volume", home_volume(new_user)) == {
        f"{names.LABEL}.managed": "true",
        f"{names.LABEL}.user": new_user,
        f"{names.LABEL}.deployment": PREFIX,
    }


def test_a_long_user_name_gets_a_server_and_a_volume(make_hub, username):
    user = username[:8] + "." * 70 + "x" * 52  # 130 characters, the volume name about 300
    rendered = home_volume(user)
    assert len(rendered) > 255, "longer than the engine accepts"
    hub = make_hub(HOME)

    hub.spawn(user)

    assert hub.user_get(user, "api/status").status_code == 200
    label = f"label={names.LABEL}.user={user}"
    (volume,) = docker("volume", "ls", "-q", "--filter", label).stdout.split()
    assert len(volume) == 255 and volume.startswith(rendered[:200]), volume
    hub.stop_server(user)


def test_two_deployments_with_one_prefix_are_refused_not_merged(make_hub, username):
    prefix = f"{PREFIX}d"
    first = make_hub(f'c.DockerSpawner.prefix = "{prefix}"\nc.DockerSpawner.deployment = "one"\n')
    first.spawn(username)
    second = make_hub(
        f'c.DockerSpawner.prefix = "{prefix}"\nc.DockerSpawner.deployment = "two"\n',
        name="second",
    )

    message = second.spawn_failure(f"{username}-2")

    assert "Another hubdist deployment, 'one', already uses the name prefix" in message, message
    assert f"{prefix}.hubdist-deployment" in message, "says what to remove"
    assert first.user_get(username, "api/status").status_code == 200


def test_servers_and_volumes_of_hubdist_0_1_are_found_after_the_upgrade(
    make_hub, username, tmp_path
):
    """The hub of the first release starts a server; the new code, on the same database,
    finds it running (its container has no deployment label) and keeps its volume."""
    old_code = tmp_path / "hubdist-0.1"
    old_code.mkdir()
    repo = Path(__file__).resolve().parents[2]
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", V010, "hubdist"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(old_code)], input=archive.stdout, check=True)
    hub = make_hub(HOME, start=False, env={"PYTHONPATH": str(old_code)})
    hub.start()
    hub.spawn(username)
    container = inspect("container", user_container(username))
    assert f"{names.LABEL}.deployment" not in container["Config"]["Labels"], "0.1's labels"
    docker("exec", user_container(username), "sh", "-c", "echo mine > ~/work/f.txt")

    hub.stop(signal.SIGKILL)
    hub.env.pop("PYTHONPATH")
    hub.start()

    assert hub.server_model(username)["ready"]
    assert hub.user_get(username, "api/status").status_code == 200
    assert inspect("container", user_container(username))["Id"] == container["Id"]
    hub.stop_server(username)
    hub.spawn(username)  # a fresh container, the same unlabelled volume
    read = docker("exec", user_container(username), "cat", "/home/jovyan/work/f.txt")
    assert read.stdout.strip() == "mine"
    assert labels("container", user_container(username))[f"{names.LABEL}.deployment"] == PREFIX


def test_the_hub_refuses_to_start_on_a_prefix_another_deployment_uses(engine_ready):
    """`hubdist start` (the hub container's entry point) asks the engine before JupyterHub
    runs; the compose file sets HUBDIST_DEPLOYMENT to the project's name."""
    prefix = f"{PREFIX}s"
    first = {"HUBDIST_PREFIX": prefix, "HUBDIST_DEPLOYMENT": "one"}
    second = {"HUBDIST_PREFIX": prefix, "HUBDIST_DEPLOYMENT": "two"}

    assert start.claim_prefix(first) == ""
    assert start.claim_prefix(first) == "", "its own claim again: a restart"
    refused = start.claim_prefix(second)

    assert "Another hubdist deployment, 'one', already uses the name prefix" in refused
    assert labels("volume", f"{prefix}.hubdist-deployment")[f"{names.LABEL}.deployment"] == "one"
