"""hubdist-hub counts servers before each spawn as JupyterHub does, in fewer steps
(hubdist.services.hub.Users): the figures its spawn limits read must not change."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

from jupyterhub.spawner import Spawner
from jupyterhub.user import UserDict

from hubdist.services.hub import JupyterHub, Users


class Asked(Spawner):
    """A spawner in a chosen state, counting how often it is asked whether it is pending."""

    asked = 0

    @property
    def pending(self):
        type(self).asked += 1
        return super().pending

    async def start(self):
        raise NotImplementedError

    async def stop(self, now=False):
        raise NotImplementedError

    async def poll(self):
        raise NotImplementedError


class ReadyWhenAllowed(Asked):
    """A spawner class with its own idea of ready: counted by its own properties."""

    allowed = False

    @property
    def ready(self):
        return self.allowed and super().ready


def spawner(cls, pending: str | None, has_server: bool, allowed: bool = False) -> Spawner:
    made = cls()
    made.allowed = allowed
    made._spawn_pending = pending == "spawn"
    made._stop_pending = pending == "stop"
    made._check_pending = pending == "check"
    made._server = SimpleNamespace(url="http://10.0.0.2:8888/") if has_server else None
    return made


def users_in_every_state(dict_class) -> UserDict:
    users = dict_class(db_factory=lambda: None, settings={})
    states = itertools.product(
        [None, "spawn", "stop", "check"], [False, True], [Asked, ReadyWhenAllowed], [False, True]
    )
    for user_id, (pending, has_server, cls, allowed) in enumerate(states):
        spawners = {"": spawner(cls, pending, has_server, allowed)}
        dict.__setitem__(users, user_id, SimpleNamespace(spawners=spawners))
    return users


def test_the_counts_are_jupyterhubs_own_for_every_state_of_a_server():
    theirs = UserDict.count_active_users(users_in_every_state(UserDict))
    ours = users_in_every_state(Users).count_active_users()
    assert dict(ours) == dict(theirs)
    assert ours["active"] and ours["ready"] and ours["spawn_pending"] and ours["stop_pending"]
    assert ours["missing"] == 0  # a defaultdict, as JupyterHub's callers expect


def test_each_spawner_is_asked_once_whether_it_is_pending():
    users = Users(db_factory=lambda: None, settings={})
    for user_id in range(50):
        spawners = {"": spawner(Asked, None, has_server=True)}
        dict.__setitem__(users, user_id, SimpleNamespace(spawners=spawners))
    Asked.asked = 0
    counts = users.count_active_users()
    assert counts["ready"] == 50
    # JupyterHub's own count asks four times (directly, and through ready and active)
    assert Asked.asked == 50, f"{Asked.asked} asks for 50 spawners"


def test_the_hub_keeps_its_users_in_the_counting_dict():
    hub = JupyterHub(tornado_settings={"hubdist": True})
    assert isinstance(hub.users, Users)
