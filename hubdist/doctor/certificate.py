"""HTTPS: the certificate the edge serves (its status file, read in the hub's container)."""

from __future__ import annotations

from datetime import datetime, timezone

from ..engine import Engine
from ..tls import status
from .deployment import HOST, Deployment
from .findings import OK, PROBLEM, SKIPPED, WARNING, Finding, named

EDGE_LOGS = "docker compose logs edge | grep 'hubdist edge'"
#: renewal starts with a third of the life left; with less than a sixth left it has been
#: failing for half that time (15 of Let's Encrypt's 90 days): act now
TOO_CLOSE = 1 / 6


@named("certificate")
async def check_certificate(deployment: Deployment, engine: Engine) -> list[Finding]:
    return certificate_findings(deployment.env, deployment.where)


def certificate_findings(env, where: str, now: datetime | None = None) -> list[Finding]:
    domain = env.get("HUBDIST_DOMAIN", "").strip()
    if not domain:
        return [Finding("certificate", OK, "HTTPS is off (no HUBDIST_DOMAIN): plain HTTP")]
    if where == HOST:
        advice = "docker compose exec hub hubdist doctor"
        return [Finding("certificate", SKIPPED, "read in the hub's container", advice)]
    found, _lines = status.for_hub(env)
    if not found or not found.get("serving"):
        return [
            Finding(
                "certificate",
                PROBLEM,
                f"the edge reports no certificate served for {domain}",
                f"is the edge running (docker compose ps edge)? its log: {EDGE_LOGS}",
            )
        ]
    serving, problem = found["serving"], found.get("problem") or ""
    until = datetime.fromisoformat(serving["not_after"])
    life = until - datetime.fromisoformat(serving["not_before"])
    now = now or datetime.now(timezone.utc)
    said = (
        f"serving a certificate for {domain} from {serving['issuer']} "
        f"until {until:%Y-%m-%d %H:%M} UTC"
    )
    if serving.get("temporary"):
        return [
            Finding(
                "certificate",
                PROBLEM,
                f"{said}: a TEMPORARY self-signed one (browsers warn): "
                "no valid certificate from the ACME server is held",
                f"{problem or 'see ' + EDGE_LOGS}; docs/https.md, 'A failed order'",
            )
        ]
    if until <= now:
        return [Finding("certificate", PROBLEM, f"{said}: EXPIRED", f"{problem}; {EDGE_LOGS}")]
    if until - now < life * TOO_CLOSE:
        left = (until - now).days
        return [
            Finding(
                "certificate",
                PROBLEM,
                f"{said}: {left} days left and not renewed",
                f"{problem or 'see ' + EDGE_LOGS}; docs/https.md, 'A failed order'",
            )
        ]
    if problem:
        return [Finding("certificate", WARNING, f"{said}; the last order failed", problem)]
    return [Finding("certificate", OK, f"{said}; renewal from {serving['renews_from']}")]
