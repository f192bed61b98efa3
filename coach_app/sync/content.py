"""What the app writes into a push calendar, and how it is recognised again.

- Key: ``coachapp-appt-<appointment id>``, stored in ``PushedEvent.key``
  *before* the first create is sent, so a retried create after a crash asks
  for the same resource and the provider answers with the existing event.
- Content: summary "<type name> with <client name>", a description with the
  client's email and "Managed by Coach App — reschedule or cancel in Coach
  App", the appointment's start and end.
- Content hash: SHA-256 over start, end (UTC) and summary. ``PushedEvent``
  keeps the hash of what was last written; a later etag change whose
  content hashes the same is our own echo or a harmless rewrite, anything
  else is an external edit. Hashing what was *written* (not the app's
  current state) keeps a client renamed since, or a push still pending,
  from looking like an external edit.

Remote payloads are iCalendar text (``RemoteEvent.raw``, as for
``ical.expand``), whichever provider fetched them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import icalendar
from sqlmodel import Session

from coach_app.calendars.base import OutgoingEvent
from coach_app.models import Appointment, AppointmentType, Client

KEY_PREFIX = "coachapp-appt-"
MANAGED_NOTE = "Managed by Coach App — reschedule or cancel in Coach App"
_KEY_RE = re.compile(rf"{KEY_PREFIX}(\d+)")


def event_key(appointment_id: int) -> str:
    return f"{KEY_PREFIX}{appointment_id}"


def appointment_id_from_key(key: str | None) -> int | None:
    match = _KEY_RE.fullmatch(key or "")
    return int(match.group(1)) if match else None


def appointment_title(session: Session, appointment: Appointment) -> str:
    """ "<type name> with <client name>"."""
    appt_type = (
        session.get(AppointmentType, appointment.appointment_type_id)
        if appointment.appointment_type_id
        else None
    )
    client = session.get(Client, appointment.client_id)
    type_name = appt_type.name if appt_type else "Appointment"
    return f"{type_name} with {client.name}" if client else type_name


def outgoing_event(
    session: Session, appointment: Appointment, key: str
) -> OutgoingEvent:
    client = session.get(Client, appointment.client_id)
    lines = [f"Client: {client.name} <{client.email}>"] if client else []
    lines.append(MANAGED_NOTE)
    return OutgoingEvent(
        key=key,
        summary=appointment_title(session, appointment),
        start=appointment.start,
        end=appointment.end,
        description="\n\n".join(lines),
    )


def content_hash(start: dt.datetime, end: dt.datetime, summary: str) -> str:
    parts = (
        start.astimezone(dt.UTC).isoformat(),
        end.astimezone(dt.UTC).isoformat(),
        summary.strip(),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def event_hash(event: OutgoingEvent) -> str:
    return content_hash(event.start, event.end, event.summary)


def remote_content_hash(raw: str) -> str | None:
    """The content hash of a stored event, or None when it is no longer one
    plain timed event (made recurring, all-day, cancelled, unreadable): all of
    which differ from anything we write."""
    try:
        calendar = icalendar.Calendar.from_ical(raw)
        events = list(calendar.walk("VEVENT"))
        if len(events) != 1:
            return None
        event = events[0]
        if any(name in event for name in ("RRULE", "RDATE", "RECURRENCE-ID")):
            return None
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            return None
        start = event.decoded("DTSTART")
        if "DTEND" in event:
            end = event.decoded("DTEND")
        elif "DURATION" in event:
            end = start + event.decoded("DURATION")
        else:
            return None
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None
    if not all(isinstance(v, dt.datetime) and v.tzinfo for v in (start, end)):
        return None
    return content_hash(start, end, str(event.get("SUMMARY", "")))
