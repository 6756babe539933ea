"""Let's Encrypt's own test ACME server, pebble, with its DNS server, for the HTTPS tests.

Validation is real: pebble looks the domain up in pebble-challtestsrv's DNS (which answers
nothing for a name until the test points it somewhere, like a domain whose DNS is not set up
yet) and fetches the HTTP-01 token from, or makes the TLS-ALPN-01 handshake with, the edge
at the address found. Both come from Debian's pebble package (tests/run installs it); they
run on the host for the edge's own tests, or in a container on a deployment's network.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .hubrig import docker, free_port

PEBBLE = "/usr/bin/pebble"
CHALLTESTSRV = "/usr/bin/pebble-challtestsrv"
#: pebble's ports inside its container (the e2e tests), and its network alias there
DIRECTORY_PORT, MANAGEMENT_PORT, DNS_PORT, DNS_MANAGEMENT_PORT = 14000, 15000, 8053, 8055
ALIAS = "acme"


@dataclass
class AcmeServer:
    directory: str  # the ACME directory, as the edge reaches it
    listener_ca: Path  # PEM of pebble's own HTTPS certificate: the edge must trust it
    management: str  # pebble's management API, as the test reaches it (roots)
    dns_management: str  # pebble-challtestsrv's, as the test reaches it
    read_log: object = field(repr=False, default=None)

    def roots(self) -> str:
        """The root that signs the certificates pebble issues (new at every pebble start)."""
        response = requests.get(
            f"{self.management}/roots/0", verify=str(self.listener_ca), timeout=10
        )
        response.raise_for_status()
        return response.text

    def issued(self) -> list[int]:
        """Serial numbers of the certificates pebble issued so far (each a finished order;
        pebble logs them in hex, with leading zeros)."""
        found = re.findall(r"Issued certificate serial ([0-9a-fA-F]+)", self.read_log())
        return [int(serial, 16) for serial in found]

    def point(self, name: str, address: str) -> None:
        """Make ``name`` resolve to ``address`` alone in the DNS pebble asks (its add-a
        appends: a re-pointed name would keep the old address, which pebble may validate)."""
        self._dns("clear-a", {"host": f"{name}."})
        self._dns("add-a", {"host": f"{name}.", "addresses": [address]})

    def _dns(self, action: str, body: dict) -> None:
        session = requests.Session()
        session.trust_env = False
        response = session.post(f"{self.dns_management}/{action}", data=json.dumps(body), timeout=5)
        assert response.status_code == 200, response.text


def listener_certificate(folder: Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate and key for pebble's own HTTPS listener (made once per
    folder: the edge may have been given the certificate to trust before pebble starts)."""
    cert_file, key_file = folder / "pebble-listener.pem", folder / "pebble-listener.key"
    if cert_file.exists() and key_file.exists():
        return cert_file, key_file
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble listener")])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))] + [x509.DNSName(n) for n in names]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for item in (cert_file, key_file):
        item.chmod(0o644)  # read by pebble in its container, and by the edge's user
    return cert_file, key_file


def pebble_config(
    folder: Path,
    cert: str,
    key: str,
    ports: tuple[int, int],
    listen: tuple[str, str],
    validity: int,
) -> Path:
    """``ports``: the edge's HTTP and HTTPS ports, where validation connects; ``listen``:
    pebble's directory and management addresses."""
    http_port, tls_port = ports
    config = {
        "pebble": {
            "listenAddress": listen[0],
            "managementListenAddress": listen[1],
            "certificate": cert,
            "privateKey": key,
            # where validation connects: the edge's HTTP and HTTPS ports
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            # seconds: short-lived certificates make renewals happen during the tests
            "certificateValidityPeriod": validity,
        }
    }
    path = folder / "pebble-config.json"
    path.write_text(json.dumps(config))
    path.chmod(0o644)
    return path


#: pebble validates at once, and never reuses an earlier validation for a new order
PEBBLE_ENV = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0"}


def _dns_command(bind: str, management: str) -> list[str]:
    # no default answer: a name resolves only once a test points it somewhere
    return [
        CHALLTESTSRV, "-defaultIPv4", "", "-defaultIPv6", "",
        "-dns01", bind, "-management", management,
        "-http01", "", "-https01", "", "-tlsalpn01", "",
    ]  # fmt: skip


@contextmanager
def pebble_on_host(
    folder: Path, http_port: int, tls_port: int, validity: int
) -> Iterator[AcmeServer]:
    """pebble and its DNS as processes on 127.0.0.1 (stopped after, by their pids)."""
    ports = {name: free_port() for name in ("directory", "management", "dns", "dns_management")}
    cert, key = listener_certificate(folder, ["localhost"])
    listen = (f"127.0.0.1:{ports['directory']}", f"127.0.0.1:{ports['management']}")
    pebble_config(folder, str(cert), str(key), (http_port, tls_port), listen, validity)
    log = folder / "pebble.log"
    dns = subprocess.Popen(
        _dns_command(f"127.0.0.1:{ports['dns']}", f"127.0.0.1:{ports['dns_management']}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    with log.open("w") as out:
        pebble = subprocess.Popen(
            [PEBBLE, "-config", str(folder / "pebble-config.json"),
             "-dnsserver", f"127.0.0.1:{ports['dns']}"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **PEBBLE_ENV},
        )  # fmt: skip
    server = AcmeServer(
        directory=f"https://127.0.0.1:{ports['directory']}/dir",
        listener_ca=cert,
        management=f"https://127.0.0.1:{ports['management']}",
        dns_management=f"http://127.0.0.1:{ports['dns_management']}",
        read_log=log.read_text,
    )
    try:
        _wait_answering(server, lambda: f"{log.read_text()}")
        yield server
    finally:
        for process in (pebble, dns):
            process.send_signal(signal.SIGTERM)
            process.wait(10)


@contextmanager
def pebble_in_container(
    name: str, network: str, folder: Path, http_port: int, tls_port: int, validity: int, image: str
) -> Iterator[AcmeServer]:
    """pebble and its DNS in one container on ``network`` (alias ``acme``), their management
    ports published on 127.0.0.1; removed after. The binaries are Debian's, mounted."""
    cert, key = listener_certificate(folder, ["localhost", ALIAS])
    listen = (f"0.0.0.0:{DIRECTORY_PORT}", f"0.0.0.0:{MANAGEMENT_PORT}")
    in_container = ("/acme/pebble-listener.pem", "/acme/pebble-listener.key")
    pebble_config(folder, *in_container, (http_port, tls_port), listen, validity)
    management, dns_management = free_port(), free_port()
    dns_command = _dns_command(f"127.0.0.1:{DNS_PORT}", f"0.0.0.0:{DNS_MANAGEMENT_PORT}")
    dns = " ".join(f"'{part}'" for part in dns_command)
    script = (
        f"{dns} >/dev/null 2>&1 & exec {PEBBLE} -config /acme/pebble-config.json "
        f"-dnsserver 127.0.0.1:{DNS_PORT}"
    )
    docker(
        "run", "-d", "--name", name, "--network", network, "--network-alias", ALIAS,
        "--publish", f"127.0.0.1:{management}:{MANAGEMENT_PORT}",
        "--publish", f"127.0.0.1:{dns_management}:{DNS_MANAGEMENT_PORT}",
        *[f"--env={k}={v}" for k, v in PEBBLE_ENV.items()],
        "--volume", f"{folder}:/acme:ro",
        "--volume", f"{PEBBLE}:{PEBBLE}:ro", "--volume", f"{CHALLTESTSRV}:{CHALLTESTSRV}:ro",
        image, "sh", "-c", script,
    )  # fmt: skip
    server = AcmeServer(
        directory=f"https://{ALIAS}:{DIRECTORY_PORT}/dir",
        listener_ca=cert,
        management=f"https://127.0.0.1:{management}",
        dns_management=f"http://127.0.0.1:{dns_management}",
        read_log=lambda: docker("logs", name, check=False).stdout,
    )
    try:
        _wait_answering(server, lambda: docker("logs", name, check=False).stdout)
        yield server
    finally:
        docker("rm", "-f", name, check=False)


def _wait_answering(server: AcmeServer, logs) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            server.roots()
            server.point("ready.check", "127.0.0.1")
            return
        except (requests.RequestException, AssertionError):
            if time.monotonic() > deadline:
                raise AssertionError(f"pebble did not answer:\n{logs()}") from None
            time.sleep(0.2)


@contextmanager
def resolving_here(name: str) -> Iterator[None]:
    """``name`` resolves to 127.0.0.1 on this machine while the block runs (/etc/hosts; a line
    added here is taken out after), so clients and browsers reach the edge by its domain."""
    hosts = Path("/etc/hosts")
    line = f"127.0.0.1 {name}  # hubdist HTTPS tests\n"
    before = hosts.read_text()
    added = not any(row.split()[1:2] == [name] for row in before.splitlines() if row.strip())
    if added:
        hosts.write_text(before + ("" if before.endswith("\n") else "\n") + line)
    try:
        yield
    finally:
        if added:
            hosts.write_text(hosts.read_text().replace(line, ""))
