"""The background loop that keeps every connection synced.

``sync_loop`` is meant for ``app.register_lifespan_task``: every
``interval`` seconds (or at once when woken) it looks for connections that
are due — ``next_sync_at`` NULL or past, or with due push-outbox rows (so a
new booking reaches the calendar within seconds, not at the next poll) —
whose lease is free, and syncs them, at most ``concurrency`` at a time
(network-bound asyncio tasks; database work runs in threads).

Every worker process runs its own loop; the database lease in
``sync_connection`` guarantees that a connection is synced by one of them at
a time, whichever wins. ``request_sync`` ("Sync now", later webhooks) wakes
the loops of *this* process and makes them sync that connection even if it
is not due; it is safe from any thread, like ``notify.wakeup``. A request
for a connection being synced right now is kept and served once that sync
ends, since the running one may have started before the change — whether
this process runs it or another worker or host holds its lease (then the
request is retried every ``LEASE_RETRY_SECONDS`` until the lease is ours).

Booking changes wake the loop through ``changes.on_coach_change``.
Due push work does not override a connection-wide back-off (after a rate
limit or an unreachable server, ``next_sync_at`` honours ``Retry-After``);
an explicit ``request_sync`` ("Sync now") does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from functools import partial

import sqlalchemy as sa
from sqlmodel import select

from coach_app import changes
from coach_app.db import session_scope
from coach_app.models import CalendarConnection, PushOutbox, utcnow
from coach_app.sync.engine import SyncResult, sync_connection
from coach_app.wake import Waker, wait_woken

log = logging.getLogger(__name__)

DEFAULT_LOOP_INTERVAL = 5.0
DEFAULT_CONCURRENCY = 4
LEASE_RETRY_SECONDS = 1.0

_lock = threading.Lock()
_waker = Waker()
_requested: dict[int, None] = {}  # ordered set
# time.monotonic() when this process's sync loop last looked for work
# (None: not running here); `coach_app.health` reports it.
heartbeat: float | None = None


def request_sync(connection_id: int) -> None:
    """Sync this connection as soon as possible (thread-safe)."""
    with _lock:
        _requested[connection_id] = None
    wake_sync()


def wake_sync() -> None:
    """Make every running sync loop of this process look for work now."""
    _waker.wake()


def _on_coach_change(_coach_id: int) -> None:
    wake_sync()  # a booking may have queued push work


changes.on_coach_change(_on_coach_change)


def _take_requested() -> list[int]:
    with _lock:
        ids = list(_requested)
        _requested.clear()
    return ids


def _put_back(ids: list[int]) -> None:
    with _lock:
        for connection_id in ids:
            _requested[connection_id] = None


def due_connections(
    url: str | None = None, now: dt.datetime | None = None, limit: int = 100
) -> list[int]:
    """Connections to sync now, whose lease is free, most overdue first."""
    now = now or utcnow()
    c = CalendarConnection.__table__.c  # type: ignore[attr-defined]
    o = PushOutbox.__table__.c  # type: ignore[attr-defined]
    lease_free = sa.or_(c.lease_until.is_(None), c.lease_until <= now)
    with session_scope(url) as session:
        scheduled = session.exec(
            select(c.id)
            .where(lease_free, sa.or_(c.next_sync_at.is_(None), c.next_sync_at <= now))
            .order_by(c.next_sync_at.asc().nulls_first(), c.id)
            .limit(limit)
        ).all()
        pushing = session.exec(
            select(c.id)
            .join(PushOutbox, o.connection_id == c.id)
            .where(
                lease_free,
                c.push_enabled.is_(True),
                c.status != "reconnect",
                # A connection-wide failure (rate limit, server down) backs
                # off the whole connection: pending pushes wait for it too.
                sa.or_(
                    c.sync_failures == 0,
                    c.next_sync_at.is_(None),
                    c.next_sync_at <= now,
                ),
                o.done_at.is_(None),
                o.next_attempt_at <= now,
            )
            .distinct()
            .limit(limit)
        ).all()
    return list(dict.fromkeys([*scheduled, *pushing]))


async def run_due(
    url: str | None = None,
    *,
    now: dt.datetime | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[SyncResult]:
    """One round: sync the requested and due connections, then return."""
    ids = list(
        dict.fromkeys(
            [*_take_requested(), *await asyncio.to_thread(due_connections, url, now)]
        )
    )
    gate = asyncio.Semaphore(concurrency)

    async def one(connection_id: int) -> SyncResult:
        async with gate:
            return await sync_connection(connection_id, url=url, now=now)

    return list(await asyncio.gather(*(one(i) for i in ids)))


async def _sync_quietly(
    connection_id: int, url: str | None, requested: bool = False
) -> None:
    try:
        result = await sync_connection(connection_id, url=url)
    except Exception:
        log.exception("sync of connection %s failed", connection_id)
        return
    if requested and not result.ran:
        # Another worker or host holds the lease. Its sync may have begun
        # before the change this request is about (a webhook can reach any
        # worker), so ask again until we get the lease after it.
        _put_back([connection_id])
        asyncio.get_running_loop().call_later(LEASE_RETRY_SECONDS, wake_sync)


async def sync_loop(
    stop: asyncio.Event | None = None,
    interval: float = DEFAULT_LOOP_INTERVAL,
    *,
    url: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> None:
    """Sync due connections until ``stop`` is set or the task is cancelled."""
    loop = asyncio.get_running_loop()
    kicked = asyncio.Event()
    _waker.register(loop, kicked)
    running: dict[int, asyncio.Task[None]] = {}

    def finished(connection_id: int) -> None:
        running.pop(connection_id, None)
        kicked.set()

    global heartbeat
    try:
        while stop is None or not stop.is_set():
            heartbeat = time.monotonic()
            kicked.clear()
            requested = _take_requested()
            try:
                due = await asyncio.to_thread(due_connections, url)
            except Exception:
                log.exception("looking for due calendar syncs failed")
                due = []
            waiting: list[int] = []
            for connection_id in dict.fromkeys([*requested, *due]):
                if connection_id in running or len(running) >= concurrency:
                    if connection_id in requested:
                        waiting.append(connection_id)
                    continue
                task = asyncio.create_task(
                    _sync_quietly(connection_id, url, connection_id in requested)
                )
                running[connection_id] = task
                task.add_done_callback(partial(_forget_task, finished, connection_id))
            _put_back(waiting)
            await wait_woken(kicked, stop, interval)
    finally:
        _waker.unregister(loop, kicked)
        for task in running.values():
            task.cancel()
        if running:
            await asyncio.gather(*running.values(), return_exceptions=True)


def _forget_task(
    finished: Callable[[int], None], connection_id: int, _task: asyncio.Task
) -> None:
    finished(connection_id)
