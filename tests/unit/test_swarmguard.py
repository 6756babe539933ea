"""The swarm guard's rules and what they are made of: pure logic, no namespace touched."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress

import pytest

from hubdist.netguard import namespaces, ruleset
from hubdist.netguard.ruleset import Destination, ServerGuard
from hubdist.spawners import guard as gate
from hubdist.spawners import swarmguard

from .test_netguard import first_match

NET = ipaddress.IPv4Network
HUB = Destination.parse("10.0.1.2:8081")


def verdict(g: ServerGuard, dst: str, port: int, proto: str = "tcp") -> str:
    """What a new connection from the server to ``dst`` meets. The loopback rule (-o lo)
    is left out: none of these destinations is on loopback."""
    chain = ruleset.server_rules(g)[ruleset.SERVER_CHAIN]
    return first_match([r for r in chain if "-o" not in r], dst, port, proto) or "RETURN"


def server_guard(**kw) -> ServerGuard:
    return ServerGuard(**{"hub": (HUB,), "networks": (NET("10.0.1.0/24"),), **kw})


def test_only_the_hubs_api_is_open_on_the_servers_network():
    g = server_guard()
    assert verdict(g, "10.0.1.2", 8081) == "RETURN"
    assert verdict(g, "10.0.1.2", 8000) == "REJECT", "the hub's other ports"
    assert verdict(g, "10.0.1.9", 8888) == "REJECT", "another user's server"
    assert verdict(g, "10.0.1.9", 53, "udp") == "REJECT", "a server listening on 53"
    assert verdict(g, "10.0.1.3", 8001) == "REJECT", "the proxy's API"


def test_node_metadata_and_private_ranges_are_rejected_the_internet_and_dns_are_not():
    g = server_guard(host=(NET("203.0.113.7/32"),))
    assert verdict(g, "203.0.113.7", 2375) == "REJECT", "the node's engine over TCP"
    assert verdict(g, "169.254.169.254", 80) == "REJECT"
    for address in ("10.9.0.1", "172.20.0.1", "192.168.1.1", "100.100.100.100"):
        assert verdict(g, address, 5432) == "REJECT", address
    assert verdict(g, "93.184.216.34", 443) == "RETURN"
    # Docker's DNS forwards from the server's namespace to the node's resolvers
    assert verdict(g, "10.0.0.2", 53, "udp") == "RETURN"
    assert verdict(g, "203.0.113.7", 53, "udp") == "RETURN"
    assert verdict(server_guard(dns=False), "10.0.0.2", 53, "udp") == "REJECT"


def test_admins_allow_and_block_lists_apply_as_on_compose():
    g = server_guard(
        allow=(Destination.parse("10.9.9.9:5432"),),
        block=(*server_guard().block, NET("198.51.100.0/24")),
    )
    assert verdict(g, "10.9.9.9", 5432) == "RETURN"
    assert verdict(g, "10.9.9.9", 22) == "REJECT"
    assert verdict(g, "198.51.100.10", 443) == "REJECT"


def test_the_script_fills_the_chain_in_one_transaction_and_jumps_only_when_missing():
    with_jump = ruleset.server_script(server_guard(), jump_missing=True)
    assert with_jump.startswith("*filter\n:HUBDIST-SERVER-OUT - [0:0]\n")
    assert "-I OUTPUT 1 -j HUBDIST-SERVER-OUT\nCOMMIT\n" in with_jump
    assert "*nat" not in with_jump, "Docker's DNS rules are left alone"
    assert "-I OUTPUT" not in ruleset.server_script(server_guard(), jump_missing=False)


FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.1
              /32 host LOCAL
     |-- 172.17.0.1
        /32 host LOCAL
     |-- 172.17.255.255
        /32 link BROADCAST
     |-- 203.0.113.7
        /32 host LOCAL
Local:
     |-- 203.0.113.7
        /32 host LOCAL
"""


def test_the_nodes_own_addresses_come_from_its_fib_trie_without_loopback(tmp_path):
    (tmp_path / "1" / "net").mkdir(parents=True)
    (tmp_path / "1" / "net" / "fib_trie").write_text(FIB_TRIE)
    assert namespaces.node_addresses(tmp_path) == [NET("172.17.0.1/32"), NET("203.0.113.7/32")]


def test_hub_and_networks_are_read_from_the_containers_inspection():
    info = {
        "Config": {"Env": ["A=b=c", "JUPYTERHUB_API_URL=http://hub:8081/hub/api"]},
        "NetworkSettings": {
            "Networks": {
                "users": {"IPAddress": "10.0.1.7", "IPPrefixLen": 24},
                "docker_gwbridge": {"IPAddress": "", "IPPrefixLen": 0},
            }
        },
    }
    assert namespaces.hub_api(info) == ("hub", 8081)
    assert namespaces.server_networks(info) == [NET("10.0.1.0/24")]
    https = {"Config": {"Env": ["JUPYTERHUB_API_URL=https://10.0.1.2/hub/api"]}}
    assert namespaces.hub_api(https) == ("10.0.1.2", 443)
    with pytest.raises(ruleset.NetguardError, match="JUPYTERHUB_API_URL"):
        namespaces.hub_api({"Config": {"Env": []}})


def test_the_stack_tells_the_hub_where_the_guards_are_unless_netguard_is_off():
    environ = {"HUBDIST_NETGUARD_ADDRESS": "tasks.netguard:8091"}
    assert gate.expected_guard_address(environ) == "tasks.netguard:8091"
    assert gate.expected_guard_address({**environ, "HUBDIST_NETGUARD": "off"}) == ""
    assert gate.expected_guard_address({}) == ""


def test_a_guard_address_without_a_port_is_refused_saying_so():
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        asyncio.run(swarmguard.guard_addresses("tasks.netguard"))


def fake_proc(folder, address: str):
    """A host /proc whose fib_trie holds one address besides loopback (a node's)."""
    (folder / "1" / "net").mkdir(parents=True)
    (folder / "1" / "net" / "fib_trie").write_text(FIB_TRIE.replace("203.0.113.7", address))
    return folder


def test_a_guard_rejects_the_other_nodes_public_addresses_it_learns_from_their_guards(tmp_path):
    """Nodes on public addresses (outside every blocked range): the guard of node a asks
    b's guard, over HTTP as on a stack, and a's servers then reject b's address too; what
    was learned stays when b's guard stops answering; a's own answer teaches it nothing."""
    from tornado.httpserver import HTTPServer

    from ..hubrig import free_port

    a_proc, b_proc = (
        fake_proc(tmp_path / "a", "203.0.113.7"),
        fake_proc(tmp_path / "b", "198.18.5.9"),
    )
    port = free_port()
    a = namespaces.NodeGuard(engine=None, proc=a_proc, node_id="A", node="a",
                             peers=f"127.0.0.1:{port}")  # fmt: skip
    b = namespaces.NodeGuard(engine=None, proc=b_proc, node_id="B", node="b")

    def rules() -> ServerGuard:
        return server_guard(host=a.nodes_addresses())

    async def drill() -> tuple[str, str, str]:
        before = verdict(rules(), "198.18.5.9", 7946)
        server = HTTPServer(namespaces.status_app(b))
        server.listen(port, "127.0.0.1")
        try:
            await a.learn_peers()
        finally:
            server.stop()
        learned = verdict(rules(), "198.18.5.9", 7946)
        a.peers_asked.clear()  # due again; b's guard is gone now
        await a.learn_peers(timeout=2)
        return before, learned, verdict(rules(), "198.18.5.9", 7946)

    before, learned, after_b_stopped = asyncio.run(drill())
    assert before == "RETURN", "the control: without b's guard's answer b is reachable"
    assert learned == "REJECT"
    assert after_b_stopped == "REJECT"
    assert a.health()["knows"] == ["B"] and b.health()["addresses"] == [
        "172.17.0.1/32",
        "198.18.5.9/32",
    ]
    assert verdict(rules(), "203.0.113.7", 22) == "REJECT", "a's own address"
    assert verdict(rules(), "198.51.100.10", 443) == "RETURN", "the internet stays open"


def test_a_peer_answer_with_a_bad_address_or_the_guards_own_node_teaches_nothing(tmp_path):
    from tornado import web
    from tornado.httpserver import HTTPServer

    from ..hubrig import free_port

    answers = [{"node_id": "A", "node": "a", "addresses": ["198.18.0.1/32"]},
               {"node_id": "C", "node": "c", "addresses": ["not-an-address"]}]  # fmt: skip

    class Health(web.RequestHandler):
        def get(self) -> None:
            self.finish(answers.pop(0))

    port = free_port()
    a = namespaces.NodeGuard(engine=None, proc=fake_proc(tmp_path, "203.0.113.7"),
                             node_id="A", node="a", peers=f"127.0.0.1:{port}")  # fmt: skip

    async def ask_twice() -> None:
        server = HTTPServer(web.Application([(r"/health", Health)]))
        server.listen(port, "127.0.0.1")
        try:
            for _ in range(2):
                a.peers_asked.clear()
                await a.learn_peers()
        finally:
            server.stop()

    asyncio.run(ask_twice())
    assert a.peer_addresses == {}
    assert a.nodes_addresses() == (NET("172.17.0.1/32"), NET("203.0.113.7/32"))


def test_a_guard_that_never_answers_holds_up_no_start_on_another_node():
    """A frozen node's guard stays in tasks.netguard for a while and accepts nothing: the
    answer of the task's own node decides as soon as it comes (a start waited for every
    guard's 10 s time-out before, three times over: 31 s in benchmark S16)."""
    from tornado import web
    from tornado.httpserver import HTTPServer

    from ..hubrig import free_port

    verdicts = {"ab" * 6: True, "cd" * 6: False}

    class Status(web.RequestHandler):
        def get(self, container: str) -> None:
            self.finish({"node_id": "W2", "guarded": verdicts[container], "problem": "no pid"})

    async def ask_both(container: str) -> str:
        frozen = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)  # never answers
        frozen_port = frozen.sockets[0].getsockname()[1]
        port = free_port()
        server = HTTPServer(web.Application([(r"/containers/(.+)", Status)]))
        server.listen(port, "127.0.0.1")
        try:
            targets = [("127.0.0.1", frozen_port), ("127.0.0.1", port)]
            return await asyncio.wait_for(
                swarmguard.first_verdict(swarmguard.ask_guards(targets, container), "W2", "w2", []),
                5,
            )
        finally:
            server.stop()
            frozen.close()

    assert asyncio.run(ask_both("ab" * 6)) == ""
    assert "the network guard on node w2 has not guarded it: no pid" in asyncio.run(
        ask_both("cd" * 6)
    )


def test_questions_left_open_to_a_frozen_guard_do_not_hold_up_the_next_ones():
    """A start asks every guard each half second while its node's guard says "not yet", and
    the questions to a frozen guard stay open until their 10 s time-out. Through tornado's
    shared HTTP client, which runs 10 requests at a time, the eleventh round's question to
    the live guard waited behind them (31 s in benchmark S16, after a second freeze)."""
    from tornado import web
    from tornado.httpserver import HTTPServer

    from ..hubrig import free_port

    class Status(web.RequestHandler):
        def get(self, container: str) -> None:
            self.finish({"node_id": "W2", "guarded": container == "ab" * 6, "problem": "no pid"})

    async def rounds() -> str:
        frozen = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)  # never answers
        port = free_port()
        server = HTTPServer(web.Application([(r"/containers/(.+)", Status)]))
        server.listen(port, "127.0.0.1")
        targets = [("127.0.0.1", frozen.sockets[0].getsockname()[1]), ("127.0.0.1", port)]

        def ask(container: str):
            return asyncio.wait_for(
                swarmguard.first_verdict(swarmguard.ask_guards(targets, container), "W2", "w2", []),
                5,
            )

        try:
            for _ in range(12):  # not guarded yet: asked again, a question left open each time
                assert "has not guarded" in await ask("cd" * 6)
            return await ask("ab" * 6)
        finally:
            server.stop()
            frozen.close()

    assert asyncio.run(rounds()) == ""


def guard_task(node: str, address: str, *, alias: str = "netguard", state: str = "running"):
    """A guard's task as the engine lists it (the stack names it by alias on its network)."""
    return {
        "NodeID": node,
        "Status": {"State": state},
        "Spec": {"Networks": [{"Target": "guards-id", "Aliases": [alias]}]},
        "NetworksAttachments": [
            {"Network": {"ID": "ingress-id"}, "Addresses": ["10.0.0.9/24"]},
            {"Network": {"ID": "guards-id"}, "Addresses": [f"{address}/24"]},
        ],
    }


def test_the_task_list_gives_the_running_guards_address_on_the_guards_network():
    tasks = [
        guard_task("W2", "10.0.2.5"),
        guard_task("W2", "10.0.2.4", state="shutdown"),  # the one before the node's restart
        guard_task("W2", "10.0.2.6", alias="anchor"),  # another service on that network
    ]
    assert swarmguard.guards_in_tasks(tasks, "tasks.netguard:8091") == [("10.0.2.5", 8091)]


def test_the_task_list_gives_a_guard_whose_health_check_has_not_passed_yet():
    """A guard task stays "starting" until its first health check passes (10 s, longer on a
    loaded machine), and Docker's DNS names it only after that. It answers and guards
    already: a server Swarm placed on a node just reactivated (drain, then active) was
    refused after netguard_wait when that took longer (CI, test_pinning)."""
    tasks = [guard_task("W1", "10.0.2.7", state="starting")]
    assert swarmguard.guards_in_tasks(tasks, "tasks.netguard:8091") == [("10.0.2.7", 8091)]


@contextlib.asynccontextmanager
async def guards_of(*nodes: str):
    """A guard per node on 127.0.0.1 that says every container is guarded; yields the
    port of each node's guard."""
    from tornado import web
    from tornado.httpserver import HTTPServer

    from ..hubrig import free_port

    class Status(web.RequestHandler):
        def get(self, container: str) -> None:
            node = self.application.settings["node"]
            self.finish({"node_id": node, "guarded": True, "problem": ""})

    servers, ports = [], {}
    for node in nodes:
        ports[node] = free_port()
        server = HTTPServer(web.Application([(r"/containers/(.+)", Status)], node=node))
        server.listen(ports[node], "127.0.0.1")
        servers.append(server)
    try:
        yield ports
    finally:
        for server in servers:
            server.stop()


def test_a_guard_missing_from_the_name_is_found_in_the_task_list():
    """After a node is declared down and comes back, Docker's DNS can lack its tasks for
    minutes (moby/moby#53141): the name gives only other nodes' guards, or none at all.
    Benchmark S17 saw the returned node's guard missing from tasks.netguard for over 120 s,
    3 times of 3; every start placed there failed after netguard_wait meanwhile."""

    async def check(address: str) -> tuple[str, str]:
        async with guards_of("W1", "W2") as ports:
            listed = []

            async def on_the_node():
                listed.append("W2")
                return [("127.0.0.1", ports["W2"])]

            if address == "name-of-w1-only":  # the name gives W1's guard alone
                address = f"localhost:{ports['W1']}"
            without = await swarmguard.guard_problem(address, "W2", "w2", "ab" * 6)
            found = await swarmguard.guard_problem(
                address, "W2", "w2", "ab" * 6, on_the_node=on_the_node
            )
            assert listed == ["W2"]
            return without, found

    without, found = asyncio.run(check("name-of-w1-only"))
    assert without.startswith("no network guard on node w2"), without
    assert found == ""
    without, found = asyncio.run(check("no-such-name.invalid:8091"))
    assert without.startswith("no network guard found at no-such-name.invalid:8091"), without
    assert found == ""


def test_a_frozen_guard_in_the_name_does_not_delay_the_task_lists_guard(monkeypatch):
    """The name gives a frozen node's guard (never answers) and another node's, not the
    task's node's, which only the task list has (moby/moby#53141 after that node came
    back). The task list was asked only once every named question had ended, the frozen
    one at its 10 s time-out: benchmark S16 saw a start wait 10.0 s for its guard."""

    async def check() -> str:
        frozen = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)  # never answers
        async with guards_of("W1", "W2") as ports:
            named = [("127.0.0.1", frozen.sockets[0].getsockname()[1]), ("127.0.0.1", ports["W1"])]

            async def by_name(address: str):
                return named

            async def on_the_node():
                return [("127.0.0.1", ports["W2"])]

            monkeypatch.setattr(swarmguard, "guard_addresses", by_name)
            try:
                return await asyncio.wait_for(
                    swarmguard.guard_problem(
                        "tasks.netguard:8091", "W2", "w2", "ab" * 6, on_the_node=on_the_node
                    ),
                    5,  # half the frozen guard's time-out
                )
            finally:
                frozen.close()

    assert asyncio.run(check()) == ""
