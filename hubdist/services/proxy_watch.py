"""The hub's side of ``hubdist proxy``: a proxy whose table was rebuilt is checked at once.

JupyterHub notices a proxy it did not start losing its routes only at its activity check
(``JupyterHub.last_activity_interval``, every 300 s), which also reads every route and
looks each one's user up in the database: making that check frequent to catch a restarted
proxy sooner costs the idle hub work in proportion to its servers. Instead, every
``check_running_interval`` s (5) this asks the proxy's wrapper for its table's generation
(``proxy_routes.GENERATION``: one small request, whatever the number of servers) and runs
JupyterHub's own route check when it changed: a new proxy container (empty table), or a
CHP its wrapper restarted.

A proxy the hub starts itself is JupyterHub's to watch (``should_start``). A proxy without
the generation (plain configurable-http-proxy, an older hubdist) is said once in the log:
its restarts are caught by the activity check only; it is still asked, so the hub notices
when another proxy (an upgraded one) takes its place.
"""

from __future__ import annotations

import json

from jupyterhub.proxy import ConfigurableHTTPProxy
from tornado import httpclient, ioloop

from .proxy_routes import GENERATION

#: how long one look at the generation may take
ASK_TIMEOUT = 5.0
#: the generation of a proxy that cannot say (no GENERATION: not ``hubdist proxy``)
PLAIN = "plain configurable-http-proxy"


class RestartWatchingProxy(ConfigurableHTTPProxy):
    """ConfigurableHTTPProxy that checks every route as soon as an external ``hubdist
    proxy`` rebuilt its table (a new container, a restarted configurable-http-proxy)."""

    _watch: ioloop.PeriodicCallback | None = None
    _generation: dict | str | None = None
    _said_plain = False

    async def check_routes(self, user_dict, service_dict, routes=None):
        # JupyterHub's first check, as it starts, begins the watch: what the proxy holds
        # from here on is known to be right
        if self._watch is None and not self.should_start:
            self._generation = await self._ask_generation()
            self._watch = ioloop.PeriodicCallback(
                self._check_if_rebuilt, 1e3 * self.check_running_interval
            )
            self._watch.start()
        return await super().check_routes(user_dict, service_dict, routes)

    async def _check_if_rebuilt(self) -> None:
        now = await self._ask_generation()
        if now is None or now == self._generation:
            return  # not answering (restarting: looked at again next time), or unchanged
        before, self._generation = self._generation, now
        if before is None:
            why = "the proxy answers again"  # it did not as the hub started: unknown table
        elif now == PLAIN or before == PLAIN:
            why = "another proxy"  # e.g. an upgrade from, or a rollback to, a plain one
        elif now["started"] != before["started"]:
            why = "a new proxy"
        else:
            why = "its configurable-http-proxy restarted"
        self.log.info("The proxy's route table was rebuilt (%s): checking every route now", why)
        await self.check_routes(self.app.users, self.app._service_map)

    async def _ask_generation(self) -> dict | str | None:
        """The proxy's generation; PLAIN if it cannot say; None if it does not answer now."""
        request = httpclient.HTTPRequest(
            self.api_url.rstrip("/") + GENERATION,
            headers={"Authorization": f"token {self.auth_token}"},
            request_timeout=ASK_TIMEOUT,
        )
        try:
            response = await httpclient.AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, httpclient.HTTPClientError) as exc:
            self.log.debug("The proxy did not say its route table's generation: %s", exc)
            return None
        if response.code == 404:
            if not self._said_plain:
                self._said_plain = True
                self.log.warning(
                    "The proxy at %s is not hubdist proxy (no %s): if it restarts, its "
                    "routes come back at the hub's activity check, every %s s "
                    "(JupyterHub.last_activity_interval)",
                    self.api_url,
                    GENERATION,
                    self.app.last_activity_interval,
                )
            return PLAIN
        if response.code != 200:
            self.log.debug("The proxy answered %s for its generation", response.code)
            return None
        return json.loads(response.body)
