"""Fixtures for the webhook tests: the real endpoint served over HTTP.

``coach_app.webhooks.with_webhooks`` — the very transformer ``rx.App`` is
given — runs on uvicorn on loopback in front of an empty app, and
``COACH_APP_WEBHOOK_BASE_URL`` points at it, so the Google sandbox really
POSTs its notifications to ``/webhooks/google``. The Google world and the
per-test environment come from the sync tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from sqlmodel import select
from starlette.applications import Starlette
from sync.conftest import _environment, _restore_provider_registry
from sync.google_world import (
    GoogleWorld,
    google_env,
    google_sandbox,
    new_google_world,
)

from coach_app.db import session_scope
from coach_app.models import WatchChannel
from coach_app.webhooks import with_webhooks
from sandbox.google import GoogleSandbox

__all__ = [  # fixtures used from here
    "_environment",
    "_restore_provider_registry",
    "google_env",
    "google_sandbox",
]


@pytest.fixture(scope="session")
def webhook_server() -> Iterator[str]:
    """The webhook routes on uvicorn; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        with_webhooks(Starlette()),  # everything but the webhooks: 404
        log_level="warning",
        access_log=False,
        http="h11",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "no webhook server"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def world(
    sqlite_url: str,
    google_env: GoogleSandbox,
    webhook_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> GoogleWorld:
    """A Google world whose channels notify the webhook server."""
    monkeypatch.setenv("COACH_APP_WEBHOOK_BASE_URL", webhook_server)
    return new_google_world(sqlite_url, google_env)


def channels(world: GoogleWorld) -> dict[int, WatchChannel]:
    """The connection's channel rows by sub-calendar id."""
    with session_scope(world.url) as s:
        rows = s.exec(
            select(WatchChannel).where(
                WatchChannel.connection_id == world.connection_id
            )
        ).all()
    found: dict[int, WatchChannel] = {}
    for row in rows:
        assert row.sub_calendar_id not in found, "two channels for one calendar"
        found[row.sub_calendar_id] = row
    return found


async def eventually(
    condition: Callable[[], bool], what: str, timeout: float = 10.0
) -> None:
    """Wait until ``condition()`` (run in a thread: it may use the database)
    holds, checking every 20 ms, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def next_weekday_at_ten(now: dt.datetime, days_ahead: int = 2) -> dt.datetime:
    """10:00 UTC on the first weekday at least ``days_ahead`` days away."""
    day = (now + dt.timedelta(days=days_ahead)).date()
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(10), dt.UTC)
