"""Our pushed events changed from outside: deletions and moves."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import SyncCursor

from .conftest import NOW, World, at

WHEN = "Coaching session with Ivy Invitee on Tuesday 8 January 2030 at 10:00"


async def pushed_href(world: World) -> tuple[int, str]:
    appointment_id = world.book(at(8, 10))
    await world.sync()
    [href] = world.push_calendar_hrefs()
    return appointment_id, href


def origin(world: World, href: str) -> str:
    return world.server.base_url.rstrip("/") + href


async def test_external_deletion_cancels_the_appointment_and_emails_the_client(
    world: World,
) -> None:
    appointment_id, href = await pushed_href(world)

    world.admin.delete(origin(world, href))
    result = await world.sync()

    assert (result.status, result.appointments_changed) == ("ok", True)
    assert world.appointment(appointment_id).status == "cancelled"
    subjects = [m.subject for m in world.emails(to="ivy@example.com")]
    assert len(subjects) == 2
    assert subjects[0].startswith("Confirmed: Coaching session with Kim Coach")
    assert subjects[1].startswith("Cancelled: Coaching session with Kim Coach")
    assert world.notices() == [
        f"{WHEN} was deleted in Coach App, so it was cancelled here and "
        "Ivy Invitee was emailed."
    ]
    assert world.push_calendar_hrefs() == []
    assert world.pending_pushes() == []
    await world.sync()
    assert len(world.notices()) == 1


async def test_external_deletion_with_notification_off_puts_it_back_with_a_notice(
    world: World,
) -> None:
    world.update_connection(cancellation_notification=False)
    appointment_id, href = await pushed_href(world)

    world.admin.delete(origin(world, href))
    result = await world.sync()

    assert (result.status, result.appointments_changed) == ("ok", False)
    assert world.appointment(appointment_id).status == "confirmed"
    assert world.push_calendar_hrefs() == [href]
    assert "DTSTART:20300108T100000Z" in world.push_calendar_body(href)
    assert [m.subject[:10] for m in world.emails(to="ivy@example.com")] == [
        "Confirmed:"
    ]
    assert world.notices() == [
        f"{WHEN} was deleted in Coach App; it is still booked here and was put "
        "back. Cancel it in Coach App if it should go."
    ]
    assert world.pending_pushes() == []


async def test_external_move_is_reverted_with_a_notice(world: World) -> None:
    appointment_id, href = await pushed_href(world)
    body = world.push_calendar_body(href)

    moved = body.replace("DTSTART:20300108T100000Z", "DTSTART:20300108T150000Z")
    moved = moved.replace("DTEND:20300108T110000Z", "DTEND:20300108T160000Z")
    assert moved != body
    world.admin.put(origin(world, href), moved)
    result = await world.sync()

    assert result.status == "ok"
    restored = world.push_calendar_body(href)
    assert "DTSTART:20300108T100000Z" in restored
    assert "DTEND:20300108T110000Z" in restored
    appointment = world.appointment(appointment_id)
    assert (appointment.status, appointment.start) == ("confirmed", at(8, 10))
    assert world.notices() == [
        f"{WHEN} was changed in Coach App; changes made there are undone. "
        "Reschedule in Coach App."
    ]
    await world.sync()  # the restored version's echo changes nothing
    assert len(world.notices()) == 1


async def test_same_content_etag_change_only_stores_the_new_etag(
    world: World,
) -> None:
    appointment_id, href = await pushed_href(world)
    body = world.push_calendar_body(href)

    touched = body.replace("TRANSP:OPAQUE", "TRANSP:OPAQUE\r\nCATEGORIES:Work")
    assert touched != body
    new_etag = world.admin.put(origin(world, href), touched)
    result = await world.sync()

    assert (result.status, result.pushed) == ("ok", 0)
    assert world.notices() == []
    pushed = world.pushed(appointment_id)
    assert pushed is not None and pushed.etag == new_etag
    assert "CATEGORIES:Work" in world.push_calendar_body(href)


async def test_push_calendar_listed_empty_puts_appointments_back_never_cancels(
    world: World,
) -> None:
    appointment_id, href = await pushed_href(world)
    world.admin.delete(origin(world, href))
    with session_scope(world.url) as s:
        cursor = s.exec(
            select(SyncCursor).where(SyncCursor.sub_calendar_id == world.push_sub_id)
        ).one()
        cursor.cursor = cursor.cursor[:-8] + "00000000"  # rejected: full listing
        s.add(cursor)

    first = await world.sync()

    assert first.status == "error"
    assert world.appointment(appointment_id).status == "confirmed"
    assert world.push_calendar_hrefs() == []

    later = await world.sync(now=NOW + dt.timedelta(minutes=61))

    assert later.status == "ok"
    assert world.appointment(appointment_id).status == "confirmed"
    assert world.push_calendar_hrefs() == [href]
    assert [m.subject[:10] for m in world.emails(to="ivy@example.com")] == [
        "Confirmed:"
    ]
    assert world.notices() == [
        f"{WHEN} was deleted in Coach App; it is still booked here and was put "
        "back. Cancel it in Coach App if it should go."
    ]
