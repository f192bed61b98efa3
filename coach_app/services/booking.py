"""Booking, coach-made appointments, rescheduling and cancelling.

The no-double-booking guarantee lives here, in one database transaction:
the coach's row is locked (PostgreSQL `SELECT … FOR UPDATE`; on SQLite every
write transaction is `BEGIN IMMEDIATE`, see `coach_app.db`), the slot is
re-checked against fresh data, and only then is the appointment written. On
PostgreSQL an exclusion constraint over the time range backs this up, so even
a code path that forgot the lock cannot store an overlap.

Every change writes its emails and calendar-push work in the same
transaction (transactional outbox): a crash never sends mail for an
appointment that does not exist, nor loses one for an appointment that does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from coach_app import appointments
from coach_app.availability import BusyKind, conflicts
from coach_app.models import (
    Appointment,
    AppointmentType,
    Client,
    Coach,
    ExternalEvent,
    utcnow,
)
from coach_app.notify import appointment_mail
from coach_app.services import availability, throttle
from coach_app.services.errors import Forbidden, UserError
from coach_app.services.validation import normalize_email

SLOT_TAKEN = "Sorry, that time was just taken. Please pick another time."


class SlotTaken(UserError):
    def __init__(self, message: str = SLOT_TAKEN) -> None:
        super().__init__(message)


class ConflictWarning(UserError):
    """The time overlaps busy external events; the coach may confirm anyway."""

    def __init__(self, titles: list[str]) -> None:
        self.titles = titles
        listed = ", ".join(f"“{t}”" for t in titles[:3]) or "a busy event"
        super().__init__(f"This time overlaps {listed} in your connected calendar.")


@dataclass(frozen=True)
class Booking:
    appointment_id: int
    coach_id: int
    start: dt.datetime
    end: dt.datetime
    coach_name: str
    type_name: str


def coach_by_slug(session: Session, slug: str) -> Coach:
    coach = session.exec(
        select(Coach).where(Coach.slug == (slug or "").strip().lower())
    ).first()
    if coach is None:
        raise UserError("This booking page does not exist. Please check the link.")
    return coach


def offered_type(session: Session, coach_id: int, type_id: int) -> AppointmentType:
    row = session.get(AppointmentType, type_id) if type_id else None
    if row is None or row.coach_id != coach_id or not row.active:
        raise UserError("That appointment type is not offered. Please choose another.")
    return row


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise UserError("That time has no time zone; please pick a slot again.")
    return value.astimezone(dt.UTC)


def _who_and_when(
    name: str,
    email: str,
    start: dt.datetime,
    now: dt.datetime,
    missing_name: str,
    other_time: str,
) -> tuple[str, str, dt.datetime]:
    """The checks every new appointment needs, in the order a person reads
    the form: name, email, then the time."""
    name = (name or "").strip()
    if not name:
        raise UserError(missing_name)
    email = normalize_email(email)
    start = _aware(start)
    if start <= now:
        raise UserError(f"That time has already passed. Please pick {other_time} time.")
    return name, email, start


def _client(session: Session, coach_id: int, name: str, email: str) -> Client:
    client = session.exec(
        select(Client).where(Client.coach_id == coach_id, Client.email == email)
    ).first()
    if client is None:
        client = Client(coach_id=coach_id, name=name, email=email)
    else:
        client.name = name
    session.add(client)
    session.flush()
    return client


def _store(session: Session, appointment: Appointment) -> Appointment:
    session.add(appointment)
    try:
        with session.begin_nested():
            session.flush()
    except sa.exc.IntegrityError as exc:
        if "appointment_no_overlap" in str(exc.orig):
            raise SlotTaken() from None
        raise
    return appointment


def _overlapping_appointments(
    session: Session,
    coach_id: int,
    start: dt.datetime,
    end: dt.datetime,
    exclude_id: int | None = None,
) -> bool:
    return bool(
        availability.appointment_intervals(session, coach_id, start, end, exclude_id)
    )


def admit(
    session: Session,
    slug: str,
    client_address: str | None,
    now: dt.datetime | None = None,
) -> None:
    """Count a booking attempt against floods (``throttle.admit_booking``);
    call in its own transaction before ``book``, so refused bookings count."""
    coach = coach_by_slug(session, slug)
    assert coach.id is not None
    throttle.admit_booking(session, coach.id, client_address, now or utcnow())


def book(
    session: Session,
    *,
    slug: str,
    type_id: int,
    start: dt.datetime,
    name: str,
    email: str,
    note: str = "",
    invitee_timezone: str | None = None,
    base_url: str = "",
    now: dt.datetime | None = None,
) -> Booking:
    """An invitee books `start`; raises `SlotTaken` if it is no longer open."""
    now = now or utcnow()
    name, email, start = _who_and_when(
        name, email, start, now, "Please enter your name.", "another"
    )
    coach = coach_by_slug(session, slug)
    assert coach.id is not None
    appt_type = offered_type(session, coach.id, type_id)
    end = start + dt.timedelta(minutes=appt_type.duration_min)

    coach = appointments.lock_coach(session, coach.id)
    open_now = availability.slots(
        session, coach, appt_type, now, start - dt.timedelta(minutes=1), end
    )
    if start not in open_now:
        raise SlotTaken()

    client = _client(session, coach.id, name[:200], email)
    appointment = _store(
        session,
        Appointment(
            coach_id=coach.id,
            client_id=client.id,
            appointment_type_id=appt_type.id,
            start=start,
            end=end,
            note=(note or "").strip()[:2000],
        ),
    )
    appointments.queue_push(session, appointment, "upsert")
    appointment_mail.booked(
        session,
        coach,
        client,
        appt_type,
        appointment,
        invitee_timezone,
        base_url=base_url,
    )
    return Booking(
        appointment.id, coach.id, start, end, coach.display_name, appt_type.name
    )  # type: ignore[arg-type]


def _owned(session: Session, coach_id: int, appointment_id: int) -> Appointment:
    row = session.get(Appointment, appointment_id)
    if row is None or row.coach_id != coach_id:
        raise Forbidden()
    return row


def _external_conflicts(
    session: Session, coach_id: int, start: dt.datetime, end: dt.datetime
) -> list[str]:
    busy = availability.external_intervals(session, coach_id, start, end)
    hits = conflicts(start, end, busy)
    ids = [
        int(b.ref.split(":")[1]) for b in hits if b.kind is BusyKind.EXTERNAL and b.ref
    ]
    if not ids:
        return []
    titles = session.exec(
        select(ExternalEvent.summary).where(ExternalEvent.id.in_(ids))  # type: ignore[union-attr]
    ).all()
    return [t or "Busy" for t in titles]


def create_by_coach(
    session: Session,
    coach_id: int,
    *,
    type_id: int,
    start: dt.datetime,
    client_name: str,
    client_email: str,
    note: str = "",
    allow_conflict: bool = False,
    base_url: str = "",
    now: dt.datetime | None = None,
) -> Appointment:
    """The coach books a client. Overlapping another appointment is refused;
    overlapping a busy external event needs `allow_conflict` (a warning)."""
    now = now or utcnow()
    client_name, client_email, start = _who_and_when(
        client_name,
        client_email,
        start,
        now,
        "Please enter the client's name.",
        "a future",
    )
    appt_type = session.get(AppointmentType, type_id) if type_id else None
    if appt_type is None or appt_type.coach_id != coach_id:
        raise Forbidden("Please choose one of your appointment types.")
    end = start + dt.timedelta(minutes=appt_type.duration_min)
    coach = appointments.lock_coach(session, coach_id)
    if _overlapping_appointments(session, coach_id, start, end):
        raise SlotTaken(
            "That time overlaps another appointment. Please pick another time."
        )
    titles = _external_conflicts(session, coach_id, start, end)
    if titles and not allow_conflict:
        raise ConflictWarning(titles)
    client = _client(session, coach_id, client_name[:200], client_email)
    appointment = _store(
        session,
        Appointment(
            coach_id=coach_id,
            client_id=client.id,
            appointment_type_id=appt_type.id,
            start=start,
            end=end,
            note=(note or "").strip()[:2000],
        ),
    )
    appointments.queue_push(session, appointment, "upsert")
    appointment_mail.booked(
        session,
        coach,
        client,
        appt_type,
        appointment,
        None,
        by_coach=True,
        base_url=base_url,
    )
    return appointment


def reschedule(
    session: Session,
    coach_id: int,
    appointment_id: int,
    new_start: dt.datetime,
    *,
    allow_conflict: bool = False,
    base_url: str = "",
    now: dt.datetime | None = None,
) -> Appointment:
    now = now or utcnow()
    new_start = _aware(new_start)
    if new_start <= now:
        raise UserError("That time has already passed. Please pick a future time.")
    coach = appointments.lock_coach(session, coach_id)
    appointment = _owned(session, coach_id, appointment_id)
    if appointment.status != "confirmed":
        raise UserError("A cancelled appointment cannot be rescheduled.")
    new_end = new_start + (appointment.end - appointment.start)
    if _overlapping_appointments(session, coach_id, new_start, new_end, appointment.id):
        raise SlotTaken(
            "That time overlaps another appointment. Please pick another time."
        )
    titles = _external_conflicts(session, coach_id, new_start, new_end)
    if titles and not allow_conflict:
        raise ConflictWarning(titles)
    old_start, old_end = _move(session, appointment, new_start, new_end)
    appointment_mail.rescheduled(
        session, coach, appointment, old_start, old_end, base_url=base_url
    )
    return appointment


def _move(
    session: Session,
    appointment: Appointment,
    new_start: dt.datetime,
    new_end: dt.datetime,
) -> tuple[dt.datetime, dt.datetime]:
    """Store the new time and queue the push calendar's update; returns the old."""
    old = appointment.start, appointment.end
    appointment.start, appointment.end = new_start, new_end
    appointment.version += 1
    _store(session, appointment)
    appointments.queue_push(session, appointment, "upsert")
    return old


def cancel(
    session: Session,
    coach_id: int,
    appointment_id: int,
    *,
    notify_client: bool = True,
    base_url: str = "",
) -> Appointment:
    coach = appointments.lock_coach(session, coach_id)
    appointment = _owned(session, coach_id, appointment_id)
    appointments.cancel(
        session, coach, appointment, notify_client=notify_client, base_url=base_url
    )
    return appointment


# -- The invitee's own changes, through the manage link (services.manage) -----


def _client_changeable(
    session: Session, appointment_id: int, now: dt.datetime
) -> tuple[Coach, Appointment]:
    row = session.get(Appointment, appointment_id)
    if row is None:
        raise Forbidden()
    coach = appointments.lock_coach(session, row.coach_id)
    session.refresh(row)
    if row.status != "confirmed":
        raise UserError("This appointment was cancelled, so it cannot be changed.")
    if row.start <= now:
        raise UserError(
            "This appointment has already started, so it cannot be changed."
        )
    return coach, row


def cancel_by_client(
    session: Session,
    appointment_id: int,
    *,
    base_url: str = "",
    now: dt.datetime | None = None,
) -> Appointment:
    """The invitee cancels: the slot reopens, the push calendar drops the
    event, the invitee gets the cancellation and the coach is told."""
    coach, appointment = _client_changeable(session, appointment_id, now or utcnow())
    cancel(session, coach.id, appointment_id, notify_client=False)  # type: ignore[arg-type]
    appointment_mail.cancelled(
        session, coach, appointment, base_url=base_url, by_client=True
    )
    return appointment


def reschedule_by_client(
    session: Session,
    appointment_id: int,
    new_start: dt.datetime,
    *,
    base_url: str = "",
    now: dt.datetime | None = None,
) -> Appointment:
    """The invitee moves to another open slot of the same type (working hours,
    notice, buffers and busy time all apply, as when booking); raises
    `SlotTaken` when the time is no longer open."""
    now = now or utcnow()
    new_start = _aware(new_start)
    coach, appointment = _client_changeable(session, appointment_id, now)
    appt_type = (
        session.get(AppointmentType, appointment.appointment_type_id)
        if appointment.appointment_type_id
        else None
    )
    if appt_type is None:
        raise UserError(
            "This appointment cannot be moved here; please contact your coach."
        )
    new_end = new_start + (appointment.end - appointment.start)
    open_now = availability.slots(
        session, coach, appt_type, now, new_start - dt.timedelta(minutes=1), new_end
    )
    if new_start not in open_now:
        raise SlotTaken()
    old_start, old_end = _move(session, appointment, new_start, new_end)
    appointment_mail.rescheduled(
        session,
        coach,
        appointment,
        old_start,
        old_end,
        base_url=base_url,
        by_client=True,
    )
    return appointment
