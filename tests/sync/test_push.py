"""Pushing appointments: exactly once across a crash, reschedule, cancel."""

from __future__ import annotations

import pytest

from coach_app.db import session_scope
from coach_app.services import booking
from coach_app.sync.content import MANAGED_NOTE

from .conftest import NOW, SimulatedCrash, Spy, World, at


async def test_push_creates_exactly_one_event_even_when_retried_after_a_crash(
    world: World, spy: Spy
) -> None:
    appointment_id = world.book(at(8, 10))

    async def crash_after_create(name: str, cal: str, result: object) -> object:
        if name == "create":
            raise SimulatedCrash()  # the server made it; we never hear back
        return result

    spy.after = crash_after_create
    with pytest.raises(SimulatedCrash):
        await world.sync()
    assert len(world.push_calendar_hrefs()) == 1
    pushed = world.pushed(appointment_id)
    assert pushed is not None and pushed.remote_id == ""
    assert [p.action for p in world.pending_pushes()] == ["upsert"]

    spy.after = None
    result = await world.sync()

    assert (result.status, result.pushed) == ("ok", 1)
    [href] = world.push_calendar_hrefs()
    assert href.endswith(f"/coachapp-appt-{appointment_id}.ics")
    pushed = world.pushed(appointment_id)
    assert pushed is not None
    assert (pushed.remote_id, pushed.pushed_version) == (href, 1)
    assert world.pending_pushes() == []
    body = world.push_calendar_body(href)
    assert "SUMMARY:Coaching session with Ivy Invitee" in body
    assert "DTSTART:20300108T100000Z" in body
    assert "ivy@example.com" in body
    assert MANAGED_NOTE.split(" — ")[0] in body
    # Our own write coming back is not an external edit.
    await world.sync()
    assert world.notices() == []
    assert world.push_calendar_hrefs() == [href]


async def test_reschedule_updates_and_cancel_removes_the_pushed_event(
    world: World,
) -> None:
    appointment_id = world.book(at(8, 10))
    await world.sync()
    [href] = world.push_calendar_hrefs()

    with session_scope(world.url) as s:
        booking.reschedule(s, world.coach_id, appointment_id, at(9, 14), now=NOW)
    result = await world.sync()

    assert (result.status, result.pushed) == ("ok", 1)
    assert world.push_calendar_hrefs() == [href]
    body = world.push_calendar_body(href)
    assert "DTSTART:20300109T140000Z" in body
    assert "DTEND:20300109T150000Z" in body
    pushed = world.pushed(appointment_id)
    assert pushed is not None and pushed.pushed_version == 2

    with session_scope(world.url) as s:
        booking.cancel(s, world.coach_id, appointment_id)
    result = await world.sync()

    assert (result.status, result.pushed) == ("ok", 1)
    assert world.push_calendar_hrefs() == []
    assert world.pushed(appointment_id) is None
    assert world.pending_pushes() == []
    # Our own deletion coming back is not an external deletion.
    await world.sync()
    assert world.notices() == []
    assert world.appointment(appointment_id).status == "cancelled"
