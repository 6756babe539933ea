"""OpenID Connect login configured from the environment: Keycloak, Authentik, Google, Azure AD,
a university's identity provider, any provider of OAuth 2.0 with OpenID Connect discovery.

  OIDC_ISSUER                          the provider's issuer URL; its discovery document,
                                       ISSUER/.well-known/openid-configuration, gives the rest
  OIDC_CLIENT_ID, OIDC_CLIENT_SECRET   the client's; or OIDC_CLIENT_ID_FILE, ..._SECRET_FILE
  OAUTH_CALLBACK_URL                   https://HOST/hub/oauth_callback, as registered
  OIDC_ALLOWED_USERS                   user names that may log in
  OIDC_ALLOWED_GROUPS                  groups (from the groups claim) whose members may
  OIDC_ADMIN_GROUPS                    groups whose members are admins (and may log in)
  OIDC_GROUPS_CLAIM                    the user info claim listing the user's groups
                                       (default ``groups``; ``a.b`` for a nested one)
  OIDC_USERNAME_CLAIM                  the claim that names the user (preferred_username)
  OIDC_SCOPES                          the scopes asked for (openid profile email)
  OIDC_LOGIN_SERVICE                   the name on the login button (OpenID Connect)

With a groups setting, the hub's groups follow the provider's: each login sets the user's
JupyterHub groups to the claim's list (``manage_groups``), so profiles, roles and
``allowed_groups`` can use them. oauthenticator 17 does not read discovery documents, so
:class:`OIDCAuthenticator` reads it when the hub starts and says in the log what it found.
The settings go to ``c.GenericOAuthenticator`` (the issuer to ``c.OIDCAuthenticator``), so
config.d can change any of them. See docs/authentication.md.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from oauthenticator.generic import GenericOAuthenticator
from traitlets import Float, Unicode

from . import oauth

AUTHENTICATOR = "hubdist.auth.oidc.OIDCAuthenticator"
DISCOVERY_PATH = "/.well-known/openid-configuration"
DEFAULT_SCOPES = "openid profile email"
DEFAULT_USERNAME_CLAIM = "preferred_username"
DEFAULT_GROUPS_CLAIM = "groups"
#: GenericOAuthenticator's option for each endpoint of the discovery document
ENDPOINTS = {
    "authorize_url": "authorization_endpoint",
    "token_url": "token_endpoint",
    "userdata_url": "userinfo_endpoint",
}

NOBODY_ALLOWED = (
    "OpenID Connect login is configured (a client ID and secret are set) but no rule says "
    "who may log in, so nobody could. Set OIDC_ALLOWED_GROUPS (groups of the groups claim), "
    "OIDC_ALLOWED_USERS, OIDC_ADMIN_GROUPS or HUBDIST_ADMIN_USERS, or allow everyone the "
    "provider signs in explicitly in config.d: c.GenericOAuthenticator.allow_all = True "
    "(see docs/authentication.md)"
)


def settings(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """OIDCAuthenticator trait values from ``environ``; None without credentials."""
    traits: dict[str, Any] | None = oauth.credentials(environ, "OIDC", "OpenID Connect")
    if traits is None:
        return None
    issuer = oauth.url(environ, "OIDC_ISSUER")
    if issuer:
        traits["issuer"] = issuer
    traits["username_claim"] = _single(environ, "OIDC_USERNAME_CLAIM", DEFAULT_USERNAME_CLAIM)
    traits["scope"] = oauth.split(environ.get("OIDC_SCOPES", "").strip() or DEFAULT_SCOPES)
    traits["login_service"] = environ.get("OIDC_LOGIN_SERVICE", "").strip() or "OpenID Connect"
    users = oauth.usernames(environ, "OIDC_ALLOWED_USERS")
    if users:
        traits["allowed_users"] = users
    allowed_groups = oauth.entries(environ, "OIDC_ALLOWED_GROUPS")
    admin_groups = oauth.entries(environ, "OIDC_ADMIN_GROUPS")
    if allowed_groups or admin_groups or environ.get("OIDC_GROUPS_CLAIM", "").strip():
        claim = _single(environ, "OIDC_GROUPS_CLAIM", DEFAULT_GROUPS_CLAIM)
        traits["manage_groups"] = True
        # the user info is kept in the auth state under this key; the claim is a path in it
        traits["auth_state_groups_key"] = f"{OIDCAuthenticator.user_auth_state_key}.{claim}"
        if allowed_groups:
            traits["allowed_groups"] = allowed_groups
        if admin_groups:
            traits["admin_groups"] = admin_groups
    traits.update(oauth.callback(environ))
    return traits


def where(traits: Mapping[str, Any]) -> str:
    """The provider, for the line that says which login mode the hub is in."""
    return traits.get("issuer") or "the endpoints set in config.d"


def _single(environ: Mapping[str, str], variable: str, default: str) -> str:
    value = environ.get(variable, "").strip()
    if len(value.split()) > 1:
        raise oauth.LoginConfigError(f"{variable}={value!r}: name one claim, e.g. {default}")
    return value or default


# -- the discovery document --------------------------------------------------------------------


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + DISCOVERY_PATH


def endpoints(
    issuer: str, document: Mapping[str, Any], wanted: Iterable[str] = tuple(ENDPOINTS)
) -> dict[str, str]:
    """The ``wanted`` endpoint options of GenericOAuthenticator from a discovery document,
    checked.

    The document must name the issuer it was fetched for (OpenID Connect Discovery 1.0,
    section 4.3: a document answering for another issuer is not to be used), and an
    https issuer must not send tokens or codes over plain http.
    """
    where = discovery_url(issuer)
    named = str(document.get("issuer", ""))
    if named.rstrip("/") != issuer.rstrip("/"):
        raise oauth.LoginConfigError(
            f"OIDC_ISSUER={issuer}: the discovery document at {where} is for issuer "
            f"{named or '(none named)'}; set OIDC_ISSUER to the provider's issuer exactly "
            "(for Azure AD: https://login.microsoftonline.com/TENANT-ID/v2.0)"
        )
    found = {}
    for option in wanted:
        key = ENDPOINTS[option]
        value = document.get(key)
        if not isinstance(value, str) or not value:
            raise oauth.LoginConfigError(
                f"OIDC_ISSUER={issuer}: the discovery document at {where} has no {key}; "
                f"set c.GenericOAuthenticator.{option} in config.d"
            )
        if urlsplit(issuer).scheme == "https" and urlsplit(value).scheme != "https":
            raise oauth.LoginConfigError(
                f"OIDC_ISSUER={issuer}: the discovery document at {where} gives {key} "
                f"{value}, which is not https; the provider is misconfigured"
            )
        found[option] = value
    return found


def sends_secret_in_form(document: Mapping[str, Any]) -> bool:
    """Whether the token endpoint takes the client secret in the form (client_secret_post),
    as GenericOAuthenticator sends it by default; if not, HTTP Basic (the standard's default
    when the document names no method)."""
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return "client_secret_post" in methods


class OIDCAuthenticator(oauth.RefusesNobodyAllowed, GenericOAuthenticator):
    """GenericOAuthenticator that finds its endpoints in the issuer's discovery document,
    will not start with nobody allowed, and logs what it found and who may log in."""

    login = "OpenID Connect"
    nobody_allowed = NOBODY_ALLOWED

    issuer = Unicode(
        "",
        config=True,
        help="""The OpenID Connect issuer URL, e.g.
        ``https://keycloak.example.org/realms/hub``. When the hub starts, the endpoints not
        set in the configuration (``authorize_url``, ``token_url``, ``userdata_url``) are
        read from ISSUER/.well-known/openid-configuration, and ``basic_auth`` is turned on if
        the provider does not take the client secret in the form. Unset: those endpoints must
        be configured. Set from OIDC_ISSUER.""",
    )
    discovery_timeout = Float(
        10.0,
        config=True,
        help="""Seconds to wait for the discovery document when the hub starts. A provider
        that does not answer stops the hub with the reason (compose restarts it).""",
    )

    def check_provider(self) -> None:
        # called from check_allow_config, JupyterHub's one check of an authenticator's own
        # config at start: the hub must not start with endpoints it cannot use
        self.discover()

    def where(self) -> str:
        return self.issuer or self.authorize_url

    def allow_rules(self) -> dict[str, Any]:
        return {
            "groups": self.allowed_groups,
            **super().allow_rules(),
            "admin groups": self.admin_groups,
        }

    async def get_user_groups(self, auth_state: dict) -> set[str]:
        # a provider that sends a single group as a plain string would otherwise give the
        # user one group per letter of it (oauthenticator takes set() of the value)
        key = self.auth_state_groups_key
        if isinstance(key, str):
            value: Any = auth_state
            for part in key.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, str):
                return {value}
        return await super().get_user_groups(auth_state)

    def discover(self) -> None:
        """Fill the endpoints config.d left unset from the issuer's discovery document."""
        kept = [option for option in ENDPOINTS if getattr(self, option)]
        unset = [option for option in ENDPOINTS if option not in kept]
        if self.userdata_from_id_token and "userdata_url" in unset:
            unset.remove("userdata_url")  # the user info comes from the id token instead
        if not self.issuer:
            if unset:
                raise self._refuse(
                    "OpenID Connect login needs its provider: set OIDC_ISSUER to the issuer "
                    "URL (e.g. https://keycloak.example.org/realms/hub), or, for a provider "
                    "without discovery, set c.GenericOAuthenticator."
                    + ", ".join(unset)
                    + " in config.d"
                )
            return
        if not unset:
            self.log.info("hubdist: OpenID Connect: every endpoint is set; no discovery needed")
            return
        document = self.fetch_discovery()
        try:
            found = endpoints(self.issuer, document, unset)
        except oauth.LoginConfigError as exc:
            raise self._refuse(str(exc)) from None
        for option, value in found.items():
            setattr(self, option, value)
        if not self.basic_auth and not sends_secret_in_form(document):
            self.basic_auth = True
            secret = "by HTTP Basic, as the provider does not take it in the form"
        else:
            secret = "by HTTP Basic" if self.basic_auth else "in the form"
        self.log.info(
            "hubdist: OpenID Connect discovery from %s: sign-in at %s, tokens from %s "
            "(client secret sent %s), user info from %s%s",
            discovery_url(self.issuer),
            self.authorize_url,
            self.token_url,
            secret,
            self.userdata_url or "the id token",
            f"; kept from the configuration: {', '.join(kept)}" if kept else "",
        )
        if urlsplit(self.issuer).scheme != "https":
            self.log.warning(
                "hubdist: OIDC_ISSUER %s is plain http: codes and tokens cross the network "
                "unencrypted; use https outside a test",
                self.issuer,
            )

    def fetch_discovery(self) -> dict[str, Any]:
        """The issuer's discovery document, trusting what the login's own requests trust."""
        url = discovery_url(self.issuer)
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(
                request, timeout=self.discovery_timeout, context=self._tls_context()
            ) as answer:
                document = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            problem = f"answered {exc.code} {exc.reason}"
        except (OSError, ValueError) as exc:  # unreachable, timed out, bad TLS, not JSON
            problem = f"could not be read: {getattr(exc, 'reason', None) or exc}"
        else:
            if isinstance(document, dict):
                return document
            problem = "is not a JSON object"
        raise self._refuse(
            f"OIDC_ISSUER={self.issuer}: the discovery document {url} {problem}. Check the "
            "issuer URL (for Keycloak: https://HOST/realms/REALM) and that the hub can reach it"
        )

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.http_request_kwargs.get("ca_certs"))
        if not self.validate_server_cert:  # OAUTH_TLS_VERIFY=0, for the login's requests too
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _refuse(self, message: str) -> oauth.LoginRefused:
        return oauth.LoginRefused(message)
