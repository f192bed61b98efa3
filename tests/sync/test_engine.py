"""The engine around the pulls and pushes: credentials, leases, scheduling."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from coach_app import changes
from coach_app.calendars.base import CalendarProvider
from coach_app.calendars.caldav import GENERIC_CALDAV, CalDAVProvider
from coach_app.calendars.errors import RateLimited, Transient
from coach_app.calendars.spec import Credentials
from coach_app.security import secrets
from coach_app.sync import scheduler
from coach_app.sync.engine import SyncResult

from .conftest import (
    NOW,
    AuthShim,
    Spy,
    World,
    WorldFactory,
    at,
    use_factory,
    vevent,
)

TUESDAY = (at(8, 0), at(9, 0))


def require_password(world: World, password: str) -> None:
    """Radicale checks passwords itself; Xandikos gets an authenticating
    front (see ``AuthShim``) with the same effect on the wire."""
    if world.server.name == "xandikos":

        def factory(credentials: Credentials, _tokens: object) -> CalendarProvider:
            return CalDAVProvider(
                credentials.server_url,
                credentials.username,
                credentials.secret,
                transport=AuthShim("coach", password),
            )

        use_factory("caldav", factory)
        world.update_connection(username="coach")
    world.update_connection(secret_encrypted=secrets.encrypt(password))


async def test_revoked_password_asks_to_reconnect_emails_once_and_keeps_busy_times(
    world: World,
) -> None:
    good = world.server.password or "coach-secret"
    require_password(world, good)
    world.put("dentist.ics", vevent("dentist-1", "Dentist", at(8, 10)))
    assert (await world.sync()).status == "ok"
    blocked = world.slots(*TUESDAY)
    assert at(8, 10) not in blocked

    world.update_connection(secret_encrypted=secrets.encrypt("revoked-password"))
    first = await world.sync(now=NOW + dt.timedelta(minutes=1))
    second = await world.sync(now=NOW + dt.timedelta(minutes=5))

    assert (first.status, second.status) == ("reconnect", "reconnect")
    connection = world.connection()
    assert connection.last_error == GENERIC_CALDAV.auth_error_message
    assert (connection.reconnect_notified, connection.sync_failures) == (True, 2)
    # Backed off: not every minute against a revoked password.
    assert connection.next_sync_at == NOW + dt.timedelta(minutes=5, seconds=240)
    reconnect_mails = [
        m.subject
        for m in world.emails(to=world.coach_email)
        if "reconnect" in m.subject
    ]
    assert reconnect_mails == ["Please reconnect your CalDAV calendar (Test server)"]
    assert [r.summary for r in world.external()] == ["Dentist"]
    assert world.slots(*TUESDAY) == blocked

    world.update_connection(secret_encrypted=secrets.encrypt(good))
    fixed = await world.sync(now=NOW + dt.timedelta(minutes=10))

    assert (fixed.status, fixed.error) == ("ok", "")
    connection = world.connection()
    assert (connection.reconnect_notified, connection.sync_failures) == (False, 0)
    assert connection.next_sync_at == NOW + dt.timedelta(minutes=11)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_two_concurrent_syncs_of_one_connection_one_runs_and_one_skips(
    make_world: WorldFactory,
    spy: Spy,
    request: pytest.FixtureRequest,
    database: str,
) -> None:
    world = make_world(url=request.getfixturevalue(f"{database}_url"))
    inside, release = asyncio.Event(), asyncio.Event()

    async def hold_the_first(name: str, cal: str) -> None:
        inside.set()
        await release.wait()

    spy.before = hold_the_first
    first = asyncio.create_task(world.sync())
    second = asyncio.create_task(world.sync())

    done, pending = await asyncio.wait(
        {first, second}, timeout=30, return_when=asyncio.FIRST_COMPLETED
    )
    [skipped], [running] = done, pending
    assert skipped.result() == SyncResult(world.connection_id, ran=False)
    await asyncio.wait_for(inside.wait(), timeout=30)  # the winner, mid-sync
    spy.before = None
    release.set()
    ran = await running

    assert (ran.ran, ran.status) == (True, "ok")
    connection = world.connection()
    assert (connection.lease_owner, connection.lease_until) == (None, None)


async def test_a_new_booking_makes_its_connection_due_before_the_next_poll(
    world: World,
) -> None:
    await world.sync()
    assert scheduler.due_connections(world.url, NOW) == []

    world.book(at(8, 10))

    assert scheduler.due_connections(world.url, NOW) == [world.connection_id]
    [result] = await scheduler.run_due(world.url, now=NOW)
    assert (result.ran, result.pushed) == (True, 1)
    assert scheduler.due_connections(world.url, NOW) == []


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


async def test_rate_limit_keeps_pulled_events_records_the_error_and_backs_off(
    world: World, spy: Spy
) -> None:
    world.put("dentist.ics", vevent("dentist-1", "Dentist", at(8, 10)))
    await world.sync()

    async def slow_down(name: str, cal: str) -> None:
        raise RateLimited("429", retry_after=600)

    spy.before = slow_down
    later = NOW + dt.timedelta(minutes=2)
    result = await world.sync(now=later)

    assert (result.status, result.error) == ("error", RateLimited().user_message)
    connection = world.connection()
    assert connection.next_sync_at == later + dt.timedelta(seconds=600)
    assert connection.sync_failures == 1
    assert [r.summary for r in world.external()] == ["Dentist"]
    assert at(8, 10) not in world.slots(*TUESDAY)


async def test_a_failed_push_is_recorded_and_retried_with_backoff(
    world: World, spy: Spy
) -> None:
    appointment_id = world.book(at(8, 10))

    async def server_error(name: str, cal: str) -> None:
        if name == "create":
            raise Transient("503")

    spy.before = server_error
    result = await world.sync()

    assert (result.status, result.push_failures) == ("error", 1)
    assert result.error == (
        "An appointment could not be written to “Coach App”: "
        + Transient().user_message
    )
    [row] = world.pending_pushes()
    assert (row.attempts, row.next_attempt_at) == (1, NOW + dt.timedelta(seconds=30))
    assert row.last_error == result.error
    assert world.push_calendar_hrefs() == []

    spy.before = None
    retry = await world.sync(now=NOW + dt.timedelta(seconds=30))

    assert (retry.status, retry.pushed) == ("ok", 1)
    assert world.pending_pushes() == []
    pushed = world.pushed(appointment_id)
    assert pushed is not None and pushed.remote_id == world.push_calendar_hrefs()[0]


async def test_change_listeners_hear_about_syncs_that_changed_something(
    world: World,
) -> None:
    heard: list[int] = []
    changes.on_coach_change(heard.append)
    try:
        await world.sync()
        world.put("dentist.ics", vevent("dentist-1", "Dentist", at(8, 10)))
        await world.sync()
        await world.sync()
    finally:
        changes.remove_listener(heard.append)
    assert heard == [world.coach_id]
