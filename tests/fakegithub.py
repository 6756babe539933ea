"""A stand-in for GitHub's OAuth app flow and the REST calls GitHubOAuthenticator 17.4 makes.

Tests cannot reach GitHub, and must not: this serves, over plain HTTP, what the hub and a
browser see of github.com (or of a GitHub Enterprise Server, whose API is under /api/v3):

  GET  /login/oauth/authorize     a page with a login-name field and an "Authorize" button
                                  (``?login=NAME`` skips it); then 302 to redirect_uri with
                                  code and state, as GitHub does once a user authorizes
  POST /login/oauth/access_token  code (+ client secret, PKCE verifier) -> JSON access_token
  GET  /api/v3/user, /user/emails, /user/teams
  GET  /api/v3/orgs/ORG/members/USER                   204 for members, else 404
  GET  /api/v3/orgs/ORG/teams/TEAM/members/USER        same for teams (what 17.4 calls)
  GET  /api/v3/orgs/ORG/teams/TEAM/memberships/USER    200 {"state": "active"} or 404
  GET  /_calls                    the requests served so far, for tests to look at

Any login name may "sign in"; organizations and teams are given on the command line:
``--member my-org=alice,bob --member my-org:lab=carol``. The client ID and secret the hub
must present are given too, so a wrong one fails here as it would at GitHub.

Standard library only, so it runs in any image with python3 (the tests use the base image).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

API = "/api/v3"


class Provider:
    """What every fake provider keeps: its client, the codes and tokens handed out, and the
    calls it got (tests/fakeidp.py builds on it)."""

    def __init__(self, client_id: str, client_secret: str):
        self.client_id = client_id
        self.client_secret = client_secret
        self.codes: dict[str, dict] = {}  # one use each
        self.tokens: dict[str, str] = {}  # access token -> login
        self.calls: list[str] = []
        self.lock = threading.Lock()


class FakeGitHub(Provider):
    """The state: who belongs where, and the codes and tokens handed out."""

    def __init__(self, client_id: str, client_secret: str, members: dict[str, set[str]]):
        super().__init__(client_id, client_secret)
        self.members = members  # "org" or "org:team" -> logins

    def user(self, login: str) -> dict:
        number = int(hashlib.sha256(login.encode()).hexdigest()[:8], 16)
        # "email": null, as for a user whose address is private; the key must be there
        return {"login": login, "id": number, "name": login.title(), "email": None}

    def teams(self, login: str) -> list[dict]:
        found = []
        for group, logins in sorted(self.members.items()):
            if ":" in group and login.lower() in logins:
                org, slug = group.split(":", 1)
                found.append({"slug": slug, "name": slug, "organization": {"login": org}})
        return found

    def is_member(self, group: str, login: str) -> bool:
        return login.lower() in self.members.get(group.lower(), set())


class ProviderHandler(BaseHTTPRequestHandler):
    """Replies and the record of calls, shared by the fake providers."""

    server: ProviderServer
    protocol_version = "HTTP/1.1"
    json_type = "application/json; charset=utf-8"

    def record(self) -> None:
        with self.server.provider.lock:
            self.server.provider.calls.append(f"{self.command} {self.path}")

    def json(self, status: int, body) -> None:
        self.reply(status, self.json_type, json.dumps(body).encode())

    def grant(self, login: str, query: dict[str, str]) -> None:
        """The user said yes: a one-use code for ``login``, and back to the client with it."""
        code = secrets.token_hex(10)
        with self.server.provider.lock:
            self.server.provider.codes[code] = {
                "login": login,
                "redirect_uri": query["redirect_uri"],
                "scope": query.get("scope", ""),
                "challenge": query.get("code_challenge"),
            }
        target = with_query(query["redirect_uri"], code=code, state=query.get("state", ""))
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def reply(self, status: int, content_type: str = "", body: bytes = b"") -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class ProviderServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler: type, provider: Provider, verbose: bool = True):
        super().__init__(address, handler)
        self.provider = provider
        self.verbose = verbose


class Handler(ProviderHandler):
    server: Server

    # -- the browser's side ----------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> None:
        gh = self.server.github
        if query.get("client_id") != gh.client_id:
            return self.reply(404, "text/html", b"<h1>Not Found</h1><p>unknown client_id</p>")
        if not query.get("redirect_uri"):
            return self.reply(400, "text/html", b"<p>redirect_uri is missing</p>")
        login = query.get("login", "").strip()
        if not login:
            return self.reply(200, "text/html; charset=utf-8", authorize_page(query).encode())
        self.grant(login, query)

    # -- the hub's side --------------------------------------------------------------------

    def access_token(self, form: dict[str, str]) -> None:
        gh = self.server.github
        if (form.get("client_id"), form.get("client_secret")) != (gh.client_id, gh.client_secret):
            return self.oauth_error("incorrect_client_credentials", "wrong client_id or secret")
        with gh.lock:
            grant = gh.codes.pop(form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return self.oauth_error("bad_verification_code", "the code is wrong or expired")
        if grant["challenge"] and pkce(form.get("code_verifier", "")) != grant["challenge"]:
            return self.oauth_error("invalid_grant", "the PKCE code_verifier does not match")
        token = "gho_" + secrets.token_hex(18)
        with gh.lock:
            gh.tokens[token] = grant["login"]
        self.json(200, {"access_token": token, "token_type": "bearer", "scope": grant["scope"]})

    def oauth_error(self, error: str, description: str) -> None:
        # GitHub answers token errors with 200 and the error in the body
        self.json(200, {"error": error, "error_description": description})

    def api(self, path: str, login: str) -> None:
        gh = self.server.github
        if path == "/user":
            return self.json(200, gh.user(login))
        if path == "/user/emails":
            address = f"{login.lower()}@users.example.org"
            return self.json(200, [{"email": address, "primary": True, "verified": True}])
        if path == "/user/teams":
            return self.json(200, gh.teams(login))
        org = re.fullmatch(r"/orgs/([^/]+)/members/([^/]+)", path)
        team = re.fullmatch(r"/orgs/([^/]+)/teams/([^/]+)/(members|memberships)/([^/]+)", path)
        if org and gh.is_member(org[1], org[2]):
            return self.reply(204)
        if team and gh.is_member(f"{team[1]}:{team[2]}", team[4]):
            if team[3] == "members":
                return self.reply(204)
            return self.json(200, {"state": "active", "role": "member"})
        self.json(404, {"message": "Not Found"})

    # -- plumbing --------------------------------------------------------------------------

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.record()
        if url.path == "/login/oauth/authorize":
            return self.authorize(single(parse_qs(url.query)))
        if url.path == "/_calls":
            with self.server.github.lock:
                return self.json(200, list(self.server.github.calls))
        if url.path.startswith(API + "/"):
            login = self.token_login()
            if login is None:
                return self.json(401, {"message": "Bad credentials"})
            return self.api(url.path.removeprefix(API), login)
        self.json(404, {"message": "Not Found"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.record()
        length = int(self.headers.get("Content-Length") or 0)
        form = single(parse_qs(self.rfile.read(length).decode()))
        if url.path == "/login/oauth/access_token":
            return self.access_token(form)
        self.json(404, {"message": "Not Found"})

    def token_login(self) -> str | None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        with self.server.github.lock:
            return self.server.github.tokens.get(token.strip())


class Server(ProviderServer):
    def __init__(self, address, github: FakeGitHub, verbose: bool = True):
        super().__init__(address, Handler, github, verbose)
        self.github = github


def authorize_page(query: dict[str, str]) -> str:
    """GitHub's consent page, reduced to a login field: the same flow for browser and tests."""
    hidden = "\n".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in sorted(query.items())
    )
    scopes = html.escape(query.get("scope") or "(no scope)")
    return f"""<!doctype html>
<html><head><title>Authorize application - fake GitHub</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">
<h1>Fake GitHub</h1>
<p>An application asks to sign you in. Scopes requested: <code id="scopes">{scopes}</code></p>
<form method="get" action="/login/oauth/authorize">
{hidden}
<label>Sign in as <input id="login" name="login" autofocus required></label>
<button id="authorize" type="submit">Authorize</button>
</form>
</body></html>
"""


def pkce(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def single(parsed: dict[str, list[str]]) -> dict[str, str]:
    return {key: values[-1] for key, values in parsed.items()}


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))


def parse_members(entries: list[str]) -> dict[str, set[str]]:
    members: dict[str, set[str]] = {}
    for entry in entries:
        group, _, logins = entry.partition("=")
        names = {name.lower() for name in re.split(r"[\s,]+", logins) if name}
        members.setdefault(group.lower(), set()).update(names)
    return members


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument(
        "--member",
        action="append",
        default=[],
        metavar="ORG[:TEAM]=LOGIN,...",
        help="members of an organization or team; repeatable",
    )
    args = parser.parse_args(argv)
    github = FakeGitHub(args.client_id, args.client_secret, parse_members(args.member))
    server = Server((args.host, args.port), github)
    print(f"fake GitHub listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
