"""Failures the convergence state machine found, shrunk and kept by name.

Each runs on the in-memory provider through the same world as the scenario
suite; the machine itself is in ``convergence.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from memory_provider import EMPTY_LISTING, MemoryProvider, registered
from remotes.memory import MemoryRemote

from coach_app.calendars.base import calendar_id
from coach_app.db import session_scope
from coach_app.models import SyncCursor
from coach_app.services import booking
from coach_app.sync.switches import on_push_switch

from .world import NOW, World, at, build_world


@pytest.fixture
def world(sqlite_url: str) -> Iterator[World]:
    with registered():
        remote = MemoryRemote()
        yield build_world(sqlite_url, remote)
        remote.close()


def push_switch(world: World, enabled: bool) -> None:
    with session_scope(world.url) as s:
        on_push_switch(s, world.connection_id, enabled)


async def test_an_appointment_cancelled_while_push_was_off_leaves_the_calendar_when_it_is_back_on(
    world: World,
) -> None:
    appointment_id = world.book(at(8, 10))
    await world.sync()
    [event_id] = world.push_ids()

    push_switch(world, False)
    with session_scope(world.url) as s:
        booking.cancel(s, world.coach_id, appointment_id)
    await world.sync()
    assert world.push_ids() == [event_id]  # push off: nothing is removed

    push_switch(world, True)
    await world.sync(now=NOW)

    assert world.push_ids() == []
    assert world.pushed(appointment_id) is None
    assert world.pending_pushes() == []


async def test_an_empty_listing_when_nothing_is_held_does_not_hide_later_events(
    world: World,
) -> None:
    """A server that wrongly answers "empty" (with a cursor) for a calendar
    the app holds nothing of: the next sync still finds the events."""
    assert isinstance(world.remote, MemoryRemote)
    world.add("Dentist", at(8, 10))
    world.remote.server.fail(EMPTY_LISTING)

    first = await world.sync()

    assert (first.status, world.external()) == ("ok", [])
    await world.sync()
    assert [r.summary for r in world.external()] == ["Dentist"]


async def test_an_appointment_deleted_outside_is_put_back_in_the_sync_that_sees_it(
    world: World,
) -> None:
    """The push calendar's daily full listing comes back empty (the coach
    deleted our only event there) and is held; pushing the next booking
    makes the echo pull see the deletion. With Cancellation Notification
    off the appointment goes back in that same sync, not the next one."""
    first = world.book(at(8, 10))
    await world.sync()
    second = world.book(at(8, 11))
    with session_scope(world.url) as s:
        s.exec(sa.update(SyncCursor).values(full_sync_at=None))
    world.remote.delete(world.push_cal, world.push_event_id(first))
    world.update_connection(cancellation_notification=False)

    await world.sync()

    assert world.push_ids() == sorted(
        [world.push_event_id(first), world.push_event_id(second)]
    )
    assert world.appointment(first).status == "confirmed"
    assert world.pending_pushes() == []
    assert len(world.notices()) == 1


async def test_an_appointment_deleted_outside_before_its_echo_is_pulled_is_cancelled(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The coach deletes our new event in the moment between our create and
    the echo pull, and the server (like EWS and Xandikos) reports nothing
    for an event created and deleted after the cursor: the sync still sees
    the deletion and cancels the appointment, instead of believing the event
    is there forever."""
    assert isinstance(world.remote, MemoryRemote)
    server = world.remote.server
    server.forgets_short_lived = True
    kept = world.book(at(8, 9))
    await world.sync()
    await world.sync()  # the push calendar has a cursor
    created = MemoryProvider.create

    async def create_then_deleted_outside(self, calendar, event, key):  # type: ignore[no-untyped-def]
        answer = await created(self, calendar, event, key)
        server.remove(calendar_id(calendar), answer[0])
        return answer

    monkeypatch.setattr(MemoryProvider, "create", create_then_deleted_outside)
    appointment_id = world.book(at(8, 10))

    await world.sync()

    assert world.push_ids() == [world.push_event_id(kept)]
    assert world.appointment(appointment_id).status == "cancelled"
    assert world.appointment(kept).status == "confirmed"
    assert world.pending_pushes() == []


async def test_the_only_appointment_deleted_outside_before_its_echo_is_cancelled(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same moment in an empty push calendar, which is listed in full:
    the listing comes back empty, and because our lookup confirms the event
    is gone this is not mistaken for a server fault and held for an hour."""
    await world.sync()
    created = MemoryProvider.create

    async def create_then_deleted_outside(self, calendar, event, key):  # type: ignore[no-untyped-def]
        answer = await created(self, calendar, event, key)
        world.remote.delete(calendar_id(calendar), answer[0])
        return answer

    monkeypatch.setattr(MemoryProvider, "create", create_then_deleted_outside)
    appointment_id = world.book(at(8, 10))

    result = await world.sync()

    assert (result.status, result.error) == ("ok", "")
    assert world.push_ids() == []
    assert world.appointment(appointment_id).status == "cancelled"
