"""The JupyterHub hubdist runs: JupyterHub's own application, with less work per server
where the hub goes over all of them (a restart's check, the activity round, the count before
each spawn).

JupyterHub's ``init_spawners`` loads the spawners that have a server along with their users
and each user's other spawners, in a few queries (``selectinload``). But its query also
refreshes every object it loads (``populate_existing``), and the nested load of the users'
spawners, which reloads those same spawners, forgets each one's user again: the users just
loaded are then held by nothing, the session (which holds objects weakly) lets them go, and
each is fetched again on its own when JupyterHub wraps it, five queries a user (the user,
its spawners, groups, roles and shares). Loading those users with their spawners first,
and holding them while JupyterHub checks its servers, lets its lookups find them in the
session: about twenty queries whatever the number of servers. With 500 running servers
``init_spawners`` took 4.1 s, and 2.1 s with this (benchmarks S9, the same machine). Nothing
else changes; the query only loads what is in the database, before JupyterHub reads it.

Once started it also moves what start-up made out of the garbage collector's way
(``gc.freeze``), which shortens the hub's pauses for full collections.

Its round of the users' activity (every ``last_activity_interval``, 5 minutes) reads the
users of the proxy's routes in one query, not one query per route: with 500 servers
JupyterHub's own round held the hub's one thread 0.65 s, this one 0.1-0.2 s (benchmarks S10).

And it counts the servers before each spawn with fewer steps (:class:`Users`): JupyterHub
walks every user's spawners at every spawn request, asking each spawner whether it is
pending four times and for its server twice. With 500 servers the walk cost 0.9 ms of the
hub's CPU (2.9 ms of its one thread in a storm of spawns, benchmarks S8), the one step of a
spawn whose work grew with the number of servers; it costs half of that now.

Run as ``hubdist-hub`` or ``python -m hubdist.services.hub``, with JupyterHub's own options
(``hubdist start`` does, in the hub image).
"""

from __future__ import annotations

import functools
import gc
from collections import defaultdict
from datetime import timezone

from dateutil.parser import parse as parse_date
from jupyterhub import app, orm
from jupyterhub.spawner import Spawner
from jupyterhub.user import UserDict
from jupyterhub.utils import catch_db_error
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from traitlets import default


def load_running_users(db: Session) -> list[orm.User]:
    """Every user with a server in the database, with all of the user's spawners, in one
    round of queries (the users' groups, roles and shares come along: JupyterHub loads
    them with every user)."""
    with_server = select(orm.Spawner.user_id).where(orm.Spawner.server_id.is_not(None))
    return (
        db.query(orm.User)
        .filter(orm.User.id.in_(with_server))
        .options(selectinload(orm.User._orm_spawners))
        .all()
    )


@functools.cache
def _states_as_jupyterhub_has_them(spawner_class: type) -> bool:
    """Whether the class keeps JupyterHub's own ``ready`` and ``active`` (both derived from
    ``pending`` and ``server``), so that they may be derived here once per spawner."""
    return spawner_class.ready is Spawner.ready and spawner_class.active is Spawner.active


class Users(UserDict):
    """JupyterHub's users, counted as JupyterHub counts them (the same figures, which its
    spawn limits and its ``jupyterhub_running_servers`` metric read), each spawner asked once
    whether it is pending and once for its server."""

    def count_active_users(self):
        counts = defaultdict(int)
        for user in self.values():
            for spawner in user.spawners.values():
                pending = spawner.pending
                if pending:
                    counts["pending"] += 1
                    counts[pending + "_pending"] += 1
                if _states_as_jupyterhub_has_them(type(spawner)):
                    ready = not pending and spawner.server is not None
                    active = bool(pending) or ready
                else:  # a class with its own ready or active: asked as JupyterHub asks
                    active, ready = spawner.active, spawner.ready
                if active:
                    counts["active"] += 1
                if ready:
                    counts["ready"] += 1
        return counts


USERS_PER_QUERY = 500  # well under any database's limit of parameters in one statement


def users_named(db: Session, names: set[str]) -> dict[str, orm.User]:
    """The users of these names, with their spawners, a query per ``USERS_PER_QUERY``."""
    ordered = sorted(names)
    found: dict[str, orm.User] = {}
    for first in range(0, len(ordered), USERS_PER_QUERY):
        chunk = ordered[first : first + USERS_PER_QUERY]
        query = db.query(orm.User).filter(orm.User.name.in_(chunk))
        found.update(
            (user.name, user) for user in query.options(selectinload(orm.User._orm_spawners))
        )
    return found


class JupyterHub(app.JupyterHub):
    """JupyterHub, its rounds over every server (start-up check, activity, count) without a
    query or a repeated question per server. Named as JupyterHub's own class: its log lines
    ("[I ... JupyterHub app:...]"), what it reads of a config (``c.JupyterHub``) and its
    --help stay JupyterHub's."""

    @default("users")
    def _users_default(self):
        return Users(db_factory=lambda: self.db, settings=self.tornado_settings)

    async def init_spawners(self):
        loaded = load_running_users(self.db)  # held, so the session keeps them loaded
        try:
            return await super().init_spawners()
        finally:
            del loaded

    @catch_db_error
    async def update_last_activity(self):
        """JupyterHub's round (every ``last_activity_interval``): each route's activity, as
        the proxy saw it, written to its user and server; then the proxy's routes checked.
        JupyterHub's own finds each route's user with a query of its own, 500 queries on
        the hub's one thread with 500 servers; here the users come in a query per
        ``USERS_PER_QUERY``."""
        routes = await self.proxy.get_all_routes()
        seen = [
            (route["data"]["user"], route["data"]["server_name"], route["data"]["last_activity"])
            for route in routes.values()
            if {"user", "server_name", "last_activity"} <= route["data"].keys()
        ]
        users = users_named(self.db, {user for user, _, _ in seen})
        for name, server_name, last_activity in seen:
            user = users.get(name)
            spawner = user.orm_spawners.get(server_name) if user is not None else None
            if spawner is None:
                self.log.warning("Found no %s for route of %s", "spawner" if user else "user", name)
                continue
            when = parse_date(last_activity)
            if when.tzinfo:  # naive UTC, as the database keeps it
                when = when.astimezone(timezone.utc).replace(tzinfo=None)
            user.last_activity = max(user.last_activity or when, when)
            spawner.last_activity = max(spawner.last_activity or when, when)
        self.db.commit()  # a database error: catch_db_error logs it and rolls back
        await self.proxy.check_routes(self.users, self._service_map, routes)

    async def start(self):
        await super().start()
        # What start-up made (modules, classes, config: most of the heap) lives as long as
        # the hub. Frozen, the full collections that come every few dozen spawns no longer
        # walk it: with 500 servers each pauses the hub for about a tenth of a second
        # instead of a quarter (benchmarks S8).
        gc.freeze()


main = JupyterHub.launch_instance

if __name__ == "__main__":
    main()
