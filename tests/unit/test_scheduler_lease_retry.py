"""A sync asked for while another worker holds the lease still happens."""

from __future__ import annotations

import asyncio

from coach_app.sync import scheduler
from coach_app.sync.engine import SyncResult


async def test_a_request_that_meets_a_held_lease_is_served_after_it(
    sqlite_url, monkeypatch
):
    calls: list[int] = []
    done = asyncio.Event()

    async def fake_sync(connection_id: int, url=None, now=None, owner=None):
        calls.append(connection_id)
        if len(calls) < 3:  # another worker is still syncing it
            return SyncResult(connection_id, ran=False)
        done.set()
        return SyncResult(connection_id, ran=True)

    monkeypatch.setattr(scheduler, "sync_connection", fake_sync)
    monkeypatch.setattr(scheduler, "LEASE_RETRY_SECONDS", 0.05)
    monkeypatch.setattr(scheduler, "due_connections", lambda url=None, now=None: [])
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduler.sync_loop(stop, interval=3600, url=sqlite_url))
    try:
        scheduler.request_sync(42)  # e.g. a webhook reaching this worker
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(0.2)
        assert calls == [42, 42, 42]  # retried until it ran, then no more
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)


async def test_a_due_sync_that_meets_a_held_lease_is_left_to_its_holder(
    sqlite_url, monkeypatch
):
    calls: list[int] = []

    async def fake_sync(connection_id: int, url=None, now=None, owner=None):
        calls.append(connection_id)
        return SyncResult(connection_id, ran=False)

    rounds = {"n": 0}

    def due(url=None, now=None):
        rounds["n"] += 1
        return [7] if rounds["n"] == 1 else []

    monkeypatch.setattr(scheduler, "sync_connection", fake_sync)
    monkeypatch.setattr(scheduler, "LEASE_RETRY_SECONDS", 0.05)
    monkeypatch.setattr(scheduler, "due_connections", due)
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduler.sync_loop(stop, interval=0.05, url=sqlite_url))
    try:
        await asyncio.sleep(0.5)
        assert calls == [7]
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)
