"""The edge's choice of Caddy configuration from the certificate it serves (Edge.look).

The certificate served is given to the real ``look``; the reload is recorded instead of run
(Caddy itself is exercised by tests/deploy/test_edge.py and tests/e2e/test_https.py).
"""

from __future__ import annotations

import asyncio
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hubdist.services import edge as edge_module
from hubdist.tls import caddy
from hubdist.tls.settings import from_environment

DOMAIN = "hub.example.org"


def certificate(issuer: str, expires_in: float) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=300))
        .not_valid_after(now + datetime.timedelta(seconds=expires_in))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture
def edge(tmp_path, monkeypatch):
    settings = from_environment(
        {
            "HUBDIST_DOMAIN": DOMAIN,
            "HUBDIST_ACME_EMAIL": "admin@example.org",
            "HUBDIST_TLS_STORAGE": str(tmp_path / "storage"),
            "HUBDIST_TLS_STATUS_FILE": str(tmp_path / "status.json"),
        }
    )
    edge = edge_module.Edge(settings, runtime_dir=tmp_path / "runtime")
    edge.reloads = []

    async def reload(mode: str, why: str) -> bool:
        edge.reloads.append(mode)
        edge.mode = mode
        return True

    edge.reload = reload

    def serve(cert: x509.Certificate) -> None:
        monkeypatch.setattr(edge_module.certificates, "served", lambda *_args, **_kw: cert)

    edge.serve = serve
    return edge


def test_the_acme_certificate_once_served_switches_to_acme_alone(edge):
    edge.mode = caddy.FALLBACK
    edge.serve(certificate("Example ACME CA", expires_in=3600))
    asyncio.run(edge.look())
    assert edge.reloads == [caddy.ACME]


def test_an_expired_acme_certificate_switches_to_the_temporary_fallback_once(edge):
    """Caddy keeps serving the expired certificate while the fallback's order runs: the edge
    must not take it for a new ACME certificate and switch back, which cancels that order
    (seen as orders failing with 'context canceled' and the hub stuck on an expired or
    temporary certificate)."""
    edge.mode = caddy.ACME
    edge.serve(certificate("Example ACME CA", expires_in=-10))
    for _ in range(3):  # the looks while the fallback's order is under way
        asyncio.run(edge.look())
    assert edge.reloads == [caddy.FALLBACK]

    edge.serve(certificate("Example ACME CA", expires_in=3600))  # the order worked
    asyncio.run(edge.look())
    assert edge.reloads == [caddy.FALLBACK, caddy.ACME]


def test_the_temporary_certificate_keeps_the_fallback(edge):
    edge.mode = caddy.FALLBACK
    edge.serve(certificate(caddy.TEMPORARY_AUTHORITY + " - ECC Intermediate", expires_in=90))
    asyncio.run(edge.look())
    assert edge.reloads == []
