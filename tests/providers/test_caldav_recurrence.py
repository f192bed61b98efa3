"""A recurring series survives the trip through a real server and expands
to exactly the expected busy time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coach_app.calendars.caldav import CalDAVProvider
from coach_app.calendars.ical import expand

from .servers import DavAdmin

pytestmark = pytest.mark.asyncio

# Weekly on Mondays 09:00-10:00 Berlin time (UTC+1 in winter), the 20 Jan
# instance removed, the 27 Jan instance moved to Tuesday 28 Jan 14:00.
WEEKLY = "\r\n".join(
    [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Test Suite//Phone//EN",
        "BEGIN:VEVENT",
        "UID:weekly-1",
        "DTSTAMP:20250101T000000Z",
        "DTSTART;TZID=Europe/Berlin:20250106T090000",
        "DTEND;TZID=Europe/Berlin:20250106T100000",
        "RRULE:FREQ=WEEKLY;BYDAY=MO",
        "EXDATE;TZID=Europe/Berlin:20250120T090000",
        "SUMMARY:Team sync",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:weekly-1",
        "DTSTAMP:20250101T000000Z",
        "RECURRENCE-ID;TZID=Europe/Berlin:20250127T090000",
        "DTSTART;TZID=Europe/Berlin:20250128T140000",
        "DTEND;TZID=Europe/Berlin:20250128T150000",
        "SUMMARY:Team sync (moved)",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
)


def utc(day: int, hour: int, month: int = 1) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


async def test_weekly_series_with_exdate_and_moved_instance_expands_exactly_for_8_weeks(
    provider: CalDAVProvider, admin: DavAdmin, calendar_url: str
) -> None:
    admin.put(calendar_url + "weekly-1.ics", WEEKLY)
    [stored] = (await provider.list_all(calendar_url)).changed

    occurrences = expand(stored.raw, utc(6, 0), utc(3, 0, month=3), "America/New_York")

    assert [(o.recurrence_id, o.start, o.end, o.summary) for o in occurrences] == [
        ("20250106T080000Z", utc(6, 8), utc(6, 9), "Team sync"),
        ("20250113T080000Z", utc(13, 8), utc(13, 9), "Team sync"),
        ("20250127T080000Z", utc(28, 13), utc(28, 14), "Team sync (moved)"),
        ("20250203T080000Z", utc(3, 8, 2), utc(3, 9, 2), "Team sync"),
        ("20250210T080000Z", utc(10, 8, 2), utc(10, 9, 2), "Team sync"),
        ("20250217T080000Z", utc(17, 8, 2), utc(17, 9, 2), "Team sync"),
        ("20250224T080000Z", utc(24, 8, 2), utc(24, 9, 2), "Team sync"),
    ]
    assert all(o.busy and not o.all_day and o.uid == "weekly-1" for o in occurrences)
