"""The sync loop, apart from any provider (the engine's behaviour with a
provider is in the scenario suite, ``scenarios.py``)."""

from __future__ import annotations

import asyncio

import pytest

from coach_app.sync import scheduler
from coach_app.sync.engine import SyncResult


async def test_request_sync_wakes_the_loop_for_that_connection(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    synced: asyncio.Queue[int] = asyncio.Queue()

    async def fake_sync(connection_id: int, **_: object) -> SyncResult:
        await synced.put(connection_id)
        return SyncResult(connection_id, ran=True, status="ok")

    monkeypatch.setattr(scheduler, "sync_connection", fake_sync)
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduler.sync_loop(stop, interval=3600, url=sqlite_url))
    try:
        await asyncio.sleep(0)  # let the loop start and go to sleep
        scheduler.request_sync(41)
        assert await asyncio.wait_for(synced.get(), timeout=5) == 41
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=5)
