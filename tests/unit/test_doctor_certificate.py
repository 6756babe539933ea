"""`hubdist doctor`'s certificate check, on status files as the edge writes them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hubdist.doctor.certificate import certificate_findings
from hubdist.doctor.deployment import HUB
from hubdist.doctor.findings import OK, PROBLEM, WARNING
from hubdist.tls import status

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def findings(tmp_path, serving=None, problem="", written=True):
    path = tmp_path / "status.json"
    if written:
        status.write(path, domain="hub.example.org", mode="acme", serving=serving, problem=problem)
    env = {"HUBDIST_DOMAIN": "hub.example.org", "HUBDIST_TLS_STATUS_FILE": str(path)}
    [finding] = certificate_findings(env, HUB, now=NOW)
    return finding


def serving(days_left: float, temporary: bool = False) -> dict:
    until = NOW + timedelta(days=days_left)
    return {
        "issuer": "hubdist temporary authority" if temporary else "R11",
        "not_before": (until - timedelta(days=90)).isoformat(),
        "not_after": until.isoformat(),
        "renews_from": (until - timedelta(days=30)).isoformat(),
        "temporary": temporary,
    }


def test_a_valid_certificate_is_reported_with_its_expiry(tmp_path):
    found = findings(tmp_path, serving(60))
    assert found.status == OK
    assert "from R11 until 2027-01-25 12:00 UTC" in found.message


def test_a_temporary_certificate_is_a_problem_with_the_failed_order_as_advice(tmp_path):
    found = findings(tmp_path, serving(0.04, temporary=True), problem="ordering ... failed: DNS")
    assert found.status == PROBLEM
    assert "TEMPORARY" in found.message
    assert "ordering ... failed: DNS" in found.advice and "A failed order" in found.advice


def test_a_certificate_close_to_expiry_is_a_problem_and_a_failed_renewal_a_warning(tmp_path):
    assert findings(tmp_path, serving(10), problem="rate limited").status == PROBLEM
    assert findings(tmp_path, serving(-1)).status == PROBLEM
    warned = findings(tmp_path, serving(25), problem="rate limited")
    assert (warned.status, warned.advice) == (WARNING, "rate limited")


def test_an_edge_that_reported_nothing_is_a_problem(tmp_path):
    found = findings(tmp_path, written=False)
    assert found.status == PROBLEM and "docker compose ps edge" in found.advice


def test_without_https_the_check_says_so():
    [found] = certificate_findings({}, HUB)
    assert found.status == OK and "HTTPS is off" in found.message
