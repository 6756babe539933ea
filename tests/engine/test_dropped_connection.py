"""An engine that closes a kept-alive connection without answering (what a restarted or
overloaded dockerd does to the connections pooled before) costs the hub nothing: the call
goes again on a new connection, once.

The engine is the real one, reached through a relay this test runs in front of its socket;
the relay drops the connection the next request arrives on, before the engine sees it. The
same drop fails a plain docker client: that is what the hub would otherwise show a user.
"""

from __future__ import annotations

import asyncio

import docker
import pytest
import requests

from hubdist.engine import Engine

from .relay import DroppingRelay


@pytest.fixture
def relay(engine_ready, tmp_path):
    made = DroppingRelay(tmp_path / "engine.sock")
    yield made
    made.close()


def test_a_call_on_a_connection_the_engine_dropped_is_sent_again_and_succeeds(relay):
    engine = Engine(client_kwargs={"base_url": f"unix://{relay.path}"})

    async def two_calls() -> tuple[list, list]:
        first = await engine.list_containers()  # leaves a kept-alive connection in the pool
        relay.drop_next()
        second = await engine.list_containers()
        return first, second

    first, second = asyncio.run(two_calls())

    assert relay.dropped == 1
    assert isinstance(first, list) and isinstance(second, list)  # answered, not an error


def test_without_the_retry_the_same_drop_fails_the_call(relay):
    client = docker.APIClient(base_url=f"unix://{relay.path}", version="auto")
    client.containers(all=True)
    relay.drop_next()

    with pytest.raises(requests.exceptions.ConnectionError, match="Connection aborted"):
        client.containers(all=True)
    assert relay.dropped == 1
