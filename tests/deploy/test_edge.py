"""`hubdist edge`: HTTPS in front of the proxy, against a real ACME server (pebble).

The edge runs for real (the wrapper around Debian's Caddy, as in the hub image) on ports of
its own on this machine, in front of a small upstream with an echo websocket; pebble
validates its challenges for real, after looking the domain up in its own DNS. The tests run
in order, as an administrator's week would: the DNS is not pointed at the machine yet, then
it is; certificates renew; the edge restarts; the administrator brings their own certificate.
The e2e test (tests/e2e/test_https.py) does the same through compose with a real hub.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from hubdist.services.edge import issuer_key
from hubdist.tls import caddy, status
from hubdist.tls.certificates import served

from ..acme import pebble_on_host, resolving_here
from ..hubrig import free_port

DOMAIN = "edge.hub.test"
VALIDITY = 60  # seconds: pebble's certificates renew 40 s after they are issued
FALLBACK_LIFETIME = 90  # the temporary certificate (its shortest): an order retried after 60 s
UPSTREAM = """
import asyncio, json, sys, tornado.web, tornado.websocket
class Echo(tornado.websocket.WebSocketHandler):
    def on_message(self, message): self.write_message("echo " + message)
class Headers(tornado.web.RequestHandler):
    def get(self): self.write(json.dumps(dict(self.request.headers)))
async def main():
    app = tornado.web.Application([(r"/ws", Echo), (r"/.*", Headers)])
    app.listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()
asyncio.run(main())
"""


class EdgeProcess:
    """``python -m hubdist edge`` with the given settings; its log in a file."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder, self.env = folder, env
        self.log_file = folder / "edge.log"
        self.process: subprocess.Popen | None = None

    def start(self, **settings: str) -> None:
        self.log_file.write_text("")
        with self.log_file.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hubdist", "edge"],
                env={**self.env, **settings},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)

    def log(self) -> str:
        return self.log_file.read_text()

    @property
    def https_port(self) -> int:
        return int(self.env["HUBDIST_EDGE_HTTPS_LISTEN"])

    def served(self) -> x509.Certificate | None:
        try:
            return served(self.https_port, DOMAIN)
        except (OSError, ssl.SSLError):
            return None

    def wait_for(self, what: str, condition: Callable[[], object], timeout: float) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process and self.process.poll() is None, f"the edge exited:\n{self.log()}"
            found = condition()
            if found:
                return found
            time.sleep(0.5)
        pytest.fail(f"{what} within {timeout} s; the edge's log:\n{self.log()[-6000:]}")


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge")
    http_port, https_port, upstream_port = free_port(), free_port(), free_port()
    upstream = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(upstream_port)])
    with resolving_here(DOMAIN), pebble_on_host(folder, http_port, https_port, VALIDITY) as acme:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HUBDIST_")},
            "HUBDIST_DOMAIN": DOMAIN,
            "HUBDIST_ACME_EMAIL": "admin@hub.test",
            "HUBDIST_ACME_DIRECTORY": acme.directory,
            "HUBDIST_ACME_CA_BUNDLE": str(acme.listener_ca),
            "HUBDIST_HTTPS_PORT": str(https_port),  # public = inside, here
            "HUBDIST_EDGE_HTTP_LISTEN": str(http_port),
            "HUBDIST_EDGE_HTTPS_LISTEN": str(https_port),
            "HUBDIST_EDGE_UPSTREAM": f"127.0.0.1:{upstream_port}",
            "HUBDIST_TLS_STORAGE": str(folder / "storage"),
            "HUBDIST_TLS_STATUS_FILE": str(folder / "status" / "status.json"),
            "HUBDIST_EDGE_RUNTIME_DIR": str(folder / "runtime"),
            "HUBDIST_TLS_FALLBACK_LIFETIME": str(FALLBACK_LIFETIME),
            "HUBDIST_TLS_CHECK_INTERVAL": "2",
        }
        edge = EdgeProcess(folder, env)
        edge.acme = acme
        try:
            yield edge
        finally:
            edge.stop()
            upstream.terminate()
            upstream.wait(10)


def issuer(certificate: x509.Certificate) -> str:
    return certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def trusted(bed: EdgeProcess, folder: Path) -> str:
    """A CA file with pebble's root, as a client that trusts this ACME server has."""
    path = folder / "pebble-root.pem"
    path.write_text(bed.acme.roots())
    return str(path)


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def test_settings_that_cannot_work_stop_the_edge_with_the_fix(bed):
    cases = {
        "HUBDIST_ACME_EMAIL": ({"HUBDIST_ACME_EMAIL": ""}, "HUBDIST_ACME_EMAIL=admin@example.org"),
        "scheme in the domain": (
            {"HUBDIST_DOMAIN": f"https://{DOMAIN}"},
            "write the name alone",
        ),
        "certificate without key": (
            {"HUBDIST_TLS_CERT": "/nonexistent.pem"},
            "HUBDIST_TLS_KEY is not set",
        ),
        "HSTS in words": ({"HUBDIST_HSTS_MAX_AGE": "1y"}, "give whole seconds"),
    }
    for case, (settings, advice) in cases.items():
        result = subprocess.run(
            [sys.executable, "-m", "hubdist", "edge"],
            env={**bed.env, **settings},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2, (case, result.stderr)
        assert advice in result.stderr, (case, result.stderr)


def test_until_an_order_works_a_temporary_certificate_is_served_and_http_redirects(bed):
    """The domain does not resolve yet (pebble's DNS answers nothing for it): the order
    fails, the log says why and what to check, and the hub is served over HTTPS all the
    same, with a temporary certificate; plain HTTP only redirects."""
    bed.start()
    first = bed.wait_for("a certificate served", bed.served, timeout=60)
    assert caddy.TEMPORARY_AUTHORITY in issuer(first)
    failure = bed.wait_for(
        "the failed order explained",
        lambda: [
            line
            for line in bed.log().splitlines()
            if line.startswith("hubdist edge:") and "failed:" in line
        ],
        timeout=60,
    )[0]
    assert f"ordering a certificate for {DOMAIN}" in failure
    assert f"Check that {DOMAIN} resolves to this machine" in failure
    assert "temporary self-signed certificate is served" in failure

    plain = session().get(
        f"http://127.0.0.1:{bed.env['HUBDIST_EDGE_HTTP_LISTEN']}/hub/login?next=%2Fhub%2F",
        headers={"Host": DOMAIN},
        allow_redirects=False,
        timeout=10,
    )
    assert plain.status_code == 308
    assert (
        plain.headers["Location"] == f"https://{DOMAIN}:{bed.https_port}/hub/login?next=%2Fhub%2F"
    )
    # a browser that accepts the warning gets the hub, and the hub hears it came over https
    headers = session().get(f"https://{DOMAIN}:{bed.https_port}/", verify=False, timeout=10)
    assert headers.json()["X-Forwarded-Proto"] == "https"
    # no HSTS with a certificate the browser warns about: it would make the warning final
    assert "Strict-Transport-Security" not in headers.headers
    recorded = bed.wait_for(
        "the status file",
        lambda: (s := status.read(Path(bed.env["HUBDIST_TLS_STATUS_FILE"]))) and s["serving"] and s,
        timeout=15,
    )
    assert recorded["serving"]["temporary"] is True
    assert "resolves to this machine" in recorded["problem"]


def test_once_the_domain_resolves_the_order_is_retried_without_a_restart(bed, tmp_path):
    pid = bed.process.pid
    bed.acme.point(DOMAIN, "127.0.0.1")

    real = bed.wait_for(
        "the ACME certificate served",
        lambda: (cert := bed.served()) and "Pebble" in issuer(cert) and cert,
        timeout=FALLBACK_LIFETIME * 2 / 3 + 40,
    )
    assert bed.process.pid == pid and bed.process.poll() is None
    assert real.serial_number in bed.acme.issued()
    # trusted by a client that trusts the ACME server's root, for the domain
    answer = session().get(f"https://{DOMAIN}:{bed.https_port}/", verify=trusted(bed, tmp_path))
    assert answer.status_code == 200
    # with a trusted certificate, browsers are told to keep to HTTPS (once the edge has
    # switched to serving only the ACME certificate)
    hsts = bed.wait_for(
        "Strict-Transport-Security",
        lambda: (
            session()
            .get(f"https://{DOMAIN}:{bed.https_port}/", verify=trusted(bed, tmp_path), timeout=10)
            .headers.get("Strict-Transport-Security")
        ),
        timeout=30,
    )
    assert hsts == "max-age=31536000"
    bed.wait_for(
        "the status without the old problem",
        lambda: (
            (s := status.read(Path(bed.env["HUBDIST_TLS_STATUS_FILE"])))
            and s["serving"]["temporary"] is False
            and not s["problem"]
        ),
        timeout=15,
    )


def test_a_renewal_keeps_open_websockets_open(bed, tmp_path):
    context = ssl.create_default_context(cafile=trusted(bed, tmp_path))
    # the switch from the temporary certificate reloads the edge: a handshake at that very
    # moment can fail, so wait for the certificate in service rather than read it once
    before = bed.wait_for("the ACME certificate served", bed.served, timeout=30)

    async def echo_across_renewal() -> tuple[str, str]:
        request = HTTPRequest(f"wss://{DOMAIN}:{bed.https_port}/ws", ssl_options=context)
        ws = await websocket_connect(request)
        await ws.write_message("before")
        first = await ws.read_message()
        await asyncio.to_thread(
            bed.wait_for,
            "a renewed certificate",
            lambda: (cert := bed.served()) and cert.serial_number != before.serial_number,
            VALIDITY + 30,
        )
        await ws.write_message("after")
        second = await asyncio.wait_for(ws.read_message(), 10)
        ws.close()
        return first, second

    assert asyncio.run(echo_across_renewal()) == ("echo before", "echo after")
    assert "Pebble" in issuer(bed.served())


def test_a_restart_orders_no_new_certificate(bed):
    """Right after a renewal (so no renewal is due for 40 s): stop, start, same certificate,
    and pebble issued nothing more."""
    held = bed.served()
    issued = bed.acme.issued()

    bed.stop()
    bed.start()
    again = bed.wait_for("a certificate served", bed.served, timeout=30)
    time.sleep(3)  # an order would have started by now (the edge chose its mode at start)

    assert again.serial_number == held.serial_number
    assert bed.acme.issued() == issued
    assert "held in the storage volume" in bed.log()


def test_a_certificate_cut_short_is_set_aside_and_ordered_again(bed):
    """A kill during a renewal's write can leave Caddy's metadata file empty, after which
    Caddy refuses to start at all; the edge sets the damaged folder aside instead."""
    held = bed.served()
    bed.stop()
    folder = issuer_key(bed.acme.directory)
    metadata = Path(bed.env["HUBDIST_TLS_STORAGE"]) / "caddy" / "certificates" / folder / DOMAIN
    metadata = metadata / f"{DOMAIN}.json"
    metadata.write_text("")

    bed.start()
    fresh = bed.wait_for(
        "a certificate ordered again",
        lambda: (cert := bed.served()) and "Pebble" in issuer(cert) and cert,
        timeout=60,
    )
    assert fresh.serial_number != held.serial_number
    assert fresh.serial_number == bed.acme.issued()[-1]
    assert "was cut short" in bed.log()
    assert list(metadata.parent.parent.glob(f"{DOMAIN}.damaged-*"))


def test_an_own_certificate_is_served_and_a_replaced_one_picked_up_without_restart(bed, tmp_path):
    bed.stop()
    authority = Authority()
    cert_file, key_file = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    first = authority.issue(cert_file, key_file, DOMAIN)
    bed.start(
        HUBDIST_TLS_CERT=str(cert_file), HUBDIST_TLS_KEY=str(key_file), HUBDIST_HSTS_MAX_AGE="0"
    )
    bed.wait_for(
        "the own certificate served",
        lambda: (cert := bed.served()) and cert.serial_number == first,
        timeout=30,
    )
    pid = bed.process.pid
    # the admin turned HSTS off: browsers are told to forget it
    answer = session().get(f"https://{DOMAIN}:{bed.https_port}/", verify=False, timeout=10)
    assert answer.headers["Strict-Transport-Security"] == "max-age=0"

    second = authority.issue(cert_file, key_file, DOMAIN)  # as certbot does: new files renamed
    bed.wait_for(
        "the replaced certificate served",
        lambda: (cert := bed.served()) and cert.serial_number == second,
        timeout=30,
    )
    assert bed.process.pid == pid

    # a broken replacement is refused with the reason, and the last good one stays
    seen = len(bed.log())
    Authority().issue(tmp_path / "other.pem", key_file, DOMAIN)
    bed.wait_for(
        "the mismatched key reported",
        lambda: "is not the key of the certificate" in bed.log()[seen:],
        timeout=30,
    )
    assert bed.served().serial_number == second


def test_without_the_edge_the_proxy_refuses_to_serve_an_https_domain_over_http():
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBDIST_")}
    result = subprocess.run(
        [sys.executable, "-m", "hubdist", "proxy"],
        env={**env, "HUBDIST_DOMAIN": DOMAIN, "CONFIGPROXY_AUTH_TOKEN": "x"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "would serve it over plain HTTP" in result.stderr
    assert "docker-compose.https.yml" in result.stderr


class Authority:
    """A certificate authority of the site's own, for the own-certificate mode."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "site authority")])

    def issue(self, cert_file: Path, key_file: Path, domain: str) -> int:
        """Write a new certificate and key for ``domain`` (replacing by rename, as ACME
        clients do); its serial number."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        for path, data in (
            (cert_file, cert.public_bytes(serialization.Encoding.PEM)),
            (
                key_file,
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            ),
        ):
            fresh = path.with_name(path.name + ".new")
            fresh.write_bytes(data)
            os.replace(fresh, path)
        return cert.serial_number
