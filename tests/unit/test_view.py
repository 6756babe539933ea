"""The event-fed container view: what events and listings do to it (no engine)."""

import asyncio

from hubdist.engine.containers import ContainerState, ContainerView


class ListingEngine:
    """Stands in for the engine's listing call; the view's logic is what is tested."""

    def __init__(self, listed):
        self.listed = listed

    async def list_containers(self, labels=None):
        return self.listed


def event(action, cid, **attributes):
    return {"Action": action, "id": cid, "Actor": {"Attributes": {"name": "c1", **attributes}}}


def test_events_move_a_container_through_its_life_and_report_death_once():
    view = ContainerView(engine=None)
    deaths = []
    view._apply(event("create", "abc"))
    view._apply(event("start", "abc"))
    assert view._by_id["abc"].running
    view.watch("abc", deaths.append)
    view._apply(event("oom", "abc"))
    view._apply(event("die", "abc", exitCode="137"))
    state = view._by_id["abc"]
    assert not state.running and state.exit_code == 137 and state.oom_killed
    assert deaths == [state]
    view._apply(event("destroy", "abc"))
    assert "abc" not in view._by_id and len(deaths) == 1


def test_a_listing_heals_a_missed_death():
    view = ContainerView(engine=ListingEngine([
        {"Id": "abc", "Names": ["/c1"], "State": "exited", "Status": "Exited (3) 1 second ago"},
    ]))  # fmt: skip
    view.note(ContainerState("abc", "c1", running=True))
    deaths = []
    view.watch("abc", deaths.append)
    asyncio.run(view._refresh())
    assert deaths and deaths[0].exit_code == 3
    assert view._by_id["abc"].running is False


def test_a_listing_reports_a_vanished_container():
    view = ContainerView(engine=ListingEngine([]))
    view.note(ContainerState("gone", "c2", running=True))
    deaths = []
    view.watch("gone", deaths.append)
    asyncio.run(view._refresh())
    assert [d.id for d in deaths] == ["gone"] and "gone" not in view._by_id


def test_says_running_only_on_the_events_word_so_the_caller_asks_otherwise():
    view = ContainerView(engine=None)
    assert not view.says_running("abc"), "unknown: ask the engine"
    view._apply(event("create", "abc"))
    assert not view.says_running("abc")
    view._apply(event("start", "abc"))
    assert view.says_running("abc")
    view._apply(event("die", "abc", exitCode="1"))
    assert not view.says_running("abc")


def test_a_listing_gives_a_running_servers_address_until_it_starts_again():
    networks = {"Networks": {"hubdist": {"IPAddress": "172.20.0.5"}}}
    view = ContainerView(engine=ListingEngine([
        {"Id": "abc", "Names": ["/c1"], "State": "running", "Status": "Up 2 hours",
         "Labels": {"org.jupyter.hubdist.managed": "true"}, "NetworkSettings": networks},
        {"Id": "old", "Names": ["/c2"], "State": "exited", "Status": "Exited (0) 1 hour ago",
         "NetworkSettings": networks},
    ]))  # fmt: skip
    asyncio.run(view._refresh())
    listed = view.listed("abc")
    assert listed["NetworkSettings"]["Networks"]["hubdist"]["IPAddress"] == "172.20.0.5"
    assert listed["Config"]["Labels"] == {"org.jupyter.hubdist.managed": "true"}
    assert view.listed("old") is None and view.listed("unknown") is None
    view._apply(event("die", "abc", exitCode="0"))
    view._apply(event("start", "abc"))
    assert view.listed("abc") is None, "restarted: its address may have changed, ask the engine"


class SlowListingEngine:
    """A listing the engine made at once but that reaches the view only when released: the
    events applied meanwhile are newer than what it says."""

    def __init__(self, listed):
        self.listed = listed
        self.sent = asyncio.Event()
        self.release = asyncio.Event()

    async def list_containers(self, labels=None):
        self.sent.set()
        await self.release.wait()
        return self.listed

    async def inspect_container(self, container_id):
        self.sent.set()
        await self.release.wait()
        return {"Id": container_id, "Name": "/c1", "State": {"Running": True, "ExitCode": 0}}


def _race(listed, meanwhile):
    """A refresh whose listing (``listed``) arrives after ``meanwhile(view)`` ran; returns
    the view and the deaths it reported."""
    engine = SlowListingEngine(listed)
    view = ContainerView(engine=engine)
    deaths = []

    async def scenario():
        refresh = asyncio.ensure_future(view._refresh())
        await engine.sent.wait()
        meanwhile(view, deaths)
        engine.release.set()
        await refresh

    asyncio.run(scenario())
    return view, deaths


CREATED = {"Id": "abc", "Names": ["/c1"], "State": "created", "Status": "Created"}


def test_a_listing_older_than_a_start_does_not_take_the_server_back_to_created():
    def started(view, deaths):  # the spawn's start, and its event, while the listing travels
        view._apply(event("create", "abc"))
        view._apply(event("start", "abc"))
        view.note(ContainerState("abc", "c1", running=True))
        view.watch("abc", deaths.append)

    view, deaths = _race([CREATED], started)
    # what the server's poll reads: running, so the hub keeps it (and would stop it)
    assert view.says_running("abc"), "the start is newer than the listing"
    assert deaths == []


def test_a_listing_older_than_a_create_reports_no_death_of_the_new_container():
    def created_and_started(view, deaths):
        view.note(ContainerState("new", "c3", running=True))
        view.watch("new", deaths.append)

    view, deaths = _race([], created_and_started)
    assert view.says_running("new") and deaths == []


def test_a_listing_older_than_a_removal_does_not_bring_the_container_back():
    def removed(view, deaths):
        view._apply(event("destroy", "abc"))

    running = {**CREATED, "State": "running", "Status": "Up 1 second"}
    view, _ = _race([running], removed)
    assert "abc" not in view._by_id


def test_once_no_listing_is_on_its_way_the_next_listing_is_believed_again():
    def started(view, deaths):
        view._apply(event("start", "abc"))

    view, _ = _race([CREATED], started)
    exited = {**CREATED, "State": "exited", "Status": "Exited (2) 1 second ago"}
    view.engine = ListingEngine([exited])  # a later listing: the container died since
    asyncio.run(view._refresh())
    assert not view.says_running("abc") and view._by_id["abc"].exit_code == 2


def test_an_inspect_older_than_a_death_does_not_make_the_container_run_again():
    engine = SlowListingEngine([])
    view = ContainerView(engine=engine)

    async def scenario():
        inspected = asyncio.ensure_future(view._inspect("abc"))  # answered: running
        await engine.sent.wait()
        view._apply(event("die", "abc", exitCode="137"))  # then it died
        engine.release.set()
        return await inspected

    state = asyncio.run(scenario())
    assert not state.running and state.exit_code == 137
    assert not view.says_running("abc")
