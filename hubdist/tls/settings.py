"""The edge's settings, from its environment: checked once, with errors that say the fix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
#: where the edge's container sees HUBDIST_TLS_DIR (docker-compose.https.yml mounts it)
OWN_CERTIFICATES_DIR = Path("/etc/hubdist/tls")
#: a DNS name of letters, digits and hyphens (no scheme, port, path or wildcard)
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$)({_LABEL}\.)*{_LABEL}$")


class SettingsError(ValueError):
    """A setting the edge cannot run with; the message names it and says what to write."""


@dataclass(frozen=True)
class EdgeSettings:
    domain: str
    #: "acme": certificates ordered over ACME; "own": the administrator's files
    mode: str
    acme_email: str = ""
    acme_directory: str = LETS_ENCRYPT
    #: PEM file of the roots that sign the ACME server's own HTTPS certificate, or ""
    acme_ca_bundle: str = ""
    cert_file: Path | None = None
    key_file: Path | None = None
    #: the public HTTPS port, for redirects (443: left out of URLs)
    https_port: int = 443
    #: the proxy the edge forwards to
    upstream: str = "proxy:8000"
    #: Caddy's storage: ACME account, certificates, locks (a volume)
    storage: Path = Path("/srv/hubdist-tls")
    status_file: Path = Path("/run/hubdist-tls/status.json")
    #: seconds the temporary self-signed certificate lives while an order fails; the order
    #: is retried when two thirds of it have passed
    fallback_lifetime: int = 3600
    #: seconds between Caddy's renewal checks, and between the edge's looks at what it serves
    check_interval: int = 600
    http_listen: int = 8080
    https_listen: int = 8443
    #: seconds browsers keep to HTTPS for the domain once they saw a trusted certificate
    #: (Strict-Transport-Security); 0 sends max-age=0, which makes them forget it
    hsts_max_age: int = 31536000

    @property
    def public_origin(self) -> str:
        port = "" if self.https_port == 443 else f":{self.https_port}"
        return f"https://{self.domain}{port}"


def from_environment(environ: Mapping[str, str]) -> EdgeSettings:
    def get(name: str) -> str:
        return environ.get(name, "").strip()

    domain = check_domain(get("HUBDIST_DOMAIN"))
    cert, key = _own_file(environ, "CERT"), _own_file(environ, "KEY")
    if bool(cert) != bool(key):
        missing = "HUBDIST_TLS_KEY" if cert else "HUBDIST_TLS_CERT"
        raise SettingsError(
            f"{missing} is not set: your own certificate needs both HUBDIST_TLS_CERT (the "
            "certificate chain, PEM) and HUBDIST_TLS_KEY (its private key, PEM); unset both "
            "to have certificates ordered over ACME"
        )
    email = get("HUBDIST_ACME_EMAIL")
    common = dict(
        domain=domain,
        https_port=_port(get("HUBDIST_HTTPS_PORT") or "443", "HUBDIST_HTTPS_PORT"),
        upstream=get("HUBDIST_EDGE_UPSTREAM") or "proxy:8000",
        storage=Path(get("HUBDIST_TLS_STORAGE") or "/srv/hubdist-tls"),
        status_file=Path(get("HUBDIST_TLS_STATUS_FILE") or "/run/hubdist-tls/status.json"),
        fallback_lifetime=_seconds(environ, "HUBDIST_TLS_FALLBACK_LIFETIME", 3600, least=90),
        check_interval=_seconds(environ, "HUBDIST_TLS_CHECK_INTERVAL", 600, least=1),
        hsts_max_age=_seconds(environ, "HUBDIST_HSTS_MAX_AGE", 31536000, least=0),
        # the ports inside the edge's container (compose publishes them on 80 and 443)
        http_listen=_port(get("HUBDIST_EDGE_HTTP_LISTEN") or "8080", "HUBDIST_EDGE_HTTP_LISTEN"),
        https_listen=_port(get("HUBDIST_EDGE_HTTPS_LISTEN") or "8443", "HUBDIST_EDGE_HTTPS_LISTEN"),
    )
    if cert:
        return EdgeSettings(mode="own", cert_file=cert, key_file=key, **common)
    if not email or "@" not in email:
        raise SettingsError(
            f"HUBDIST_ACME_EMAIL={email!r}: certificates are ordered from an ACME server "
            f"(HUBDIST_DOMAIN={domain}), which wants a contact address for the account, e.g. "
            "HUBDIST_ACME_EMAIL=admin@example.org; or use your own certificate with "
            "HUBDIST_TLS_CERT and HUBDIST_TLS_KEY (docs/https.md)"
        )
    directory = get("HUBDIST_ACME_DIRECTORY") or LETS_ENCRYPT
    if not directory.startswith("https://"):
        raise SettingsError(
            f"HUBDIST_ACME_DIRECTORY={directory!r} is not an https:// URL: use the ACME "
            f"server's directory, e.g. {LETS_ENCRYPT} (or {LETS_ENCRYPT_STAGING} to try)"
        )
    bundle = get("HUBDIST_ACME_CA_BUNDLE")
    if bundle and not Path(bundle).is_file():
        raise SettingsError(
            f"HUBDIST_ACME_CA_BUNDLE={bundle}: no such file in the edge's container; it names "
            "a PEM file of the roots that sign your ACME server's HTTPS certificate"
        )
    return EdgeSettings(
        mode="acme", acme_email=email, acme_directory=directory, acme_ca_bundle=bundle, **common
    )


def public_origin(environ: Mapping[str, str]) -> str:
    """https://DOMAIN[:PORT], where users reach the hub when the edge serves HTTPS
    (HUBDIST_DOMAIN set), else ""; for the hub's public_url and OAuth callbacks."""
    if not environ.get("HUBDIST_DOMAIN", "").strip():
        return ""
    port = _port(environ.get("HUBDIST_HTTPS_PORT", "").strip() or "443", "HUBDIST_HTTPS_PORT")
    return EdgeSettings(
        check_domain(environ["HUBDIST_DOMAIN"]), "acme", https_port=port
    ).public_origin


def check_domain(value: str) -> str:
    name = value.lower().rstrip(".")
    if not name:
        raise SettingsError("HUBDIST_DOMAIN is not set: the edge serves the hub on this name")
    if not _HOST_NAME.match(name) or "." not in name and name != "localhost":
        raise SettingsError(
            f"HUBDIST_DOMAIN={value!r} is not a host name: write the name alone, without "
            "scheme, port or path, e.g. HUBDIST_DOMAIN=hub.example.org"
        )
    return name


def _own_file(environ: Mapping[str, str], which: str) -> Path | None:
    """HUBDIST_TLS_CERT or its synonym HUBDIST_TLS_CERT_FILE (likewise KEY): a path in the
    edge's container; a relative one is in HUBDIST_TLS_DIR (mounted at /etc/hubdist/tls)."""
    plain = environ.get(f"HUBDIST_TLS_{which}", "").strip()
    file_ = environ.get(f"HUBDIST_TLS_{which}_FILE", "").strip()
    if plain and file_ and plain != file_:
        raise SettingsError(
            f"HUBDIST_TLS_{which}={plain} and HUBDIST_TLS_{which}_FILE={file_} disagree: "
            "they are the same setting, set one"
        )
    value = plain or file_
    return OWN_CERTIFICATES_DIR / value if value else None


def _port(value: str, name: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SettingsError(f"{name}={value!r} is not a port number (1-65535)")
    return int(value)


def _seconds(environ: Mapping[str, str], name: str, default: int, least: int) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < least:
        raise SettingsError(f"{name}={value!r}: give whole seconds, at least {least}")
    return int(value)
