"""Demo content for a coach's local trial: one account with a few calendars
and the kinds of events the sync has to get right."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sandbox.google.state import GoogleSandboxState

DEMO_EMAIL = "coach@example.com"


def seed_demo(state: GoogleSandboxState, email: str = DEMO_EMAIL) -> str:
    """Add a demo coach with Work, Family and a read-only holiday calendar."""
    zone_name = "Europe/Berlin"
    zone = ZoneInfo(zone_name)
    state.add_user(email, "Casey Coach", time_zone=zone_name)
    work = state.add_calendar(email, "Work", background_color="#4986e7")
    family = state.add_calendar(email, "Family", background_color="#f691b2")
    holidays = "en.german#holiday@group.v.calendar.google.com"
    state.add_user("holidays@example.com", "Holidays")
    state.add_calendar(
        "holidays@example.com", "Holidays in Germany", calendar_id=holidays
    )
    state.share_calendar(holidays, email, "reader")

    today = datetime.now(zone).date()
    monday = today - timedelta(days=today.weekday())

    def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(
            monday + timedelta(days=day_offset), time(hour, minute), zone
        )

    weekly = state.add_event(
        work,
        {
            "summary": "Team sync",
            "start": {"dateTime": at(0, 9).isoformat(), "timeZone": zone_name},
            "end": {"dateTime": at(0, 10).isoformat(), "timeZone": zone_name},
            "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO"],
        },
    )
    state.move_instance(work, weekly["id"], at(7, 9), at(8, 14), at(8, 15))
    state.cancel_instance(work, weekly["id"], at(14, 9))
    state.add_event(
        work,
        {"summary": "Client workshop", "start": at(2, 13), "end": at(2, 16)},
    )
    state.add_event(
        work,
        {
            "summary": "Focus time (free)",
            "start": at(3, 8),
            "end": at(3, 9),
            "transparency": "transparent",
        },
    )
    state.add_event(
        work,
        {
            "summary": "Optional town hall (declined)",
            "start": at(4, 16),
            "end": at(4, 17),
            "attendees": [
                {"email": email, "responseStatus": "declined"},
                {"email": "ceo@example.com", "responseStatus": "accepted"},
            ],
        },
    )
    state.add_event(
        family,
        {
            "summary": "Family trip",
            "start": monday + timedelta(days=5),
            "end": monday + timedelta(days=7),
        },
    )
    state.add_event(
        holidays,
        {
            "summary": "Public holiday",
            "start": monday + timedelta(days=10),
            "end": monday + timedelta(days=11),
            "transparency": "transparent",
        },
    )
    return email
