"""Caddy's configuration for the edge, one per mode (pure: settings in, JSON out).

Caddy ends TLS in front of configurable-http-proxy and orders, stores and renews the
certificates itself (its ACME implementation, certmagic, is the one Caddy's own users rely
on). Renewal replaces the certificate in Caddy's memory without a configuration reload, so
open connections, kernel websockets included, never notice. A reload (``caddy reload``)
does close open websockets in Caddy 2.6, so the edge reloads only when the mode changes:

- ``fallback``: no valid ACME certificate yet. Issuers in order: ACME, then Caddy's internal
  authority (a temporary certificate, which browsers warn about, so logins never travel in
  the clear). The temporary one is renewed, which means the ACME order is retried first,
  when two thirds of its short life have passed.
- ``acme``: a certificate from the ACME server is held; it alone is renewed (from a third of
  its life before expiry: 30 days for Let's Encrypt's 90) and kept while renewals fail, so a
  failing ACME server never replaces a valid certificate with a temporary one.
- ``own``: the administrator's certificate and key, in the configuration itself, so that a
  replaced file changes the configuration that is loaded.

In ``acme`` and ``own`` modes, where the certificate is one browsers trust, responses carry
Strict-Transport-Security: a browser that once reached the hub then never tries plain HTTP
for it, where a network attacker could answer in its place. Never with the temporary
certificate: a browser would then refuse the warning page a user must click through.
"""

from __future__ import annotations

import json
from typing import Any

from .settings import EdgeSettings

#: the name Caddy's internal authority gives its certificates (and browsers show)
TEMPORARY_AUTHORITY = "hubdist temporary authority"
FALLBACK, ACME, OWN = "fallback", "acme", "own"


def render(
    settings: EdgeSettings, mode: str, admin_socket: str, own_pem: tuple[str, str] = ("", "")
) -> str:
    """Caddy's JSON configuration for ``mode``; ``own_pem``: (certificate, key) for OWN."""
    tls: dict[str, Any] = {"automation": {"renew_interval": f"{settings.check_interval}s"}}
    https_server: dict[str, Any] = {
        "listen": [f":{settings.https_listen}"],
        "protocols": ["h1", "h2"],  # no HTTP/3: the published ports are TCP
        "routes": [
            {
                "match": [{"host": [settings.domain]}],
                "handle": [
                    *([] if mode == FALLBACK else [_hsts(settings)]),
                    {"handler": "reverse_proxy", "upstreams": [{"dial": settings.upstream}]},
                ],
                "terminal": True,
            }
        ],
        # our own redirect below: Caddy's would name the port inside the container
        "automatic_https": {"disable_redirects": True},
    }
    if mode == OWN:
        certificate, key = own_pem
        tls["certificates"] = {"load_pem": [{"certificate": certificate, "key": key}]}
        https_server["automatic_https"]["skip_certificates"] = [settings.domain]
    else:
        issuers: list[dict[str, Any]] = [_acme_issuer(settings)]
        if mode == FALLBACK:
            issuers.append({"module": "internal", "lifetime": f"{settings.fallback_lifetime}s"})
        tls["automation"]["policies"] = [{"subjects": [settings.domain], "issuers": issuers}]
    config = {
        "admin": {"listen": f"unix/{admin_socket}"},
        "logging": {"logs": {"default": {"level": "INFO"}}},
        "storage": {"module": "file_system", "root": str(settings.storage / "caddy")},
        "apps": {
            "http": {
                "http_port": settings.http_listen,
                "https_port": settings.https_listen,
                "servers": {
                    "https": https_server,
                    # answers ACME's HTTP-01 challenges (Caddy does that before any route)
                    # and sends everything else to https://
                    "http": {
                        "listen": [f":{settings.http_listen}"],
                        "routes": [{"handle": [_redirect(settings)]}],
                    },
                },
            },
            "tls": tls,
            # the temporary certificates' authority: never into any trust store
            "pki": {
                "certificate_authorities": {
                    "local": {"install_trust": False, "name": TEMPORARY_AUTHORITY}
                }
            },
        },
    }
    return json.dumps(config, indent=1)


def _acme_issuer(settings: EdgeSettings) -> dict[str, Any]:
    issuer: dict[str, Any] = {
        "module": "acme",
        "ca": settings.acme_directory,
        "email": settings.acme_email,
    }
    if settings.acme_ca_bundle:
        issuer["trusted_roots_pem_files"] = [settings.acme_ca_bundle]
    return issuer


def _redirect(settings: EdgeSettings) -> dict[str, Any]:
    return {
        "handler": "static_response",
        "status_code": 308,
        "headers": {"Location": [settings.public_origin + "{http.request.uri}"]},
    }


def _hsts(settings: EdgeSettings) -> dict[str, Any]:
    value = f"max-age={settings.hsts_max_age}"
    return {"handler": "headers", "response": {"set": {"Strict-Transport-Security": [value]}}}
