"""The proxy's routing table kept by ``hubdist proxy``, so a restarted CHP serves at once.

configurable-http-proxy holds its routes in memory only: after it dies, users' servers are
unreachable until the hub puts their routes back at its next check (every 15 s in the
default configuration). The wrapper that restarts it reads the table every few seconds and
writes the last copy into the new process as soon as its API answers. A route the hub
removed in those last seconds comes back with the rest; the hub's next check removes it
again (a request reaching another server than its user's is refused by that server's own
OAuth check, as any request without its cookie is). The hub's own check stays the
authority: this only closes the gap before it.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

#: seconds between two reads of the table (a route the hub added since the last read waits
#: for the hub's own check after a restart)
READ_EVERY = 5.0
#: how long a new CHP gets for its API to answer before the copy is given up
ANSWER_WITHIN = 15.0


class RouteMemory:
    """Reads CHP's table through its REST API and writes it back into a new CHP."""

    def __init__(self, api_url: str, token: str, log: Callable[[str], None]):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.log = log
        self.routes: dict[str, dict] = {}
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method: str, path: str = "", body: dict | None = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.api_url}/api/routes{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with self._opener.open(request, timeout=5) as response:
            return response.read()

    def read(self) -> None:
        """Keep the current table (unchanged if CHP does not answer)."""
        try:
            self.routes = json.loads(self._call("GET"))
        except (OSError, ValueError):
            pass  # CHP is restarting, or not up yet: the last copy stays

    def restore(self, routes: dict[str, dict]) -> int:
        """Write ``routes`` into CHP; how many were written."""
        written = 0
        for path, route in routes.items():
            body = {key: value for key, value in route.items() if key != "last_activity"}
            try:
                self._call("POST", urllib.parse.quote(path, safe="/"), body)
                written += 1
            except (OSError, ValueError) as exc:
                self.log(f"could not put the route {path} back: {exc}")
        return written

    async def keep_reading(self) -> None:
        while True:
            await asyncio.to_thread(self.read)
            await asyncio.sleep(READ_EVERY)

    async def restore_when_answering(self) -> None:
        """After a restart: wait for the new CHP's API, then write the routes kept before
        it started (taken now: the next read may already see the new, empty table)."""
        routes = dict(self.routes)
        if not routes:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_WITHIN
        while loop.time() < deadline:
            try:
                await asyncio.to_thread(self._call, "GET")
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                await asyncio.sleep(0.1)
        else:
            self.log(
                f"the new proxy's API did not answer in {ANSWER_WITHIN:g} s: no route put back"
            )
            return
        written = await asyncio.to_thread(self.restore, routes)
        self.log(f"put {written} routes back into the new proxy (the hub checks them next)")
