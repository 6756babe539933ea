"""A stand-in identity provider: OpenID Connect (as Keycloak or Authentik serve it) and GitLab.

Tests cannot reach a real provider, and must not. This serves over plain HTTP what the hub
and a browser see of one, in two shapes on the same server:

  OpenID Connect (issuer: the server's own address)
  GET  /.well-known/openid-configuration   the discovery document
  GET  /authorize                          a login-name page (``?login=NAME`` skips it), then
                                           302 to redirect_uri with code and state
  POST /token                              code (+ client credentials in the form or by HTTP
                                           Basic, only as the document says; PKCE) -> token
  GET  /userinfo                           sub, preferred_username, email, groups

  GitLab (the same server as GITLAB_URL)
  GET  /oauth/authorize, POST /oauth/token  as above
  GET  /api/v4/user, /api/v4/version
  GET  /api/v4/groups/GROUP/members/all/ID  200 for members, else 404 (GROUP escaped once,
                                            a/b as a%2Fb, as GitLab wants it)
  GET  /api/v4/groups?page=N                the user's groups, one a page (a server may give
                                            fewer than asked), X-Next-Page naming the next

  GET  /_calls                              the requests served so far, for tests to look at

Any login name may "sign in"; group memberships are given, as {group: logins} (GitLab paths
too: ``lab/course``). Standard library only; the tests run it in a thread of their own
process, on 127.0.0.1, where the hubs they start reach it as the browser does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, unquote, urlsplit

from .fakegithub import Provider, ProviderHandler, ProviderServer, pkce, single

BOTH_METHODS = ("client_secret_post", "client_secret_basic")


class FakeIdP(Provider):
    """The state: who belongs where, and the codes and tokens handed out."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        groups: dict[str, set[str]],
        auth_methods: tuple[str, ...] = BOTH_METHODS,
    ):
        super().__init__(client_id, client_secret)
        self.groups = groups  # group -> logins (lowercase)
        self.auth_methods = auth_methods  # how the token endpoint takes the client secret
        self.issuer = ""  # set once the server has its address

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": list(self.auth_methods),
            "code_challenge_methods_supported": ["S256"],
        }

    def number(self, login: str) -> int:
        return int(hashlib.sha256(login.lower().encode()).hexdigest()[:8], 16)

    def member_of(self, login: str) -> list[str]:
        return sorted(group for group, logins in self.groups.items() if login.lower() in logins)

    def userinfo(self, login: str) -> dict:
        return {
            "sub": f"sub-{self.number(login)}",
            "preferred_username": login,
            "email": f"{login.lower()}@idp.example.org",
            "groups": self.member_of(login),
        }

    def gitlab_user(self, login: str) -> dict:
        return {"id": self.number(login), "username": login, "name": login.title(),
                "state": "active", "email": f"{login.lower()}@idp.example.org"}  # fmt: skip


class Handler(ProviderHandler):
    server: Server
    json_type = "application/json"

    # -- the browser's side ----------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> None:
        idp = self.server.idp
        if query.get("client_id") != idp.client_id:
            return self.reply(400, "text/html", b"<p>unknown client_id</p>")
        if query.get("response_type") != "code" or not query.get("redirect_uri"):
            return self.reply(400, "text/html", b"<p>response_type=code and redirect_uri</p>")
        login = query.get("login", "").strip()
        if not login:
            page = '<form><input id="login" name="login"><button id="authorize">Sign in</button>'
            return self.reply(200, "text/html; charset=utf-8", page.encode())
        self.grant(login, query)

    # -- the hub's side --------------------------------------------------------------------

    def token(self, form: dict[str, str], methods: tuple[str, ...]) -> None:
        idp = self.server.idp
        client = self.client_credentials(form, methods)
        if client != (idp.client_id, idp.client_secret):
            return self.json(401, {"error": "invalid_client"})
        with idp.lock:
            grant = idp.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code":
            return self.json(400, {"error": "unsupported_grant_type"})
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return self.json(400, {"error": "invalid_grant", "error_description": "bad code"})
        if grant["challenge"] and pkce(form.get("code_verifier", "")) != grant["challenge"]:
            return self.json(400, {"error": "invalid_grant", "error_description": "PKCE"})
        token = secrets.token_hex(20)
        with idp.lock:
            idp.tokens[token] = grant["login"]
        self.json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                        "scope": grant["scope"]})  # fmt: skip

    def client_credentials(
        self, form: dict[str, str], methods: tuple[str, ...]
    ) -> tuple[str, str] | None:
        """The client's ID and secret, given only in one of the ways ``methods`` allows."""
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            if "client_secret_basic" not in methods:
                return None
            client_id, _, secret = base64.b64decode(value).decode().partition(":")
            return unquote(client_id), unquote(secret)
        if "client_secret" in form and "client_secret_post" in methods:
            return form.get("client_id", ""), form["client_secret"]
        return None

    def api(self, path: str, login: str, query: dict[str, str]) -> None:
        idp = self.server.idp
        if path == "/userinfo":
            return self.json(200, idp.userinfo(login))
        if path == "/api/v4/user":
            return self.json(200, idp.gitlab_user(login))
        if path == "/api/v4/version":
            return self.json(200, {"version": "17.5.1-ee", "revision": "fake"})
        if path == "/api/v4/groups":
            return self.group_page(idp.member_of(login), int(query.get("page") or 1))
        parts = path.split("/")  # "", api, v4, groups, GROUP, members, all, ID
        if parts[1:4] == ["api", "v4", "groups"] and parts[5:7] == ["members", "all"]:
            group, user_id = unquote(parts[4]), parts[7]
            logins = idp.groups.get(group, set())
            member = [name for name in logins if str(idp.number(name)) == user_id]
            if member:
                return self.json(200, {**idp.gitlab_user(member[0]), "access_level": 30})
        self.json(404, {"message": "404 Not found"})

    def group_page(self, groups: list[str], page: int) -> None:
        shown = groups[page - 1 : page]
        body = [{"id": self.server.idp.number(path), "full_path": path} for path in shown]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Next-Page", str(page + 1) if page < len(groups) else "")
        data = json.dumps(body).encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # -- plumbing --------------------------------------------------------------------------

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.record()
        idp = self.server.idp
        if url.path == "/.well-known/openid-configuration":
            return self.json(200, idp.discovery())
        if url.path in ("/authorize", "/oauth/authorize"):
            return self.authorize(single(parse_qs(url.query)))
        if url.path == "/_calls":
            with idp.lock:
                return self.json(200, list(idp.calls))
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        with idp.lock:
            login = idp.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if login is None:
            return self.json(401, {"error": "invalid_token"})
        self.api(url.path, login, single(parse_qs(url.query)))

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.record()
        length = int(self.headers.get("Content-Length") or 0)
        form = single(parse_qs(self.rfile.read(length).decode()))
        if url.path == "/token":  # the ways the discovery document names
            return self.token(form, self.server.idp.auth_methods)
        if url.path == "/oauth/token":  # GitLab takes either
            return self.token(form, BOTH_METHODS)
        self.json(404, {"error": "not found"})


class Server(ProviderServer):
    def __init__(self, address, idp: FakeIdP, verbose: bool = True):
        super().__init__(address, Handler, idp, verbose)
        self.idp = idp
        idp.issuer = idp.issuer or f"http://{address[0]}:{self.server_port}"
