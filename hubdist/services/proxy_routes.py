"""The proxy's routing table kept by ``hubdist proxy``, so a restarted CHP serves at once.

configurable-http-proxy holds its routes in memory only: after it dies, users' servers are
unreachable until the hub puts their routes back. So the API the hub talks to is
``hubdist proxy``'s own: it hands
every request on to CHP's API (on 127.0.0.1, a port nobody else knows) and remembers each
route change CHP accepted. A new CHP gets that table as soon as its API answers, and route
changes the hub asks for from CHP's death until then wait (up to HOLD_AT_MOST s), so none
is lost, undone or refused: a server whose start ends while CHP restarts gets its route
instead of failing. The hub's own check stays the authority: this only closes the gap
before it.

The hub learns when to check from ``GENERATION`` (``proxy_watch``, every 5 s): an id of
this wrapper's start and the number of CHPs it has started, so a new proxy container (whose
table is empty) or a CHP whose table was rebuilt is checked at once, instead of at the
hub's activity check, every 300 s.

Only what CHP accepted is remembered: a request without the proxy's token (which CHP
refuses) changes nothing here either.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import urllib.parse
import uuid
from collections.abc import Callable

from tornado import httpclient, httpserver, web

#: how long a new CHP gets for its API to answer before the copy is given up
ANSWER_WITHIN = 15.0
#: how long one request to CHP's API may take
CHP_TIMEOUT = 10.0
#: how long a route change waits for a restarting CHP (JupyterHub gives up after 20 s; a
#: CHP that keeps dying is restarted after up to 30 s)
HOLD_AT_MOST = 10.0
ROUTES = "/api/routes"
#: the wrapper's own API path (CHP has only ROUTES): which table the hub is talking to
GENERATION = "/api/hubdist/generation"


class RouteRelay:
    """CHP's REST API as the hub sees it, remembering the routes CHP accepted."""

    def __init__(self, chp_api_url: str, token: str, log: Callable[[str], None]):
        self.chp_api_url = chp_api_url.rstrip("/")
        self.token = token
        self.log = log
        self.routes: dict[str, dict] = {}
        self.started = uuid.uuid4().hex  # this wrapper's start: a new one knows no route
        self.chp_starts = 1  # counted once the new CHP has the table
        self._client = httpclient.AsyncHTTPClient(force_instance=True, max_clients=50)
        self._serving = asyncio.Event()  # clear from CHP's death until it has the table
        self._serving.set()
        self._in_flight = 0  # route changes on their way to CHP
        self._settled = asyncio.Event()
        self._settled.set()

    async def forward(
        self, method: str, uri: str, authorization: str | None, body: bytes | None
    ) -> httpclient.HTTPResponse:
        """``method uri`` on CHP's API; raises OSError if it does not answer."""
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        request = httpclient.HTTPRequest(
            f"{self.chp_api_url}{uri}",
            method=method,
            headers=headers,
            body=body if method in ("POST", "PUT", "PATCH") else None,
            allow_nonstandard_methods=True,
            request_timeout=CHP_TIMEOUT,
        )
        try:
            return await self._client.fetch(request, raise_error=False)
        except httpclient.HTTPClientError as exc:  # 599: no answer in time
            raise OSError(f"no answer from {self.chp_api_url}: {exc}") from None

    async def relay(
        self, method: str, uri: str, authorization: str | None, body: bytes
    ) -> httpclient.HTTPResponse:
        """A request of the hub's, handed on to CHP; a route change CHP accepts is kept."""
        if method not in ("POST", "DELETE"):
            return await self.forward(method, uri, authorization, body)
        if not self._serving.is_set():  # a new CHP gets the table first: this goes after
            try:
                await asyncio.wait_for(self._serving.wait(), HOLD_AT_MOST)
            except asyncio.TimeoutError:
                pass  # handed on all the same: CHP's answer (or none) goes to the hub
        self._in_flight += 1
        self._settled.clear()
        try:
            response = await self.forward(method, uri, authorization, body)
            self._remember(method, uri, body, response.code)
            return response
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._settled.set()

    def _remember(self, method: str, uri: str, body: bytes, status: int) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(uri).path)
        if not path.startswith(ROUTES + "/"):
            return
        route = key(path[len(ROUTES) :])
        if method == "POST" and 200 <= status < 300:
            try:
                self.routes[route] = json.loads(body or b"{}")
            except ValueError:
                pass  # CHP took it, so it was JSON; nothing to keep otherwise
        elif method == "DELETE" and (200 <= status < 300 or status == 404):
            self.routes.pop(route, None)

    def hold(self) -> None:
        """CHP died: route changes wait for the next one to have the table."""
        self._serving.clear()

    async def restore_when_answering(self) -> None:
        """After a restart: wait for the new CHP's API, then write the routes it had;
        route changes held meanwhile go on after, those already on their way finish
        first."""
        self.hold()
        try:
            await self._settled.wait()
            routes = dict(self.routes)
            if not routes:
                return
            if not await self._answers():
                self.log(
                    f"the new proxy's API did not answer in {ANSWER_WITHIN:g} s: no route put back"
                )
                return
            written = await self._write(routes)
            self.log(f"put {written} routes back into the new proxy (the hub checks them next)")
        finally:
            self.chp_starts += 1  # the hub checks this table now (GENERATION)
            self._serving.set()

    def generation(self, authorization: str | None) -> dict | None:
        """What GENERATION answers, or None without the proxy's token."""
        given = (authorization or "").encode(errors="ignore")
        if not hmac.compare_digest(given, f"token {self.token}".encode()):
            return None
        return {"started": self.started, "chp_starts": self.chp_starts}

    async def _answers(self) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_WITHIN
        while loop.time() < deadline:
            try:
                await self.forward("GET", ROUTES, None, None)
                return True  # any answer: 403 without the token is one
            except OSError:
                await asyncio.sleep(0.1)
        return False

    async def _write(self, routes: dict[str, dict]) -> int:
        auth = f"token {self.token}"
        gate = asyncio.Semaphore(10)

        async def put(path: str, route: dict) -> bool:
            body = {k: v for k, v in route.items() if k != "last_activity"}
            uri = ROUTES + urllib.parse.quote(path, safe="/")
            async with gate:
                try:
                    response = await self.forward("POST", uri, auth, json.dumps(body).encode())
                except OSError as exc:
                    self.log(f"could not put the route {path} back: {exc}")
                    return False
            if response.code >= 300:
                self.log(f"could not put the route {path} back: CHP answered {response.code}")
            return response.code < 300

        return sum(await asyncio.gather(*(put(p, r) for p, r in routes.items())))

    def listen(self, port: int, address: str) -> httpserver.HTTPServer:
        """Serve the API the hub talks to on ``address:port``."""
        # no access log of its own: CHP logs every API request it gets
        handlers = [
            (GENERATION, _Generation, {"relay": self}),
            (r"/.*", _Relayed, {"relay": self}),
        ]
        app = web.Application(handlers, log_function=_unlogged)
        return app.listen(port, address, xheaders=False)


def _unlogged(_handler: web.RequestHandler) -> None:
    pass


def key(path: str) -> str:
    """A route's path as CHP keeps it: without a trailing slash, but "/" itself."""
    return path.rstrip("/") or "/"


class _Generation(web.RequestHandler):
    def initialize(self, relay: RouteRelay) -> None:
        self.relay = relay

    def get(self) -> None:
        answer = self.relay.generation(self.request.headers.get("Authorization"))
        if answer is None:
            self.set_status(403)
            self.finish({"message": "the proxy's token is needed"})
        else:
            self.finish(answer)


class _Relayed(web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH")

    def initialize(self, relay: RouteRelay) -> None:
        self.relay = relay

    async def _relay(self, *_args) -> None:
        request = self.request
        try:
            response = await self.relay.relay(
                request.method, request.uri, request.headers.get("Authorization"), request.body
            )
        except OSError as exc:  # CHP is restarting
            self.set_status(502)
            self.finish({"message": f"the proxy is restarting: {exc}"})
            return
        self.set_status(response.code, response.reason)
        self.clear_header("Content-Type")
        if "Content-Type" in response.headers:
            self.set_header("Content-Type", response.headers["Content-Type"])
        if response.body and response.code not in (204, 304):
            self.write(response.body)
        self.finish()

    get = post = delete = put = patch = _relay
