"""The wording of every transactional email, as (subject, body, ics).

Builders take plain values, not ORM rows. Times are shown in the recipient's
zone: the client's zone when the caller knows it (the booking page's), else the
coach's; the coach always sees their own `Coach.timezone`. A zone name that is
not a real IANA zone falls back to the coach's zone, then UTC, so a bad value
never stops an email.

`sequence` is the appointment's `version`: it grows on every change, so each
invitation outranks the one before it in the client's calendar.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coach_app.notify.ics import appointment_ics, appointment_uid
from coach_app.views.clock import long_date

SIGNATURE = "— Coach App"


class Message(NamedTuple):
    subject: str
    body: str
    ics: str | None


def resolve_zone(*names: str | None) -> tuple[ZoneInfo, str]:
    """The first valid IANA zone among `names` (and its name), else UTC."""
    for name in names:
        if not name:
            continue
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC"), "UTC"


def _date(value: dt.datetime) -> str:
    return long_date(value.date())


def _local(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("appointment times must be timezone-aware")
    return value.astimezone(zone)


def format_when(start: dt.datetime, end: dt.datetime, zone_name: str | None) -> str:
    """'Tuesday 1 December 2026, 09:30–10:30 (Europe/London)' in that zone.

    An appointment that ends on another local day names both days.
    """
    zone, label = resolve_zone(zone_name)
    s, e = _local(start, zone), _local(end, zone)
    if s.date() == e.date():
        return f"{_date(s)}, {s:%H:%M}–{e:%H:%M} ({label})"
    return f"{_date(s)}, {s:%H:%M} – {_date(e)}, {e:%H:%M} ({label})"


def format_start(start: dt.datetime, zone_name: str | None) -> str:
    """'Tuesday 1 December 2026 at 09:30', for subject lines."""
    zone, _ = resolve_zone(zone_name)
    s = _local(start, zone)
    return f"{_date(s)} at {s:%H:%M}"


def _line(value: str) -> str:
    """User-entered text folded onto one line (names in headers and lists)."""
    return " ".join(value.split())


def _body(*paragraphs: str | None) -> str:
    return "\n\n".join(p for p in paragraphs if p) + "\n"


def _client_zone(client_tz: str | None, coach_tz: str) -> str:
    return resolve_zone(client_tz, coach_tz)[1]


def _invite(
    *,
    appointment_id: int,
    sequence: int,
    method: str,
    status: str,
    start: dt.datetime,
    end: dt.datetime,
    type_name: str,
    coach_name: str,
    coach_email: str,
    client_name: str,
    client_email: str,
    manage_url: str = "",
) -> str:
    change = f" To reschedule or cancel: {manage_url}" if manage_url else ""
    return appointment_ics(
        uid=appointment_uid(appointment_id),
        sequence=sequence,
        method=method,
        start=start,
        end=end,
        summary=f"{_line(type_name)} with {_line(coach_name)}",
        description=(
            f"{_line(type_name)} with {_line(coach_name)} ({coach_email}), "
            f"booked through Coach App.{change}"
        ),
        organizer_email=coach_email,
        organizer_name=coach_name,
        attendee_email=client_email,
        attendee_name=client_name,
        status=status,
    )


def booking_confirmation_to_client(
    *,
    appointment_id: int,
    sequence: int,
    start: dt.datetime,
    end: dt.datetime,
    type_name: str,
    coach_name: str,
    coach_email: str,
    coach_tz: str,
    client_name: str,
    client_email: str,
    manage_url: str,
    booking_url: str,
    client_tz: str | None = None,
) -> Message:
    """'You are booked', with an invite.ics (METHOD:REQUEST) for their calendar
    and the manage link (reschedule or cancel) and booking link."""
    zone = _client_zone(client_tz, coach_tz)
    type_, coach = _line(type_name), _line(coach_name)
    subject = f"Confirmed: {type_} with {coach} on {format_start(start, zone)}"
    body = _body(
        f"Hello {_line(client_name)},",
        f"Your {type_} with {coach} is booked.",
        f"When: {format_when(start, end, zone)}\nWith: {coach} ({coach_email})",
        "The attached invitation (invite.ics) adds it to your calendar.",
        _links(manage_url, booking_url, coach),
        SIGNATURE,
    )
    ics = _invite(
        appointment_id=appointment_id,
        sequence=sequence,
        method="REQUEST",
        status="CONFIRMED",
        start=start,
        end=end,
        type_name=type_name,
        coach_name=coach_name,
        coach_email=coach_email,
        client_name=client_name,
        client_email=client_email,
        manage_url=manage_url,
    )
    return Message(subject, body, ics)


def new_booking_to_coach(
    *,
    start: dt.datetime,
    end: dt.datetime,
    type_name: str,
    coach_name: str,
    coach_tz: str,
    client_name: str,
    client_email: str,
    note: str = "",
) -> Message:
    """'Someone booked you', in the coach's own zone; no attachment (the
    appointment reaches the coach's calendar through the push sync)."""
    type_, client = _line(type_name), _line(client_name)
    subject = f"New booking: {client}, {type_} on {format_start(start, coach_tz)}"
    note = note.strip()
    body = _body(
        f"Hello {_line(coach_name)},",
        f"{client} ({client_email}) has booked a {type_} with you.",
        f"When: {format_when(start, end, coach_tz)}",
        f"Their note:\n{note}" if note else None,
        "You will find it on your calendar in Coach App.",
        SIGNATURE,
    )
    return Message(subject, body, None)


def rescheduled_to_client(
    *,
    appointment_id: int,
    sequence: int,
    old_start: dt.datetime,
    old_end: dt.datetime,
    start: dt.datetime,
    end: dt.datetime,
    type_name: str,
    coach_name: str,
    coach_email: str,
    coach_tz: str,
    client_name: str,
    client_email: str,
    manage_url: str,
    booking_url: str,
    client_tz: str | None = None,
) -> Message:
    """'Your appointment moved', with an updated invite.ics (same UID,
    higher SEQUENCE) that moves the entry already in their calendar."""
    zone = _client_zone(client_tz, coach_tz)
    type_, coach = _line(type_name), _line(coach_name)
    subject = f"Moved: {type_} with {coach}, now {format_start(start, zone)}"
    body = _body(
        f"Hello {_line(client_name)},",
        f"Your {type_} with {coach} has moved to a new time.",
        f"New time: {format_when(start, end, zone)}\n"
        f"Was: {format_when(old_start, old_end, zone)}",
        "The attached invitation (invite.ics) updates it in your calendar.",
        _links(manage_url, booking_url, coach),
        SIGNATURE,
    )
    ics = _invite(
        appointment_id=appointment_id,
        sequence=sequence,
        method="REQUEST",
        status="CONFIRMED",
        start=start,
        end=end,
        type_name=type_name,
        coach_name=coach_name,
        coach_email=coach_email,
        client_name=client_name,
        client_email=client_email,
        manage_url=manage_url,
    )
    return Message(subject, body, ics)


def cancelled_to_client(
    *,
    appointment_id: int,
    sequence: int,
    start: dt.datetime,
    end: dt.datetime,
    type_name: str,
    coach_name: str,
    coach_email: str,
    coach_tz: str,
    client_name: str,
    client_email: str,
    manage_url: str,
    booking_url: str,
    client_tz: str | None = None,
) -> Message:
    """'Your appointment is cancelled', with an invite.ics (METHOD:CANCEL)
    that removes it from their calendar, the booking link to choose a new
    time, and the manage link (which shows the cancellation)."""
    zone = _client_zone(client_tz, coach_tz)
    type_, coach = _line(type_name), _line(coach_name)
    subject = f"Cancelled: {type_} with {coach} on {format_start(start, zone)}"
    body = _body(
        f"Hello {_line(client_name)},",
        f"Your {type_} with {coach} has been cancelled.",
        f"Cancelled appointment: {format_when(start, end, zone)}",
        "The attached cancellation (invite.ics) removes it from your calendar.",
        f"To book a new time with {coach}: {booking_url}",
        f"This appointment: {manage_url}",
        SIGNATURE,
    )
    ics = _invite(
        appointment_id=appointment_id,
        sequence=sequence,
        method="CANCEL",
        status="CANCELLED",
        start=start,
        end=end,
        type_name=type_name,
        coach_name=coach_name,
        coach_email=coach_email,
        client_name=client_name,
        client_email=client_email,
    )
    return Message(subject, body, ics)


def _links(manage_url: str, booking_url: str, coach: str) -> str:
    return (
        f"To reschedule or cancel: {manage_url}\n"
        f"To book another time with {coach}: {booking_url}"
    )


def client_rescheduled_to_coach(
    *,
    old_start: dt.datetime,
    old_end: dt.datetime,
    start: dt.datetime,
    end: dt.datetime,
    type_name: str,
    coach_name: str,
    coach_tz: str,
    client_name: str,
    client_email: str,
) -> Message:
    """'Your client moved their appointment' (through their manage link)."""
    type_, client = _line(type_name), _line(client_name)
    subject = f"Rescheduled by {client}: {type_}, now {format_start(start, coach_tz)}"
    body = _body(
        f"Hello {_line(coach_name)},",
        f"{client} ({client_email}) has moved their {type_} to a new time.",
        f"New time: {format_when(start, end, coach_tz)}\n"
        f"Was: {format_when(old_start, old_end, coach_tz)}",
        "Your calendar in Coach App and your connected calendar follow the change.",
        SIGNATURE,
    )
    return Message(subject, body, None)


def client_cancelled_to_coach(
    *,
    start: dt.datetime,
    end: dt.datetime,
    type_name: str,
    coach_name: str,
    coach_tz: str,
    client_name: str,
    client_email: str,
) -> Message:
    """'Your client cancelled' (through their manage link); the time is open
    again on the booking page."""
    type_, client = _line(type_name), _line(client_name)
    subject = f"Cancelled by {client}: {type_} on {format_start(start, coach_tz)}"
    body = _body(
        f"Hello {_line(coach_name)},",
        f"{client} ({client_email}) has cancelled their {type_}.",
        f"Cancelled appointment: {format_when(start, end, coach_tz)}",
        "The time is open again on your booking page.",
        SIGNATURE,
    )
    return Message(subject, body, None)


def reconnect_calendar_to_coach(
    *,
    coach_name: str,
    service: str,
    account_label: str = "",
    error: str = "",
    settings_url: str | None = None,
) -> Message:
    """'Please reconnect your calendar': its credentials stopped working.

    `service` is the calendar service's name as the coach knows it
    ("iCloud", "Google" …); `error` is the plain-words reason, if any.
    """
    name = _line(service)
    label = _line(account_label)
    which = f"{name} calendar ({label})" if label else f"{name} calendar"
    subject = f"Please reconnect your {which}"
    where = "My Settings → Integrations"
    body = _body(
        f"Hello {_line(coach_name)},",
        f"Coach App can no longer sign in to your {which}.",
        f"The reason given: {_line(error)}" if error.strip() else None,
        "Until you reconnect it, Coach App cannot read your busy times from "
        "that calendar or add new appointments to it.",
        f"To reconnect, open {where} ({settings_url}) and connect it again."
        if settings_url
        else f"To reconnect, open {where} in Coach App and connect it again.",
        SIGNATURE,
    )
    return Message(subject, body, None)
