"""The engine's shared views on the real engine: a hub started while the engine is down
recovers when it comes back, and a view can be stopped (its event thread ends).

Before the shared base (hubdist.engine.watch), ContainerView kept its failed first listing
and raised on every poll until the hub was restarted, and neither view could be stopped.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from hubdist.engine import Engine, EngineError
from hubdist.engine.containers import ContainerView
from hubdist.engine.swarm import SwarmView

from ..hubrig import PREFIX, TEST_IMAGE, docker
from .relay import DroppingRelay


async def _until(condition, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.1)


@pytest.fixture
def down_engine(engine_ready, tmp_path):
    """An engine whose socket answers only once ``start()`` is called (the relay)."""
    path = tmp_path / "engine.sock"
    relays = []

    class Down:
        engine = Engine(client_kwargs={"base_url": f"unix://{path}"}, call_timeout=5)

        @staticmethod
        def start():
            relays.append(DroppingRelay(path))

    yield Down
    for relay in relays:
        relay.close()


def test_a_container_view_started_while_the_engine_is_down_recovers(down_engine):
    view = ContainerView(down_engine.engine)
    name = f"{PREFIX}-view"

    async def scenario():
        with pytest.raises(EngineError):
            await view.ensure_started()
        down_engine.start()  # the engine is back
        await view.ensure_started()  # listed again, not the old failure
        container = docker("run", "-d", "--name", name, "--entrypoint", "sleep",
                           TEST_IMAGE, "300").stdout.strip()  # fmt: skip
        await _until(lambda: view.says_running(container))  # from its start event
        feed = view._feed
        await view.stop()
        feed.thread.join(10)
        return feed

    try:
        feed = asyncio.run(scenario())
    finally:
        docker("rm", "-f", name, check=False)
    assert not feed.thread.is_alive(), "the event thread ended with the view"
    assert not view.following


def test_a_swarm_view_started_while_the_manager_is_down_recovers(swarm, down_engine):
    view = SwarmView(down_engine.engine, interval=0.2)

    async def scenario():
        with pytest.raises(EngineError):
            await view.ensure_started()
        down_engine.start()
        await view.ensure_started()
        listed = view.listings
        await _until(lambda: view.listings > listed)  # it keeps listing
        await view.stop()
        stopped_at = view.listings
        await asyncio.sleep(1)
        return stopped_at

    stopped_at = asyncio.run(scenario())
    assert view.nodes, "the swarm's nodes were listed"
    assert view.listings == stopped_at and not view.following, "no listing after stop"


def test_a_listing_the_engine_made_before_a_start_does_not_undo_it(engine_ready):
    """A listing takes seconds to come back in a storm (or with 500 containers): one made
    between a server's create and its start must not take it back to "created" once it
    arrives. Before, the server then polled as stopped and the hub forgot it while its
    container ran on (the benchmark's 500-server run lost one)."""
    hold = asyncio.Event()  # set: the next listing is held once the engine made it
    made, release = asyncio.Event(), asyncio.Event()

    class SlowListing(Engine):
        async def list_containers(self, labels=None):
            listed = await super().list_containers(labels)
            if hold.is_set():
                hold.clear()
                made.set()
                await release.wait()
            return listed

    view = ContainerView(SlowListing())
    name = f"{PREFIX}-view-race"

    async def scenario():
        await view.ensure_started()  # following the events, listed
        await _until(lambda: view.listings >= 2)  # and again as the event stream opened
        container = docker("create", "--name", name, "--entrypoint", "sleep",
                           TEST_IMAGE, "300").stdout.strip()  # fmt: skip
        hold.set()
        refresh = asyncio.ensure_future(view._refresh())  # the periodic one, say
        await made.wait()  # made by the engine with the container created, not started
        await asyncio.to_thread(docker, "start", container)
        await _until(lambda: view.says_running(container))  # from its start event
        release.set()
        await refresh
        state = await view.get(container)  # what the server's poll reads
        await view.stop()
        return state

    try:
        state = asyncio.run(scenario())
    finally:
        docker("rm", "-f", name, check=False)
    assert state is not None and state.running, "the listing undid the start"
