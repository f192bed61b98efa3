"""A demo mailbox: several calendar folders with what a coach's week holds."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sandbox.ews.recurrence import Recurrence
from sandbox.ews.server import EwsState
from sandbox.ews.store import Mailbox

DEMO_EMAIL = "coach@example.com"
DEMO_PASSWORD = "sandbox-password"
DEMO_ZONE = "Europe/Berlin"


def seed_demo(state: EwsState, today: date | None = None) -> Mailbox:
    """Add the demo user with calendars "Calendar", "Clients", "Family" and
    "Holidays" (plus an Inbox, which is not a calendar)."""
    mailbox = state.add_user(DEMO_EMAIL, DEMO_PASSWORD, "Demo Coach")
    zone = ZoneInfo(DEMO_ZONE)
    day = today or datetime.now(UTC).astimezone(zone).date()
    monday = day - timedelta(days=day.weekday())

    def at(offset: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(
            monday + timedelta(days=offset), time(hour, minute), zone
        )

    mailbox.create_folder("Clients")
    mailbox.create_folder("Family")
    mailbox.create_folder("Holidays")
    weekly = mailbox.add_item(
        "calendar",
        "Team meeting",
        at(0, 9),
        at(0, 10),
        timezone=DEMO_ZONE,
        recurrence=Recurrence(
            "WeeklyRecurrence", days_of_week=("Monday",), start=monday, count=12
        ),
    )
    second = at(7, 9).astimezone(UTC)
    third = at(14, 9).astimezone(UTC)
    mailbox.move_occurrence(weekly.id, second, at(8, 14), at(8, 15))
    mailbox.delete_occurrence(weekly.id, third)
    mailbox.add_item("calendar", "Dentist", at(1, 11), at(1, 12), timezone=DEMO_ZONE)
    mailbox.add_item(
        "calendar",
        "Focus time",
        at(2, 8),
        at(2, 10),
        free_busy="Free",
        timezone=DEMO_ZONE,
    )
    mailbox.add_item(
        "Clients",
        "Workshop (tentative)",
        at(3, 13),
        at(3, 17),
        free_busy="Tentative",
        timezone=DEMO_ZONE,
    )
    mailbox.add_item("Family", "School run", at(4, 15), at(4, 16), timezone=DEMO_ZONE)
    mailbox.add_item(
        "Holidays",
        "Public holiday",
        at(5, 0),
        at(6, 0),
        is_all_day=True,
        free_busy="OOF",
        timezone=DEMO_ZONE,
    )
    return mailbox
