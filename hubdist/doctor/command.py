"""The command: which checks, where, and how the findings are shown."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ..engine import Engine
from ..engine.client import EngineError
from . import adopted, certificate, database, host, images, isolation, network, routes
from .deployment import HOST, Deployment, discover, where_running
from .findings import SKIPPED, Check, Finding, run_checks, to_json, to_text

#: every check, in the order shown; extend here
CHECKS: list[Check] = [
    host.check_socket,
    host.check_engine,
    host.check_disk,
    network.check_network,
    images.check_images,
    isolation.check_netguard,
    routes.check_routes,
    adopted.check_adopted,
    database.check_database,
    certificate.check_certificate,
]
#: the checks only the hub container can make: run there when the doctor runs on the host
IN_HUB = ("routes", "adopted", "database", "certificate")


def check_name(check: Check) -> str:
    return getattr(check, "check_name", check.__name__)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubdist doctor",
        description="Check a hubdist deployment and say what to do about each problem. "
        "Exit status 1 if there is one. Run it on the host (in the checkout, as root, to see "
        "the firewall and the disk) or in the hub container: docker compose exec hub "
        "hubdist doctor.",
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument(
        "--project",
        default="",
        help="the compose project, on the host (default: $COMPOSE_PROJECT_NAME, else hubdist)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="CHECK",
        choices=[check_name(c) for c in CHECKS],
        help="run only these checks: %(choices)s",
    )
    parser.add_argument(
        "--min-free-gb",
        type=float,
        default=2.0,
        help="less free space than this in Docker's data root is a problem (default 2)",
    )
    return parser


async def diagnose(args: argparse.Namespace, where: str | None = None) -> list[Finding]:
    where = where or where_running()
    engine = Engine(call_timeout=10)
    try:
        deployment = await discover(engine, where, args.project)
    except EngineError:  # the engine check says why
        deployment = Deployment(where)
    deployment.min_free_bytes = int(args.min_free_gb * 1024**3)
    checks = [c for c in CHECKS if not args.only or check_name(c) in args.only]
    hub_running = ((deployment.hub or {}).get("State") or {}).get("Running")
    delegate = where == HOST and hub_running and [c for c in checks if check_name(c) in IN_HUB]
    if delegate:
        checks = [c for c in checks if c not in delegate]
    findings = await run_checks(checks, deployment, engine)
    if delegate:
        findings += await in_hub_container(deployment, [check_name(c) for c in delegate])
    return findings


#: seconds the doctor in the hub container may take: a whole program, on a loaded machine
IN_HUB_TIMEOUT = 120


async def in_hub_container(deployment: Deployment, names: list[str]):
    """The findings of ``names`` as the doctor in the hub container reports them."""
    command = ["hubdist", "doctor", "--json", "--only", *names]
    engine = Engine(call_timeout=IN_HUB_TIMEOUT)  # the exec's answer comes when it is done
    try:
        code, out, err = await engine.exec_run(deployment.hub["Id"], command)
    except EngineError as exc:
        advice = "run it there: docker compose exec hub hubdist doctor"
        return [
            Finding(name, SKIPPED, f"the hub container could not check it: {exc}", advice)
            for name in names
        ]
    try:
        found = json.loads(out)["findings"]
        return [Finding(**f) for f in found]
    except (ValueError, KeyError, TypeError):
        why = " ".join((err or out).split())[:300]
        advice = "an older hub image has no doctor: upgrade it (./hubdist-up)"
        return [
            Finding(name, SKIPPED, f"the hub container could not check it: {why}", advice)
            for name in names
        ]


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    findings = asyncio.run(diagnose(args))
    print(to_json(findings) if args.json else to_text(findings))
    return 1 if any(f.failing for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
