"""Demo content for a local trial: a work (Office 365) and a personal
(Outlook.com) account, each with several calendars, one of them read-only,
and the kinds of events the sync has to get right."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sandbox.microsoft.state import MicrosoftSandboxState

WORK_EMAIL = "coach@contoso.example"
PERSONAL_EMAIL = "coach@outlook.example"


def seed_demo(state: MicrosoftSandboxState) -> tuple[str, str]:
    """Add both demo accounts; returns their emails (work, personal)."""
    zone_name = "Europe/Berlin"
    zone = ZoneInfo(zone_name)
    today = datetime.now(zone).date()
    monday = today - timedelta(days=today.weekday())

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(monday + timedelta(days=day), time(hour, minute), zone)

    work = state.add_account(
        WORK_EMAIL, "Casey Coach", kind="work", time_zone=zone_name
    )
    default = state.mailboxes_default(work)
    clients = state.add_calendar(work, "Client sessions", color="lightBlue")
    team = state.add_calendar(
        work,
        "Team rota",
        can_edit=False,
        owner=("Office Manager", "office@contoso.example"),
    )
    weekly = state.add_event(
        default,
        {
            "subject": "Team sync",
            "start": at(0, 9),
            "end": at(0, 10),
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                "range": {"type": "noEnd", "startDate": monday.isoformat()},
            },
        },
    )
    state.move_occurrence(weekly["id"], at(7, 9), at(8, 14), at(8, 15))
    state.cancel_occurrence(weekly["id"], at(14, 9))
    state.add_event(
        default, {"subject": "Client workshop", "start": at(2, 13), "end": at(2, 16)}
    )
    state.add_event(
        default,
        {
            "subject": "Focus time (free)",
            "start": at(3, 8),
            "end": at(3, 9),
            "showAs": "free",
        },
    )
    state.add_event(
        default,
        {
            "subject": "Town hall (declined)",
            "start": at(4, 16),
            "end": at(4, 17),
            "responseStatus": {"response": "declined"},
            "isOrganizer": False,
        },
    )
    state.add_event(
        clients, {"subject": "Intro call", "start": at(1, 11), "end": at(1, 12)}
    )
    state.add_event(team, {"subject": "On call", "start": at(3, 14), "end": at(3, 18)})

    personal = state.add_account(
        PERSONAL_EMAIL, "Casey Coach", kind="personal", time_zone=zone_name
    )
    home = state.mailboxes_default(personal)
    family = state.add_calendar(personal, "Family", color="lightPink")
    state.add_calendar(
        personal,
        "Holidays",
        can_edit=False,
        owner=("Holidays", "holidays@outlook.example"),
    )
    state.add_event(home, {"subject": "Gym", "start": at(1, 18), "end": at(1, 19)})
    state.add_event(
        family,
        {
            "subject": "Family trip",
            "start": monday + timedelta(days=5),
            "end": monday + timedelta(days=7),
        },
    )
    return work, personal
