"""Pulling external events: busy/free, recurrences, all-day, deletions,
rejected cursors, unreadable entries, the pull switch, an empty listing."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from coach_app.calendars.base import ChangeSet, RemoteEvent
from coach_app.db import session_scope
from coach_app.models import SyncCursor
from coach_app.services import calendar_view
from coach_app.sync.switches import on_pull_switch

from .conftest import NOW, AppWorld, Spy, World, WorldFactory, at, calendar, vevent

TUESDAY = (at(8, 0), at(9, 0))


def labels(world: AppWorld, monday: dt.date = dt.date(2030, 1, 7)) -> list[tuple]:
    """What the coach's calendar page shows for external events."""
    with session_scope(world.url) as s:
        _, days = calendar_view.week_items(s, world.coach_id, monday)
    return [
        (i.title, i.label, i.start.isoformat())
        for items in days.values()
        for i in items
        if i.kind == "external"
    ]


async def test_external_busy_event_appears_as_busy_and_blocks_its_slot(
    world: World,
) -> None:
    world.put("dentist.ics", vevent("dentist-1", "Dentist", at(8, 10)))
    before = world.slots(*TUESDAY)

    result = await world.sync()

    assert (result.status, result.error, result.events_changed) == ("ok", "", True)
    [row] = world.external()
    assert (row.summary, row.busy, row.all_day, row.start, row.end) == (
        "Dentist",
        True,
        False,
        at(8, 10),
        at(8, 11),
    )
    assert labels(world) == [("Dentist", "Busy", "2030-01-08T10:00:00+00:00")]
    assert sorted(set(before) - set(world.slots(*TUESDAY))) == [
        at(8, 9, 30),
        at(8, 10),
        at(8, 10, 30),
    ]


async def test_transparent_event_appears_as_free_and_blocks_nothing(
    world: World,
) -> None:
    world.put(
        "focus.ics",
        vevent("focus-1", "Focus time", at(8, 10), 60, "TRANSP:TRANSPARENT"),
    )
    before = world.slots(*TUESDAY)

    await world.sync()

    [row] = world.external()
    assert (row.summary, row.busy) == ("Focus time", False)
    assert labels(world) == [("Focus time", "Free", "2030-01-08T10:00:00+00:00")]
    assert world.slots(*TUESDAY) == before


WEEKLY = calendar(
    "UID:standup-1",
    "DTSTART:20300107T100000Z",
    "DTEND:20300107T110000Z",
    "RRULE:FREQ=WEEKLY;COUNT=8",
    "EXDATE:20300121T100000Z",
    "SUMMARY:Stand-up",
    more=(
        (
            "UID:standup-1",
            "RECURRENCE-ID:20300204T100000Z",
            "DTSTART:20300205T140000Z",
            "DTEND:20300205T150000Z",
            "SUMMARY:Stand-up (moved)",
        ),
    ),
)


async def test_weekly_recurring_event_with_exdate_and_moved_instance_blocks_exactly_8_weeks(
    world: World,
) -> None:
    eight_weeks = (NOW, NOW + dt.timedelta(weeks=8))
    world.put("standup.ics", WEEKLY)
    before = world.slots(*eight_weeks)

    await world.sync()

    mondays = [at(7, 10), at(14, 10), at(28, 10)] + [
        at(d, 10, month=2) for d in (11, 18, 25)
    ]
    assert [(r.occurrence, r.start, r.end) for r in world.external()] == [
        (m.strftime("%Y%m%dT%H%M%SZ"), m, m + dt.timedelta(hours=1))
        for m in mondays[:3]
    ] + [("20300204T100000Z", at(5, 14, month=2), at(5, 15, month=2))] + [
        (m.strftime("%Y%m%dT%H%M%SZ"), m, m + dt.timedelta(hours=1))
        for m in mondays[3:]
    ]
    blocked = {
        start + dt.timedelta(minutes=offset)
        for start in [*mondays, at(5, 14, month=2)]
        for offset in (-30, 0, 30)
    }
    assert set(before) - set(world.slots(*eight_weeks)) == blocked
    assert set(world.slots(*eight_weeks)) - set(before) == set()


async def test_all_day_event_blocks_the_coachs_whole_local_day(
    make_world: WorldFactory,
) -> None:
    world = make_world("America/New_York")
    world.put(
        "trip.ics",
        calendar(
            "UID:trip-1",
            "DTSTART;VALUE=DATE:20300109",
            "DTEND;VALUE=DATE:20300110",
            "SUMMARY:School trip",
        ),
    )
    # Local days in New York (UTC-5 in January).
    wednesday = (at(9, 5), at(10, 5))
    thursday = (at(10, 5), at(11, 5))
    before_wed, before_thu = world.slots(*wednesday), world.slots(*thursday)
    assert len(before_wed) == 15  # 09:00 … 16:00 local, every 30 minutes

    await world.sync()

    [row] = world.external()
    assert (row.all_day, row.busy, row.start, row.end) == (
        True,
        True,
        at(9, 5),
        at(10, 5),
    )
    assert world.slots(*wednesday) == []
    assert world.slots(*thursday) == before_thu


async def test_busy_event_deleted_externally_stops_blocking_after_next_sync(
    world: World,
) -> None:
    world.put("dentist.ics", vevent("dentist-1", "Dentist", at(8, 10)))
    free = world.slots(*TUESDAY)
    await world.sync()
    assert at(8, 10) not in world.slots(*TUESDAY)

    world.delete("dentist.ics")
    result = await world.sync()

    assert (result.status, result.events_changed) == ("ok", True)
    assert world.external() == []
    assert world.slots(*TUESDAY) == free


async def test_rejected_cursor_full_listing_finds_a_deletion_made_in_the_gap(
    world: World, spy: Spy
) -> None:
    world.put("a.ics", vevent("a", "Kept", at(8, 10)))
    world.put("b.ics", vevent("b", "Deleted in the gap", at(8, 13)))
    await world.sync()
    world.delete("b.ics")
    with session_scope(world.url) as s:
        cursor = s.exec(
            select(SyncCursor).where(SyncCursor.sub_calendar_id == world.pull_sub_id)
        ).one()
        # A well-formed token the server no longer knows (expired server-side).
        cursor.cursor = cursor.cursor[:-8] + "00000000"
        s.add(cursor)
    spy.calls.clear()

    result = await world.sync()

    assert spy.called(world.pull_cal) == ["changes", "list_all"]
    assert result.status == "ok"
    assert [r.summary for r in world.external()] == ["Kept"]
    assert at(8, 13) in world.slots(*TUESDAY)


BROKEN = calendar(
    "UID:broken-1",
    "DTSTART:20300108T120000Z",
    "DTEND:20300108T130000Z",
    "RRULE:FREQ=SOMETIMES",
    "SUMMARY:Broken lunch",
)


async def test_malformed_entry_is_skipped_and_reported_while_the_rest_syncs(
    world: World, spy: Spy
) -> None:
    world.put("dentist.ics", vevent("dentist-1", "Dentist", at(8, 10)))
    if world.server.name == "xandikos":
        world.put("broken.ics", BROKEN)  # Xandikos stores it as it is
    else:
        # Radicale refuses such data on PUT and hides broken files it finds on
        # disk, so it cannot hand one out: the listing gets it injected, as a
        # less careful server (iCloud has been seen to) would serve it.
        async def inject(name: str, cal: str, result: object) -> object:
            if name == "list_all" and cal == world.pull_cal:
                assert isinstance(result, ChangeSet)
                broken = RemoteEvent(
                    id=result.changed[0].id.replace("dentist", "broken"),
                    etag='"1"',
                    uid="broken-1",
                    raw=BROKEN,
                    summary="Broken lunch",
                )
                return ChangeSet([*result.changed, broken], [], result.cursor, True)
            return result

        spy.after = inject

    result = await world.sync()

    note = "1 calendar entry could not be read and was skipped: Broken lunch"
    assert (result.status, result.error) == ("ok", note)
    assert world.connection().last_error == note
    assert [r.summary for r in world.external()] == ["Dentist"]
    # The report stays while the entry is unreadable, not just for one sync.
    world.put("later.ics", vevent("later-1", "Later", at(9, 10)))
    await world.sync()
    assert world.connection().last_error == note
    assert [r.summary for r in world.external()] == ["Dentist", "Later"]


async def test_pull_switch_off_removes_pulled_events_and_on_resyncs_in_full(
    world: World, spy: Spy
) -> None:
    world.put("dentist.ics", vevent("dentist-1", "Dentist", at(8, 10)))
    await world.sync()
    assert len(world.external()) == 1

    with session_scope(world.url) as s:
        on_pull_switch(s, world.connection_id, False)
    assert world.external() == []
    world.put("gym.ics", vevent("gym-1", "Gym", at(8, 15)))
    spy.calls.clear()
    await world.sync()
    assert spy.called(world.pull_cal) == []
    assert world.external() == []

    with session_scope(world.url) as s:
        on_pull_switch(s, world.connection_id, True)
    spy.calls.clear()
    await world.sync()
    assert spy.called(world.pull_cal) == ["list_all"]
    assert [r.summary for r in world.external()] == ["Dentist", "Gym"]


async def test_empty_listing_keeps_busy_times_until_it_stays_empty_for_an_hour(
    world: World,
) -> None:
    world.put("dentist.ics", vevent("dentist-1", "Dentist", at(8, 10)))
    await world.sync()
    world.delete("dentist.ics")
    with session_scope(world.url) as s:
        cursor = s.exec(
            select(SyncCursor).where(SyncCursor.sub_calendar_id == world.pull_sub_id)
        ).one()
        cursor.full_sync_at = None  # the daily full listing is due
        s.add(cursor)

    first = await world.sync()

    assert first.status == "error"
    assert first.error.startswith("“Work” came back empty although Coach App knows")
    assert [r.summary for r in world.external()] == ["Dentist"]
    assert at(8, 10) not in world.slots(*TUESDAY)

    later = await world.sync(now=NOW + dt.timedelta(minutes=61))

    assert (later.status, later.error) == ("ok", "")
    assert world.external() == []
