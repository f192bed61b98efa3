"""A calendar holding endless FREQ=SECONDLY and FREQ=MINUTELY series syncs at
bounded cost (merged busy blocks, not one row per instance) and its busy
time blocks exactly the right slots; the coach is told, and the calendar
page shows the blocks day by day.

Radicale stores such series as they are (CalDAV servers accept them).
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from coach_app.db import session_scope
from coach_app.services import calendar_view

from .conftest import World, at, calendar, vevent

pytestmark = pytest.mark.parametrize("server", ["radicale"], indirect=True)

# Busy 13:00–14:00 on Tuesdays and Thursdays: 30 s of every minute.
MINUTELY = calendar(
    "UID:minutely-1",
    "DTSTART:20300101T130000Z",
    "DTEND:20300101T130030Z",
    "RRULE:FREQ=MINUTELY;BYHOUR=13;BYDAY=TU,TH",
    "SUMMARY:Heartbeat",
)
# Busy 09:00:00–09:30:00 on Wednesdays: one second of every second.
SECONDLY = calendar(
    "UID:secondly-1",
    "DTSTART:20300102T090000Z",
    "DTEND:20300102T090001Z",
    "RRULE:FREQ=SECONDLY;BYDAY=WE;BYHOUR=9;BYMINUTE=" + ",".join(map(str, range(30))),
    "SUMMARY:Ticker",
)
# Every second, all day, every day, but free: shown, never blocking.
SECONDLY_FREE = calendar(
    "UID:secondly-free",
    "DTSTART:20300101T000000Z",
    "DTEND:20300101T000001Z",
    "RRULE:FREQ=SECONDLY",
    "TRANSP:TRANSPARENT",
    "SUMMARY:Clock",
)


def hours(day: int, *times: str, month: int = 1) -> list[dt.datetime]:
    return [at(day, int(t[:2]), int(t[3:]), month) for t in times]


HALF_HOURS = [f"{h:02d}:{m:02d}" for h in range(9, 17) for m in (0, 30)][:-1]


def open_except(day: int, *blocked: str, month: int = 1) -> list[dt.datetime]:
    return hours(day, *[t for t in HALF_HOURS if t not in blocked], month=month)


async def test_endless_high_frequency_series_sync_fast_into_few_rows(
    world: World,
) -> None:
    world.put("dentist.ics", vevent("dentist-1", "Dentist", at(7, 10)))
    world.put("minutely.ics", MINUTELY)
    world.put("secondly.ics", SECONDLY)
    world.put("clock.ics", SECONDLY_FREE)

    began = time.perf_counter()
    result = await world.sync()
    elapsed = time.perf_counter() - began

    assert (result.status, result.error) == ("ok", "")
    rows = world.external()
    # Without condensing: 8.1 million rows for the clock, 7,000 for the rest.
    assert len(rows) < 200, len(rows)
    assert elapsed < 10, elapsed  # about 1 s here; bench/ holds the figure

    # 60-minute sessions every 30 minutes, 09:00–17:00 UTC on weekdays.
    week = world.slots(at(7, 0), at(12, 0))
    assert [s for s in week if s.day == 7] == open_except(7, "09:30", "10:00", "10:30")
    assert [s for s in week if s.day == 8] == open_except(8, "12:30", "13:00", "13:30")
    # 09:00:00–09:30:00 blocks the 09:00 session only: the 09:30 one touches.
    assert [s for s in week if s.day == 9] == open_except(9, "09:00")
    assert [s for s in week if s.day == 10] == open_except(
        10, "12:30", "13:00", "13:30"
    )
    assert [s for s in week if s.day == 11] == open_except(11)
    # Seven weeks on, near the 60-day horizon, the pattern still holds.
    later = world.slots(at(26, 0, month=2), at(28, 0, month=2))
    assert later == open_except(26, "12:30", "13:00", "13:30", month=2) + (
        open_except(27, "09:00", month=2)
    )


async def test_the_coach_is_told_once_and_the_calendar_shows_blocks(
    world: World,
) -> None:
    world.put("minutely.ics", MINUTELY)
    world.put("clock.ics", SECONDLY_FREE)
    await world.sync()
    await world.sync(now=at(7, 1))

    notices = world.notices()
    assert sorted(notices) == [
        "“Clock” in “Work” repeats every second, so Coach App keeps its busy "
        "time as merged blocks; your calendar shows one entry per block.",
        "“Heartbeat” in “Work” repeats every minute, so Coach App keeps its "
        "busy time as merged blocks; your calendar shows one entry per block.",
    ]

    with session_scope(world.url) as s:
        _, days = calendar_view.week_items(s, world.coach_id, dt.date(2030, 1, 7))
    tuesday = [
        (i.title, i.label, i.all_day, f"{i.start:%H:%M}–{i.end:%H:%M}")
        for i in days[dt.date(2030, 1, 8)]
    ]
    # The free block covers whole days (midnight to midnight): it shows on
    # each day it touches, and the week grid cuts it to the day it draws.
    assert tuesday == [
        ("Clock", "Free", False, "00:00–00:00"),
        ("Heartbeat", "Busy", False, "13:00–14:00"),
    ]

    # A change to the series is announced again.
    world.put("minutely.ics", MINUTELY.replace("BYHOUR=13", "BYHOUR=15"))
    await world.sync(now=at(7, 2))
    assert len(world.notices()) == 3
