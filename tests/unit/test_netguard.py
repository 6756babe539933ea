"""The guard's rules, computed from its settings: pure logic, no firewall touched."""

from __future__ import annotations

import ipaddress
import shlex
import time

import pytest

from hubdist.netguard import Destination, Guard, NetguardError, command, iptables, ruleset, status
from hubdist.spawners import guard as gate

USERS = ipaddress.IPv4Network("10.213.8.0/21")
SUBNET = ipaddress.IPv4Network("10.213.0.0/20")
HUB_API = Destination.parse("10.213.0.2:8081")


def guard(**kw) -> Guard:
    return Guard(**{"name": "hubdist", "users": USERS, "subnet": SUBNET, "allow": (HUB_API,), **kw})


def forward_and_input(g: Guard) -> tuple[list[list[str]], list[list[str]]]:
    chains = ruleset.rules(g)
    fwd, inp = g.chains()
    return chains[fwd], chains[inp]


def first_match(chain_rules: list[list[str]], dst: str, port: int, proto: str = "tcp") -> str:
    """What the chain does with a new packet from a user's server: RETURN or REJECT.

    A small evaluator of the matches the guard uses (-s, -d, -p/--dport, conntrack), so the
    tests state outcomes ("another user's server is rejected"), not rule text.
    """
    src = ipaddress.IPv4Address("10.213.9.7")  # a user's server
    target = ipaddress.IPv4Address(dst)
    for rule in chain_rules:
        args = iter(rule)
        ok = True
        negate = False
        for arg in args:
            if arg == "!":
                negate = True
                continue
            if arg == "-s":
                ok &= (src in ipaddress.IPv4Network(next(args))) != negate
            elif arg == "-d":
                ok &= (target in ipaddress.IPv4Network(next(args))) != negate
            elif arg == "-p":
                ok &= next(args) == proto
            elif arg == "--dport":
                ok &= int(next(args)) == port
            elif arg == "--ctstate":
                next(args)
                ok = False  # a new connection is neither RELATED nor ESTABLISHED
            elif arg == "-j":
                if ok:
                    return next(args)
                break
            negate = False
    return "RETURN"  # end of our chain: Docker's (or the host's) rules decide


def test_a_user_reaches_the_hub_api_and_nothing_else_on_its_network():
    forward, _ = forward_and_input(guard())

    assert first_match(forward, "10.213.0.2", 8081) == "RETURN"  # the hub's API
    assert first_match(forward, "10.213.0.2", 22) == "REJECT"  # the hub, another port
    assert first_match(forward, "10.213.0.3", 8001) == "REJECT"  # the proxy's API
    assert first_match(forward, "10.213.9.8", 8888) == "REJECT"  # another user's server


def test_metadata_and_private_ranges_are_blocked_but_the_internet_is_not():
    forward, _ = forward_and_input(guard())

    assert first_match(forward, "169.254.169.254", 80) == "REJECT"
    for private in ("10.1.2.3", "172.17.0.5", "192.168.1.10", "100.100.1.1"):
        assert first_match(forward, private, 5432) == "REJECT", private
    assert first_match(forward, "198.51.100.10", 443) == "RETURN"


def test_dns_passes_except_to_other_servers_on_the_users_network():
    forward, to_host = forward_and_input(guard())

    assert first_match(forward, "10.0.0.2", 53, "udp") == "RETURN"  # e.g. AWS's resolver
    assert first_match(forward, "169.254.169.254", 53, "udp") == "RETURN"  # GCP's resolver
    assert first_match(forward, "10.213.9.8", 53, "udp") == "REJECT"  # a user listening on 53
    assert first_match(to_host, "10.213.0.1", 53, "tcp") == "RETURN"


def test_without_dns_port_53_is_blocked_like_any_other():
    forward, _ = forward_and_input(guard(dns=False))

    assert first_match(forward, "10.0.0.2", 53, "udp") == "REJECT"


def test_the_host_itself_is_closed_to_users_except_what_is_allowed():
    hub_on_host = Destination.parse("172.17.0.1:8081")
    _, to_host = forward_and_input(guard(allow=(hub_on_host,)))

    assert first_match(to_host, "172.17.0.1", 8081) == "RETURN"
    assert first_match(to_host, "172.17.0.1", 2375) == "REJECT"  # an engine's TCP port
    assert first_match(to_host, "203.0.113.9", 5432) == "REJECT"  # the host's public address


def test_traffic_not_from_users_is_left_to_dockers_rules():
    for chain_rules in forward_and_input(guard()):
        first = chain_rules[0]
        assert first[:4] == ["!", "-s", str(USERS), "-j"] and first[4] == "RETURN"
        # answers to the proxy and the hub come right after
        assert "RELATED,ESTABLISHED" in chain_rules[1] and "RETURN" in chain_rules[1]


def test_allowing_a_private_range_lets_it_through_and_keeps_the_rest_blocked():
    extra = Destination.parse("10.50.0.0/16")
    forward, _ = forward_and_input(guard(allow=(HUB_API, extra)))

    assert first_match(forward, "10.50.3.4", 5432) == "RETURN"
    assert first_match(forward, "10.51.3.4", 5432) == "REJECT"


def test_extra_blocked_ranges_are_rejected():
    blocked = (*guard().block, ipaddress.IPv4Network("203.0.113.0/24"))
    forward, _ = forward_and_input(guard(block=blocked))

    assert first_match(forward, "203.0.113.5", 80) == "REJECT"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("10.213.0.2:8081", ("10.213.0.2/32", 8081, "tcp")),
        ("10.0.0.53:53/udp", ("10.0.0.53/32", 53, "udp")),
        ("10.0.0.0/8", ("10.0.0.0/8", None, "tcp")),
    ],
)
def test_destinations_parse(text, expected):
    dest = Destination.parse(text)
    assert (str(dest.net), dest.port, dest.proto) == expected


@pytest.mark.parametrize(
    "text, says",
    [
        ("hub:8081", "ADDRESS[/PREFIX]"),
        ("10.0.0.1:70000", "not in 1-65535"),
        ("10.0.0.300", "not an IPv4 address"),
        ("10.0.0.1:53/icmp", "ADDRESS[/PREFIX]"),
    ],
)
def test_bad_destinations_are_refused_saying_what_is_expected(text, says):
    with pytest.raises(NetguardError) as refused:
        Destination.parse(text)
    assert says in str(refused.value) and text in str(refused.value)


def test_allowing_an_address_of_the_users_range_is_refused():
    with pytest.raises(NetguardError, match="overlaps the users' range"):
        guard(allow=(Destination.parse("10.213.9.1:8081"),))


def test_a_users_range_outside_the_subnet_is_refused():
    with pytest.raises(NetguardError, match="not inside the network's subnet"):
        guard(users=ipaddress.IPv4Network("10.99.0.0/24"))


def test_bad_names_are_refused():
    with pytest.raises(NetguardError, match="name 'a b'"):
        guard(name="a b")


def test_chain_names_fit_iptables_and_long_names_stay_distinct():
    short = guard(name="hubdist").chains()
    assert short == ("HUBDIST-hubdist-FWD", "HUBDIST-hubdist-IN")
    one = guard(name="hubdist-test-isolation-aaaaaa").chains()
    two = guard(name="hubdist-test-isolation-bbbbbb").chains()
    assert one != two
    assert all(len(chain) <= ruleset.MAX_CHAIN for chain in (*one, *two))


def test_the_restore_script_fills_both_chains_and_adds_only_missing_jumps():
    g = guard()
    fwd, inp = g.chains()

    both = ruleset.restore_script(g, ["DOCKER-USER", "INPUT"])
    assert f":{fwd} - [0:0]" in both and f":{inp} - [0:0]" in both
    assert f"-I DOCKER-USER 1 -j {fwd}" in both and f"-I INPUT 1 -j {inp}" in both
    assert both.startswith("*filter\n") and both.endswith("COMMIT\n")

    none_missing = ruleset.restore_script(g, [])
    assert "-I DOCKER-USER" not in none_missing and "-I INPUT" not in none_missing
    # comments with spaces are quoted for iptables-restore
    assert '--comment "hubdist netguard: DNS"' in none_missing


def test_cli_refuses_a_missing_users_range_and_a_bad_switch(capsys, monkeypatch):
    assert command.main(["--print"]) == 2
    assert "--users-range is required" in capsys.readouterr().err

    monkeypatch.setenv("HUBDIST_NETGUARD", "maybe")
    assert command.main(["--print", "--users-range", str(USERS)]) == 2
    assert "HUBDIST_NETGUARD='maybe'" in capsys.readouterr().err


def test_cli_print_shows_the_rules_without_touching_the_firewall(capsys):
    args = ["--print", "--users-range", str(USERS), "--subnet", str(SUBNET)]
    assert command.main([*args, "--allow", "10.213.0.2:8081, 10.50.0.0/16"]) == 0
    printed = capsys.readouterr().out
    assert "-d 10.213.0.2/32 -p tcp -m tcp --dport 8081 -j RETURN" in printed
    assert "-d 10.50.0.0/16 -j RETURN" in printed
    assert "-d 169.254.0.0/16 -j REJECT" in printed


def test_every_option_can_come_from_its_variable_and_the_command_line_adds_to_lists():
    environ = {
        "HUBDIST_NETGUARD_NAME": "mine",
        "HUBDIST_NETGUARD_USERS_RANGE": str(USERS),
        "HUBDIST_NETGUARD_SUBNET": str(SUBNET),
        "HUBDIST_NETGUARD_ALLOW": "10.213.0.2:8081 10.50.0.0/16",
        "HUBDIST_NETGUARD_INTERVAL": "3",
    }
    args = command.make_parser(environ).parse_args(["--allow", "10.60.0.1:5432"])
    g = command.guard_from_args(args)

    assert (g.name, g.users, g.subnet, args.interval) == ("mine", USERS, SUBNET, 3.0)
    assert [str(d) for d in g.allow] == [
        "10.213.0.2/32:8081/tcp",
        "10.50.0.0/16",
        "10.60.0.1/32:5432/tcp",
    ]


def test_a_rule_is_recognised_as_iptables_lists_it_and_a_changed_one_is_not():
    forward = ruleset.rules(guard())["HUBDIST-hubdist-FWD"]
    metadata = next(rule for rule in forward if "169.254.0.0/16" in rule)
    listed = (  # what `iptables -S` prints for it: options reordered, the comment quoted
        '-A HUBDIST-hubdist-FWD -d 169.254.0.0/16 -m comment --comment "hubdist netguard: '
        'link-local: the cloud metadata address (credentials of the machine)" '
        "-j REJECT --reject-with icmp-admin-prohibited"
    )
    assert ruleset.signature(shlex.split(listed)) == ruleset.signature(metadata)
    replaced = "-A HUBDIST-hubdist-FWD -d 169.254.0.0/16 -j RETURN"
    assert ruleset.signature(shlex.split(replaced)) != ruleset.signature(metadata)
    escaped = """-A X -m comment --comment "a user\\'s rule" -j RETURN"""
    assert ruleset.signature(shlex.split(escaped)) == ("a user's rule", "RETURN")


# -- bridged traffic, the status file and the hub's gate ----------------------------------


def test_bridged_traffic_not_passed_to_iptables_is_reported_with_the_fix(tmp_path):
    sysctl = tmp_path / "bridge-nf-call-iptables"

    sysctl.write_text("0\n")
    off = iptables.bridge_filtering_problem(sysctl)
    assert "bridge-nf-call-iptables is 0" in off and "NOT filtered" in off
    assert "sysctl -w net.bridge.bridge-nf-call-iptables=1" in off and "hubdist-up" in off

    missing = iptables.bridge_filtering_problem(tmp_path / "absent")
    assert "br_netfilter" in missing and "modprobe br_netfilter" in missing

    sysctl.write_text("1\n")
    assert iptables.bridge_filtering_problem(sysctl) is None


def status_file(tmp_path, problems: list[str], interval: float = 10):
    path = tmp_path / "netguard" / "status.json"
    status.status_of(guard(), problems, interval).write(path)
    return path


def test_the_hub_trusts_a_fresh_enforced_status_and_nothing_else(tmp_path):
    path = status_file(tmp_path, [])
    now = time.time()

    assert gate.status_problem(path, now) is None
    assert "has not reported" in gate.status_problem(tmp_path / "none.json", now)
    stale = gate.status_problem(path, now + 3600)
    assert "s old" in stale and "docker compose logs netguard" in stale

    path = status_file(tmp_path, ["net.bridge.bridge-nf-call-iptables is 0, so ..."])
    assert "bridge-nf-call-iptables is 0" in gate.status_problem(path, now)

    path.write_text("{not json")
    assert "cannot be read" in gate.status_problem(path, now)


def test_netguard_switched_off_is_a_reason_not_to_start_when_the_hub_expects_it(tmp_path):
    path = tmp_path / "status.json"
    status.Status("off", ["removed"], "hubdist", "", 0, 10**12).write(path)

    assert "HUBDIST_NETGUARD=off" in gate.status_problem(path, time.time())
    environ = {"HUBDIST_NETGUARD_STATUS_FILE": str(path)}
    assert gate.expected_status_file(environ) == str(path)
    assert gate.expected_status_file({**environ, "HUBDIST_NETGUARD": "off"}) == ""
    assert gate.expected_status_file({}) == ""
