"""Which emails an appointment change sends, written into the outbox.

Called inside the change's own transaction; each email has a dedupe key made
of the appointment id, its version and the kind, so a retried transaction or
a second worker never sends one twice. Every email to the client carries the
manage link (reschedule or cancel) and the coach's booking link; `base_url`
is the address of the page the change was made on (see `notify.links`).
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from coach_app.models import Appointment, AppointmentType, Client, Coach
from coach_app.notify import links, messages
from coach_app.notify.outbox import appointment_key, enqueue_message


def _parts(session: Session, appointment: Appointment) -> tuple[Client, str]:
    client = session.get(Client, appointment.client_id)
    assert client is not None
    appt_type = (
        session.get(AppointmentType, appointment.appointment_type_id)
        if appointment.appointment_type_id
        else None
    )
    return client, appt_type.name if appt_type else "Appointment"


def _for_coach(
    coach: Coach, client: Client, type_name: str, appointment: Appointment
) -> dict:
    """What every email to the coach about an appointment names."""
    return {
        "start": appointment.start,
        "end": appointment.end,
        "type_name": type_name,
        "coach_name": coach.display_name,
        "coach_tz": coach.timezone,
        "client_name": client.name,
        "client_email": client.email,
    }


def _common(
    coach: Coach,
    client: Client,
    type_name: str,
    appointment: Appointment,
    base_url: str,
) -> dict:
    base = links.public_base(base_url)
    return {
        "appointment_id": appointment.id,
        "sequence": appointment.version,
        "start": appointment.start,
        "end": appointment.end,
        "type_name": type_name,
        "coach_name": coach.display_name,
        "coach_email": coach.email,
        "coach_tz": coach.timezone,
        "client_name": client.name,
        "client_email": client.email,
        "client_tz": appointment.invitee_timezone or None,
        "manage_url": links.manage_url(base, links.manage_token(appointment)),
        "booking_url": links.booking_url(base, coach.slug),
    }


def _to_coach(
    session: Session,
    coach: Coach,
    appointment: Appointment,
    kind: str,
    message: messages.Message,
) -> None:
    assert appointment.id is not None
    enqueue_message(
        session,
        dedupe_key=appointment_key(kind, appointment.id, appointment.version),
        to=coach.email,
        message=message,
    )


def booked(
    session: Session,
    coach: Coach,
    client: Client,
    appt_type: AppointmentType,
    appointment: Appointment,
    invitee_timezone: str | None,
    *,
    by_coach: bool = False,
    base_url: str = "",
) -> None:
    assert appointment.id is not None
    if invitee_timezone:
        appointment.invitee_timezone = invitee_timezone
        session.add(appointment)
    enqueue_message(
        session,
        dedupe_key=appointment_key("confirmation", appointment.id, appointment.version),
        to=client.email,
        message=messages.booking_confirmation_to_client(
            **_common(coach, client, appt_type.name, appointment, base_url)
        ),
    )
    if not by_coach:
        _to_coach(
            session,
            coach,
            appointment,
            "coach-new",
            messages.new_booking_to_coach(
                **_for_coach(coach, client, appt_type.name, appointment),
                note=appointment.note,
            ),
        )


def rescheduled(
    session: Session,
    coach: Coach,
    appointment: Appointment,
    old_start: dt.datetime,
    old_end: dt.datetime,
    *,
    base_url: str = "",
    by_client: bool = False,
) -> None:
    assert appointment.id is not None
    client, type_name = _parts(session, appointment)
    enqueue_message(
        session,
        dedupe_key=appointment_key("rescheduled", appointment.id, appointment.version),
        to=client.email,
        message=messages.rescheduled_to_client(
            old_start=old_start,
            old_end=old_end,
            **_common(coach, client, type_name, appointment, base_url),
        ),
    )
    if by_client:
        _to_coach(
            session,
            coach,
            appointment,
            "coach-rescheduled",
            messages.client_rescheduled_to_coach(
                old_start=old_start,
                old_end=old_end,
                **_for_coach(coach, client, type_name, appointment),
            ),
        )


def cancelled(
    session: Session,
    coach: Coach,
    appointment: Appointment,
    *,
    base_url: str = "",
    by_client: bool = False,
) -> None:
    assert appointment.id is not None
    client, type_name = _parts(session, appointment)
    enqueue_message(
        session,
        dedupe_key=appointment_key("cancelled", appointment.id, appointment.version),
        to=client.email,
        message=messages.cancelled_to_client(
            **_common(coach, client, type_name, appointment, base_url)
        ),
    )
    if by_client:
        _to_coach(
            session,
            coach,
            appointment,
            "coach-cancelled",
            messages.client_cancelled_to_coach(
                **_for_coach(coach, client, type_name, appointment),
            ),
        )
