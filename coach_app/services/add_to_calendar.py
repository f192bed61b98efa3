"""'Add to calendar' for the invitee's confirmation page: an .ics file and a
Google Calendar link, both carrying the manage link."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from coach_app.notify.ics import appointment_ics, appointment_uid

GOOGLE_TEMPLATE = "https://calendar.google.com/calendar/render"


@dataclass(frozen=True)
class Entry:
    appointment_id: int
    version: int
    title: str
    start: dt.datetime
    end: dt.datetime
    coach_name: str
    coach_email: str
    client_name: str
    client_email: str
    manage_url: str

    @property
    def details(self) -> str:
        return f"{self.title}. To reschedule or cancel: {self.manage_url}"


def ics_file(entry: Entry) -> str:
    """METHOD:PUBLISH, same UID as the emailed invitations, so a calendar
    that holds both keeps one entry."""
    return appointment_ics(
        uid=appointment_uid(entry.appointment_id),
        sequence=entry.version,
        method="PUBLISH",
        start=entry.start,
        end=entry.end,
        summary=entry.title,
        description=entry.details,
        organizer_email=entry.coach_email,
        organizer_name=entry.coach_name,
        attendee_email=entry.client_email,
        attendee_name=entry.client_name,
        status="CONFIRMED",
    )


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def google_link(entry: Entry) -> str:
    """Google Calendar's event template link (opens a pre-filled new event)."""
    query = urlencode(
        {
            "action": "TEMPLATE",
            "text": entry.title,
            "dates": f"{_utc(entry.start)}/{_utc(entry.end)}",
            "details": entry.details,
        }
    )
    return f"{GOOGLE_TEMPLATE}?{query}"
