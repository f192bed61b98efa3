"""``GET /health``: can this worker serve, and is the background work keeping up?

For load balancers and operators. Answers 200 when the worker is fit and
503 when it is not, always with a JSON body saying why:

- ``database``: a query answers (required);
- ``redis``: PING answers, when ``REFLEX_REDIS_URL`` is set (required then:
  without it this worker's pages miss other workers' changes), and whether
  the live-update subscription (``coach_app.fanout``) is up;
- ``sync_loop``: this worker's background sync loop finished a round
  recently (required: a stuck loop syncs nothing);
- ``email_outbox`` / ``push_outbox``: messages and calendar writes due and
  not done yet, and how long the oldest has waited (information: a backlog
  is not a reason to take a worker out of rotation);
- ``calendar_sync``: connections due for a sync, and how overdue the most
  overdue one is (information).

Mounted with ``with_health`` in the app's ``api_transformer`` list, on the
backend (the single port in production).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from coach_app import fanout
from coach_app.db import read_scope
from coach_app.models import CalendarConnection, EmailOutbox, PushOutbox, utcnow
from coach_app.notify.delivery import MAX_ATTEMPTS
from coach_app.sync import scheduler

PATH = "/health"
CHECK_TIMEOUT = 3.0
# The loop wakes at least every DEFAULT_LOOP_INTERVAL seconds; a few missed
# rounds (a slow database, a busy machine) are not yet a failure.
SYNC_LOOP_STALE_AFTER = max(30.0, 6 * scheduler.DEFAULT_LOOP_INTERVAL)


def _age(since: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if since is None else round((now - since).total_seconds(), 1)


def _database_report() -> dict[str, Any]:
    """One read-only transaction: reachable, and the backlogs."""
    now = utcnow()
    e = EmailOutbox.__table__.c  # type: ignore[attr-defined]
    p = PushOutbox.__table__.c  # type: ignore[attr-defined]
    c = CalendarConnection.__table__.c  # type: ignore[attr-defined]
    started = time.perf_counter()
    with read_scope() as session:
        session.execute(sa.text("SELECT 1"))
        email_due, email_oldest = session.execute(
            sa.select(sa.func.count(), sa.func.min(e.next_attempt_at)).where(
                e.sent_at.is_(None),
                e.next_attempt_at <= now,
                e.attempts < MAX_ATTEMPTS,
            )
        ).one()
        push_due, push_oldest = session.execute(
            sa.select(sa.func.count(), sa.func.min(p.next_attempt_at)).where(
                p.done_at.is_(None), p.next_attempt_at <= now
            )
        ).one()
        sync_due, sync_oldest = session.execute(
            sa.select(
                sa.func.count(),
                sa.func.min(sa.func.coalesce(c.next_sync_at, c.created_at)),
            ).where(sa.or_(c.next_sync_at.is_(None), c.next_sync_at <= now))
        ).one()
    return {
        "database": {
            "ok": True,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
        "email_outbox": {
            "due": email_due,
            "oldest_due_seconds": _age(email_oldest, now),
        },
        "push_outbox": {"due": push_due, "oldest_due_seconds": _age(push_oldest, now)},
        "calendar_sync": {
            "due": sync_due,
            "most_overdue_seconds": _age(sync_oldest, now),
        },
    }


_redis_clients: dict[tuple[int, str], Any] = {}


async def _redis_report(url: str) -> dict[str, Any]:
    from redis import asyncio as aioredis

    key = (id(asyncio.get_running_loop()), url)
    client = _redis_clients.get(key)
    if client is None:
        client = _redis_clients[key] = aioredis.from_url(
            url, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT
        )
    started = time.perf_counter()
    await client.ping()
    return {
        "ok": True,
        "ms": round((time.perf_counter() - started) * 1000, 1),
        "live_updates_subscribed": fanout.connected,
    }


def _sync_loop_report() -> dict[str, Any]:
    beat = scheduler.heartbeat
    if beat is None:
        return {"ok": False, "error": "the sync loop is not running in this worker"}
    ago = time.monotonic() - beat
    report: dict[str, Any] = {
        "ok": ago <= SYNC_LOOP_STALE_AFTER,
        "last_round_seconds_ago": round(ago, 1),
    }
    if not report["ok"]:
        report["error"] = "the sync loop has not finished a round for too long"
    return report


async def health(_request: Request) -> JSONResponse:
    body: dict[str, Any] = {"worker": os.getpid()}
    try:
        body |= await asyncio.wait_for(
            asyncio.to_thread(_database_report), CHECK_TIMEOUT
        )
    except Exception as exc:
        body["database"] = {"ok": False, "error": _plain(exc)}
    url = fanout.redis_url()
    if url:
        try:
            body["redis"] = await asyncio.wait_for(_redis_report(url), CHECK_TIMEOUT)
        except Exception as exc:
            body["redis"] = {"ok": False, "error": _plain(exc)}
    else:
        body["redis"] = {"ok": True, "configured": False}
    body["sync_loop"] = _sync_loop_report()
    fit = all(body[k]["ok"] for k in ("database", "redis", "sync_loop"))
    body["status"] = "ok" if fit else "failing"
    return JSONResponse(body, status_code=200 if fit else 503)


def _plain(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT:.0f} s"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def with_health(app: ASGIApp) -> ASGIApp:
    """An ``api_transformer``: ``GET /health`` first, everything else to ``app``."""
    return Starlette(routes=[Route(PATH, health, methods=["GET"]), Mount("", app=app)])
