"""The JupyterHub hubdist runs: JupyterHub's own application, with one query added before
it checks the servers that were running when it stopped.

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

And it counts the servers before each spawn with fewer steps (:class:`Users`): JupyterHub
walks every user's spawners at every spawn request, asking each spawner whether it is
pending four times and for its server twice; with 500 servers that walk took 2.9 ms of each
spawn (benchmarks S8), the one cost of a spawn that grew with the number of servers.

Run as ``hubdist-hub`` or ``python -m hubdist.services.hub``, with JupyterHub's own options
(``hubdist start`` does, in the hub image).
"""

from __future__ import annotations

import functools
import gc
from collections import defaultdict

from jupyterhub import app, orm
from jupyterhub.spawner import Spawner
from jupyterhub.user import UserDict
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
                if not _states_as_jupyterhub_has_them(type(spawner)):
                    _count_by_its_own_properties(spawner, counts)
                    continue
                pending = spawner.pending
                if pending:
                    counts["pending"] += 1
                    counts[pending + "_pending"] += 1
                    counts["active"] += 1
                elif spawner.server is not None:
                    counts["active"] += 1
                    counts["ready"] += 1
        return counts


def _count_by_its_own_properties(spawner: Spawner, counts: defaultdict) -> None:
    """A spawner class with its own ``ready`` or ``active``: asked as JupyterHub asks."""
    pending = spawner.pending
    if pending:
        counts["pending"] += 1
        counts[pending + "_pending"] += 1
    if spawner.active:
        counts["active"] += 1
    if spawner.ready:
        counts["ready"] += 1


class JupyterHub(app.JupyterHub):
    """JupyterHub, its start-up check of running servers without a query per user. Named as
    JupyterHub's own class: its log lines ("[I ... JupyterHub app:...]"), what it reads of a
    config (``c.JupyterHub``) and its --help stay JupyterHub's."""

    @default("users")
    def _users_default(self):
        return Users(db_factory=lambda: self.db, settings=self.tornado_settings)

    async def init_spawners(self):
        loaded = load_running_users(self.db)  # held, so the session keeps them loaded
        try:
            return await super().init_spawners()
        finally:
            del loaded

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
