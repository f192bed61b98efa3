"""Coach changes relayed between processes over Redis (`coach_app.fanout`).

Runs against the Redis on 127.0.0.1:6379, on a channel prefix of its own, so
other runs on the same server are not disturbed. Another process is played
by a second Redis client publishing with another origin.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest

from coach_app import changes, fanout

REDIS_URL = os.environ.get("COACH_APP_TEST_REDIS", "redis://127.0.0.1:6379/9")


@pytest.fixture
def prefix(monkeypatch) -> str:
    value = f"test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv(fanout.PREFIX_ENV, value)
    return value


async def _relaying(seen: list[int], resyncs: list[int]):
    listener = seen.append
    changes.on_coach_change(listener)
    task = asyncio.create_task(
        fanout.relay(on_resync=lambda: resyncs.append(1), url=REDIS_URL)
    )
    for _ in range(200):  # until subscribed
        if fanout.connected:
            break
        await asyncio.sleep(0.01)
    assert fanout.connected
    return task, listener


async def _stop(task, listener) -> None:
    changes.remove_listener(listener)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _wait_for(predicate, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_changes_travel_both_ways_once(prefix):
    from redis import asyncio as aioredis

    other = aioredis.from_url(REDIS_URL)
    heard: list[bytes] = []
    pubsub = other.pubsub()
    await pubsub.subscribe(fanout.channel())

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                heard.append(message["data"])

    listening = asyncio.create_task(listen())
    seen: list[int] = []
    task, listener = await _relaying(seen, [])
    try:
        # A change here is published, once, as ours.
        changes.coach_changed(7)
        await _wait_for(lambda: heard)
        assert [json.loads(m) for m in heard] == [
            {"origin": fanout.origin(), "coach": 7}
        ]

        # A change elsewhere is applied here and not sent back.
        await other.publish(fanout.channel(), json.dumps({"origin": "x", "coach": 8}))
        await _wait_for(lambda: 8 in seen)
        # Our own message coming back, a malformed one: ignored.
        await other.publish(fanout.channel(), fanout.encode(9))
        await other.publish(fanout.channel(), "not json")
        await other.publish(fanout.channel(), json.dumps({"origin": "y", "coach": 10}))
        await _wait_for(lambda: 10 in seen)
        await asyncio.sleep(0.2)
        assert seen == [7, 8, 10]
        # On the channel: exactly what was published, nothing echoed back.
        assert heard == [
            fanout.encode(7).encode(),
            json.dumps({"origin": "x", "coach": 8}).encode(),
            fanout.encode(9).encode(),
            b"not json",
            json.dumps({"origin": "y", "coach": 10}).encode(),
        ]
    finally:
        await _stop(task, listener)
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await pubsub.aclose()
        await other.aclose()


async def test_a_lost_subscription_is_followed_by_a_resync(prefix, monkeypatch):
    from redis import asyncio as aioredis

    real = aioredis.from_url
    broken = {"left": 1}

    class FlakyClient:
        """The real client, whose first subscription dies under it."""

        def __init__(self, url):
            self.client = real(url)

        def pubsub(self):
            if broken["left"]:
                broken["left"] -= 1
                raise ConnectionError("connection reset")
            return self.client.pubsub()

        def __getattr__(self, name):
            return getattr(self.client, name)

    monkeypatch.setattr(aioredis, "from_url", FlakyClient)
    monkeypatch.setattr(fanout, "RETRY_SECONDS", 0.05)
    seen: list[int] = []
    resyncs: list[int] = []
    changes.on_coach_change(seen.append)
    task = asyncio.create_task(
        fanout.relay(on_resync=lambda: resyncs.append(1), url=REDIS_URL)
    )
    try:
        await _wait_for(lambda: fanout.connected)
        assert resyncs == [1]  # what was sent meanwhile is unknown
        other = real(REDIS_URL)
        await other.publish(fanout.channel(), json.dumps({"origin": "z", "coach": 3}))
        await _wait_for(lambda: 3 in seen)
        await other.aclose()
    finally:
        await _stop(task, seen.append)


async def test_without_redis_nothing_is_relayed(monkeypatch):
    monkeypatch.delenv(fanout.REDIS_ENV, raising=False)
    published_before = fanout.stats["published"]
    task = asyncio.create_task(fanout.relay())
    await asyncio.sleep(0.05)
    changes.coach_changed(11)
    await asyncio.sleep(0.05)
    assert not task.done() and not fanout.connected
    assert fanout.stats["published"] == published_before
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_each_forked_worker_has_a_name_of_its_own():
    """Production workers are forked from a supervisor that imported the app."""
    import multiprocessing

    parent = fanout.origin()
    context = multiprocessing.get_context("fork")
    names = context.Queue()
    workers = [context.Process(target=_child_origin, args=(names,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    children = [names.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert len({parent, *children}) == 3


def _child_origin(names) -> None:
    names.put(fanout.origin())
