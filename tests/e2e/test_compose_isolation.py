"""In the compose deployment, the netguard service isolates users' servers.

Two users log in and start servers; from inside one user's real container, the other's
server, the proxy's API and a service on the host (a listener this test opens on the
network's gateway, standing in for a database or the engine) are out of reach while the hub's
API answers and the user's own server answers through the proxy. The control: with
HUBDIST_NETGUARD=off (the documented opt-out; the service is recreated with it) every one of
those attacks works, and with it back on they fail again. The deployment uses a network of
its own (HUBDIST_NET_PREFIX), so it runs beside other deployments on the machine.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from hubdist.netguard import chain_names

from ..engine.test_network_isolation import probe, serve
from ..hubrig import docker
from .deployment import api, deployed, login, server_api, wait_for_server, wait_until

pytestmark = pytest.mark.e2e

USERS = ("ada", "bea")
ATTACKS = ("other_user", "proxy_api", "host_service")


def set_guard(dep, switch: str) -> None:
    """Recreate the netguard service with HUBDIST_NETGUARD=switch, as an administrator would
    after editing .env, and wait until its health check says so."""
    dep.env["HUBDIST_NETGUARD"] = switch
    up = dep.compose("up", "-d", "--no-deps", "netguard", timeout=120)
    assert up.returncode == 0, up.stderr
    chains = chain_names(dep.project)

    def jumps_present() -> list[bool]:
        parents = ("DOCKER-USER", "INPUT")
        pairs = zip(parents, chains, strict=True)
        checks = [["iptables", "-w", "-C", p, "-j", c] for p, c in pairs]
        return [subprocess.run(c, capture_output=True).returncode == 0 for c in checks]

    want = [switch == "on"] * 2
    wait_until(lambda: jumps_present() == want, what=f"netguard's rules with it {switch}")
    if switch == "on":
        check = dep.compose("exec", "-T", "netguard", "hubdist", "netguard", "--check")
        assert check.returncode == 0, check.stderr


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    with deployed("isolation", tmp_path_factory.mktemp("config.d")) as dep:
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
    listener = serve(f"{dep.prefix}.0.1")  # a service on the host, on the network's gateway
    port = listener.getsockname()[1]
    targets = [
        ("other_user", "tcp", address["bea"], 8888),
        ("proxy_api", "tcp", f"{dep.prefix}.0.3", 8001),
        ("host_service", "tcp", f"{dep.prefix}.0.1", port),
        ("hub_api", "http", f"{dep.prefix}.0.2", 8081),
    ]
    attacker = dep.user_object("ada")

    def own_server_status() -> int:
        return server_api(sessions["ada"], dep.url, "ada", "GET", "/status").status_code

    try:
        set_guard(dep, "on")
        results = {"on": probe(attacker, targets), "on_proxy": own_server_status()}
        set_guard(dep, "off")
        results["off"] = probe(attacker, targets)
        set_guard(dep, "on")
        results["on_again"] = probe(attacker, targets)
        results["address"] = address
        print(json.dumps(results, indent=1))
        yield results
    finally:
        listener.close()


def test_users_servers_get_addresses_from_the_users_range(deployment, probes):
    for address in probes["address"].values():
        assert address.startswith(f"{deployment.prefix}.") and int(address.split(".")[2]) >= 128


@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_fails_with_the_guard_and_works_with_it_off(probes, attack):
    assert probes["on"][attack] != "reached", probes["on"]
    assert probes["off"][attack] == "reached", f"control failed: {probes['off']}"
    assert probes["on_again"][attack] != "reached", probes["on_again"]


def test_the_hub_api_and_the_own_server_through_the_proxy_stay_reachable(probes):
    assert probes["on"]["hub_api"] == "reached", probes["on"]
    assert probes["on_proxy"] == 200
