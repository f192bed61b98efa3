"""iCalendar (RFC 5545 / iTIP RFC 5546) invitations attached to emails.

One VEVENT per appointment. The UID is stable for the appointment's whole life
(`appointment_uid(id)`), and SEQUENCE grows with every change (pass
`Appointment.version`), so the client's calendar updates the one entry it
already holds on a reschedule (METHOD:REQUEST, higher SEQUENCE) and removes it
on a cancellation (METHOD:CANCEL, STATUS:CANCELLED).
"""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//Coach App//EN"
METHODS = ("REQUEST", "CANCEL", "PUBLISH")  # PUBLISH: an "Add to calendar" file
STATUSES = ("CONFIRMED", "CANCELLED")


def appointment_uid(appointment_id: int) -> str:
    """The UID every invitation about this appointment carries."""
    return f"appointment-{appointment_id}@coach-app"


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _utc(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(dt.UTC)


def _address(email: str, name: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{_one_line(email)}")
    if name.strip():
        address.params["CN"] = vText(_one_line(name))
    for key, value in params.items():
        address.params[key.upper()] = value
    return address


def appointment_ics(
    *,
    uid: str,
    sequence: int,
    method: str,
    start: dt.datetime,
    end: dt.datetime,
    summary: str,
    description: str,
    organizer_email: str,
    organizer_name: str,
    attendee_email: str,
    attendee_name: str,
    status: str,
    dtstamp: dt.datetime | None = None,
) -> str:
    """A VCALENDAR (CRLF line endings) holding the appointment's one VEVENT.

    `start`/`end` must be aware; they are written in UTC (`...Z`). `method`
    is REQUEST (new or changed), CANCEL, or PUBLISH (a plain copy to add to
    a calendar); `status` CONFIRMED or CANCELLED.
    """
    method = method.upper()
    status = status.upper()
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    if sequence < 0:
        raise ValueError("sequence must not be negative")
    start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
    if end_utc <= start_utc:
        raise ValueError("end must be after start")

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)

    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", _utc(dtstamp or dt.datetime.now(dt.UTC), "dtstamp"))
    event.add("dtstart", start_utc)
    event.add("dtend", end_utc)
    event.add("sequence", sequence)
    event.add("status", status)
    event.add("summary", _one_line(summary))
    event.add("description", description)
    event.add("transp", "OPAQUE")
    event.add("organizer", _address(organizer_email, organizer_name))
    # The client booked the slot themselves: their answer is already "yes",
    # and no RSVP is asked for.
    event.add(
        "attendee",
        _address(
            attendee_email,
            attendee_name,
            role="REQ-PARTICIPANT",
            partstat="ACCEPTED",
            rsvp="FALSE",
        ),
    )
    cal.add_component(event)
    return cal.to_ical().decode("utf-8")


def ics_method(ics: str) -> str:
    """The METHOD of a VCALENDAR text ("REQUEST" when it has none)."""
    for line in ics.splitlines():
        if line.upper().startswith("METHOD:"):
            return line.split(":", 1)[1].strip().upper() or "REQUEST"
    return "REQUEST"
