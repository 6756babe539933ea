"""Certificates: what one says (names, issuer, validity), the one served, own files checked."""

from __future__ import annotations

import socket
import ssl
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

#: Caddy renews when a third of a certificate's life is left (30 days of Let's Encrypt's 90)
RENEW_WHEN_LEFT = 1 / 3


class CertificateError(ValueError):
    """Certificate files the edge cannot serve; the message says which file and why."""


@dataclass(frozen=True)
class CertificateInfo:
    names: list[str]
    issuer: str
    serial: str
    not_before: str  # ISO 8601, UTC
    not_after: str
    renews_from: str
    #: issued by the edge's own authority while no ACME certificate could be had
    temporary: bool

    def expires(self) -> datetime:
        return datetime.fromisoformat(self.not_after)

    def summary(self) -> str:
        kind = "a TEMPORARY self-signed certificate" if self.temporary else "the certificate"
        return (
            f"serving {kind} for {', '.join(self.names) or '?'} from {self.issuer}, valid "
            f"until {self.not_after} (serial {self.serial}; renewal from {self.renews_from})"
        )

    def as_dict(self) -> dict:
        return asdict(self)


def describe(certificate: x509.Certificate, temporary_authority: str = "") -> CertificateInfo:
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    issuer = _common_name(certificate.issuer)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [_common_name(certificate.subject)]
    return CertificateInfo(
        names=list(names),
        issuer=issuer,
        serial=f"{certificate.serial_number:x}",
        not_before=_iso(start),
        not_after=_iso(end),
        renews_from=_iso(end - (end - start) * RENEW_WHEN_LEFT),
        temporary=bool(temporary_authority) and temporary_authority in issuer,
    )


def served(
    port: int, server_name: str, host: str = "127.0.0.1", timeout: float = 5.0
) -> x509.Certificate:
    """The certificate a TLS server at host:port presents for ``server_name`` (unverified:
    the point is to see what it serves, trusted or not)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError(f"{host}:{port} presented no certificate for {server_name}")
    return x509.load_der_x509_certificate(der)


def load_own(cert_file: Path, key_file: Path, domain: str) -> tuple[str, str, x509.Certificate]:
    """The administrator's certificate chain and key as PEM text, checked: readable, a
    matching pair, covering ``domain``, not expired."""
    cert_pem, key_pem = _read(cert_file, "HUBDIST_TLS_CERT"), _read(key_file, "HUBDIST_TLS_KEY")
    try:
        chain = x509.load_pem_x509_certificates(cert_pem.encode())
    except ValueError as exc:
        raise CertificateError(
            f"HUBDIST_TLS_CERT {cert_file}: not a PEM certificate ({exc}); it must hold the "
            "certificate, then its intermediates, each as -----BEGIN CERTIFICATE-----"
        ) from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(
            f"HUBDIST_TLS_KEY {key_file}: not an unencrypted PEM private key ({exc})"
        ) from None
    leaf = chain[0]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != leaf.public_key().public_bytes(
        encoding, public
    ):
        raise CertificateError(
            f"HUBDIST_TLS_KEY {key_file} is not the key of the certificate in "
            f"HUBDIST_TLS_CERT {cert_file} (the first one there): give the matching pair"
        )
    info = describe(leaf)
    if not covers(info.names, domain):
        raise CertificateError(
            f"HUBDIST_TLS_CERT {cert_file} is for {', '.join(info.names)}, not HUBDIST_DOMAIN="
            f"{domain}: browsers would refuse it"
        )
    if info.expires() <= datetime.now(timezone.utc):
        raise CertificateError(f"HUBDIST_TLS_CERT {cert_file} expired on {info.not_after}")
    return cert_pem, key_pem, leaf


def covers(names: list[str], domain: str) -> bool:
    for name in names:
        name = name.lower()
        if name == domain or (name.startswith("*.") and domain.partition(".")[2] == name[2:]):
            return True
    return False


def _read(path: Path, setting: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise CertificateError(
            f"{setting} {path}: cannot read it ({exc.strerror}); the edge sees HUBDIST_TLS_DIR "
            "at /etc/hubdist/tls, so a relative name is a file in that folder"
        ) from None
    except UnicodeDecodeError:
        raise CertificateError(f"{setting} {path}: not a PEM text file") from None


def _common_name(name: x509.Name) -> str:
    for attribute in name.get_attributes_for_oid(NameOID.COMMON_NAME):
        return str(attribute.value)
    return name.rfc4514_string()


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()
