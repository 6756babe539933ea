"""In the compose deployment, users' servers are isolated, and no server starts unless the
isolation is enforced.

Two users log in and start servers; from inside one user's real container, the other's
server, the proxy's API and a service on the host (a listener this test opens on the
network's gateway, standing in for a database or the engine) are out of reach, rejected at
once ("No route to host", not a time-out), while the hub's API answers and the user's own
server answers through the proxy. The control: with HUBDIST_NETGUARD=off for the netguard
service (the documented opt-out; the service is recreated with it) the other user's server
and the host's service are reached, while the proxy's API stays out of reach: it listens
only on a network users' servers are not on. The hub, still expecting the guard, starts no
new server meanwhile. Stopping the guard leaves its rules; with bridged traffic no longer
passed to iptables, its health check fails, saying so. The proxy's container runs as an
unprivileged user without capabilities on a read-only root file system. The deployment uses
a network of its own (HUBDIST_NET_PREFIX), so it runs beside other deployments on the
machine.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hubdist.netguard import chain_names

from ..engine.test_network_isolation import REJECTED, probe, serve
from ..hubrig import docker
from .deployment import (
    api,
    deployed,
    hub_xsrf,
    login,
    server_api,
    wait_for_server,
    wait_until,
)

pytestmark = pytest.mark.e2e

USERS = ("ada", "bea")
ATTACKS = ("other_user", "host_service")
BRIDGE_SYSCTL = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
PROXY_UID = "10001"


def jumps_present(dep) -> list[bool]:
    parents = ("DOCKER-USER", "INPUT")
    pairs = zip(parents, chain_names(dep.project), strict=True)
    checks = [["iptables", "-w", "-C", p, "-j", c] for p, c in pairs]
    return [subprocess.run(c, capture_output=True).returncode == 0 for c in checks]


def set_guard(dep, switch: str) -> None:
    """Recreate the netguard service with HUBDIST_NETGUARD=switch, as an administrator would
    after editing .env for it, and wait until its health check says so. The hub keeps
    the setting it was started with (on)."""
    dep.env["HUBDIST_NETGUARD"] = switch
    up = dep.compose("up", "-d", "--no-deps", "netguard", timeout=120)
    assert up.returncode == 0, up.stderr
    want = [switch == "on"] * 2
    wait_until(lambda: jumps_present(dep) == want, what=f"netguard's rules with it {switch}")
    if switch == "on":
        wait_until(lambda: netguard_check(dep)[0] == 0, what="netguard --check passing")
    dep.env["HUBDIST_NETGUARD"] = "on"


def netguard_check(dep) -> tuple[int, str]:
    check = dep.compose("exec", "-T", "netguard", "hubdist", "netguard", "--check")
    return check.returncode, check.stderr


def guard_state(dep) -> str:
    shown = dep.compose("exec", "-T", "hub", "cat", "/run/hubdist-netguard/status.json")
    return json.loads(shown.stdout)["state"] if shown.returncode == 0 else "none"


def spawn_outcome(dep, user: str) -> str:
    """Log in as ``user``, start a server: "started", or the message the user is shown."""
    session, response = login(dep.url, user, dep.password())
    assert response.status_code == 200, response.text[:500]
    spawn = api(session, dep.url, "POST", f"/users/{user}/server")
    if spawn.status_code >= 400:  # failed before the hub answered (slow_spawn_timeout)
        return spawn.json().get("message", spawn.text)
    assert spawn.status_code in (201, 202), spawn.text
    url = f"{dep.url}/hub/api/users/{user}/server/progress"
    headers = {"X-XSRFToken": hub_xsrf(session)}
    with session.get(url, headers=headers, stream=True, timeout=120) as events:
        for line in events.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[5:])
                if event.get("failed"):
                    return event.get("message", "")
                if event.get("ready"):
                    return "started"
    return "no outcome"


def container_facts(dep, service: str) -> dict:
    info = json.loads(docker("inspect", dep.container(service)).stdout)[0]

    def run(*cmd: str, user: str | None = None) -> str:
        as_user = ["-u", user] if user else []
        done = docker("exec", *as_user, dep.container(service), *cmd, check=False)
        return (done.stdout + done.stderr).strip()

    status = dict(
        line.split(":\t", 1) for line in run("cat", "/proc/1/status").splitlines() if ":\t" in line
    )
    token = "/srv/hubdist-shared/proxy_auth_token"
    return {
        "uid": status["Uid"].split()[0],
        "cap_eff": status["CapEff"],
        "cap_bnd": status["CapBnd"],
        "read_only": info["HostConfig"]["ReadonlyRootfs"],
        "write_root": run("sh", "-c", "touch /usr/local/bin/planted && echo written"),
        "token_owner_mode": run("stat", "-c", "%u %a", token),
        "token_by_other_user": run("cat", token, user="12345"),
    }


def upgrade_from_a_root_proxy(dep) -> dict:
    """The shared volume as an older release left it (folder and token root's, as the proxy
    ran as root), then the new proxy and hub started again, as `docker compose up -d`
    after an upgrade does: the proxy cannot read the token until the hub hands it over."""
    image = f"hubdist/hub:{dep.project}"
    volume = f"{dep.project}_shared"
    chown = ["chown", "0:0", "/s", "/s/proxy_auth_token"]
    docker("run", "--rm", "--user", "0", "-v", f"{volume}:/s", "--entrypoint", "", image, *chown)
    assert dep.compose("restart", "proxy").returncode == 0

    def proxy_says(text: str) -> bool:
        return text in dep.logs("proxy")

    wait_until(lambda: proxy_says("cannot read the proxy token"), what="the proxy's complaint")
    assert dep.compose("restart", "hub").returncode == 0

    def proxy_healthy() -> bool:
        return dep.compose("exec", "-T", "proxy", "hubdist", "proxy", "--check").returncode == 0

    wait_until(proxy_healthy, what="the proxy healthy after the hub handed the token over")
    return {
        "hub_said": "is now hubdist-proxy's alone" in dep.logs("hub"),
        "token": container_facts(dep, "proxy")["token_owner_mode"],
    }


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    config_dir = tmp_path_factory.mktemp("config.d")
    # a refused start waits this long for netguard (default 30 s)
    (config_dir / "50-netguard-wait.py").write_text("c.DockerSpawner.netguard_wait = 5\n")
    with deployed("isolation", config_dir) as dep:
        dep.prefix = dep.env["HUBDIST_NET_PREFIX"]
        yield dep


@pytest.fixture(scope="module")
def probes(deployment):
    dep = deployment
    sessions = {}
    for user in USERS:
        session, response = login(dep.url, user, dep.password())
        assert response.status_code == 200, response.text[:500]
        spawn = api(session, dep.url, "POST", f"/users/{user}/server")
        assert spawn.status_code in (201, 202), spawn.text
        wait_for_server(session, dep.url, user, dep.logs)
        sessions[user] = session
    address = {
        user: json.loads(docker("inspect", dep.user_object(user)).stdout)[0]["NetworkSettings"][
            "Networks"
        ][dep.project]["IPAddress"]
        for user in USERS
    }
    proxy_networks = json.loads(docker("inspect", dep.container("proxy")).stdout)[0][
        "NetworkSettings"
    ]["Networks"]
    api_network_ip = proxy_networks[f"{dep.project}-proxy-api"]["IPAddress"]
    listener = serve(f"{dep.prefix}.0.1")  # a service on the host, on the network's gateway
    port = listener.getsockname()[1]
    targets = [
        ("other_user", "tcp", address["bea"], 8888),
        ("host_service", "tcp", f"{dep.prefix}.0.1", port),
        # the proxy's API where it listened before, and where it listens now
        ("proxy_api", "tcp", f"{dep.prefix}.0.3", 8001),
        ("proxy_api_network", "tcp", api_network_ip, 8001),
        ("hub_api", "http", f"{dep.prefix}.0.2", 8081),
    ]
    attacker = dep.user_object("ada")

    def own_server_status() -> int:
        return server_api(sessions["ada"], dep.url, "ada", "GET", "/status").status_code

    previous = BRIDGE_SYSCTL.read_text().strip()
    try:
        results = {"address": address, "proxy": container_facts(dep, "proxy")}
        set_guard(dep, "on")
        results["on"] = probe(attacker, targets)
        results["on_proxy"] = own_server_status()

        # stopped (as for an upgrade): the rules stay
        assert dep.compose("stop", "netguard").returncode == 0
        results["stopped_jumps"] = jumps_present(dep)
        results["stopped"] = probe(attacker, targets[:2])
        assert dep.compose("start", "netguard").returncode == 0

        # bridged traffic escapes iptables: the guard's own container notices
        BRIDGE_SYSCTL.write_text("0\n")
        results["bridge_off_check"] = netguard_check(dep)
        wait_until(lambda: guard_state(dep) == "not-enforced", what="netguard: not-enforced")
        results["bridge_off_state"] = guard_state(dep)
        BRIDGE_SYSCTL.write_text(f"{previous}\n")
        wait_until(lambda: guard_state(dep) == "enforced", what="netguard enforced again")

        set_guard(dep, "off")
        results["off"] = probe(attacker, targets)
        results["off_spawn"] = spawn_outcome(dep, "cyd")
        set_guard(dep, "on")
        results["on_again"] = probe(attacker, targets)
        results["on_again_spawn"] = spawn_outcome(dep, "dee")
        results["upgrade"] = upgrade_from_a_root_proxy(dep)
        print(json.dumps(results, indent=1))
        yield results
    finally:
        BRIDGE_SYSCTL.write_text(f"{previous}\n")
        listener.close()


def test_users_servers_get_addresses_from_the_users_range(deployment, probes):
    for address in probes["address"].values():
        assert address.startswith(f"{deployment.prefix}.") and int(address.split(".")[2]) >= 128


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_is_rejected_with_the_guard_and_works_with_it_off(probes, attack):
    assert probes["on"][attack] == REJECTED, probes["on"]
    assert probes["off"][attack] == "reached", f"control failed: {probes['off']}"
    assert probes["on_again"][attack] == REJECTED, probes["on_again"]


def test_the_proxy_api_is_out_of_reach_of_users_even_with_the_guard_off(probes):
    for phase in ("on", "off", "on_again"):
        for target in ("proxy_api", "proxy_api_network"):
            assert probes[phase][target] != "reached", (phase, probes[phase])
    # nothing listens on the users' network any more (on main: "reached" with the guard off)
    assert probes["off"]["proxy_api"] == "ConnectionRefusedError: Connection refused"


def test_the_hub_api_and_the_own_server_through_the_proxy_stay_reachable(probes):
    assert probes["on"]["hub_api"] == "reached", probes["on"]
    assert probes["on_proxy"] == 200


def test_stopping_netguard_leaves_its_rules_in_force(probes):
    assert probes["stopped_jumps"] == [True, True]
    assert probes["stopped"]["other_user"] == REJECTED, probes["stopped"]


def test_unfiltered_bridged_traffic_fails_the_guards_health_check_saying_why(probes):
    code, said = probes["bridge_off_check"]
    assert code == 1 and "bridge-nf-call-iptables is 0" in said, said
    assert probes["bridge_off_state"] == "not-enforced"


def test_no_server_starts_while_the_guard_is_off_and_the_hub_expects_it(probes):
    assert "HUBDIST_NETGUARD=off" in probes["off_spawn"], probes["off_spawn"]
    assert probes["on_again_spawn"] == "started"


def test_the_proxy_runs_unprivileged_on_a_read_only_root_with_a_private_token(probes):
    facts = probes["proxy"]
    assert facts["uid"] == PROXY_UID, facts
    assert int(facts["cap_eff"], 16) == 0 and int(facts["cap_bnd"], 16) == 0, facts
    assert facts["read_only"] is True
    assert "Read-only file system" in facts["write_root"], facts
    assert facts["token_owner_mode"] == f"{PROXY_UID} 600", facts
    assert "Permission denied" in facts["token_by_other_user"], facts


def test_an_upgrade_from_a_root_proxy_hands_the_token_over_to_the_proxy_user(probes):
    assert probes["upgrade"] == {"hub_said": True, "token": f"{PROXY_UID} 600"}
