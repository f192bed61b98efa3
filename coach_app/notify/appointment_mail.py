"""Which emails an appointment change sends, written into the outbox.

Called inside the change's own transaction; each email has a dedupe key made
of the appointment id, its version and the kind, so a retried transaction or
a second worker never sends one twice.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from coach_app.models import Appointment, AppointmentType, Client, Coach
from coach_app.notify import messages
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


def _common(
    coach: Coach, client: Client, type_name: str, appointment: Appointment
) -> dict:
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
    }


def booked(
    session: Session,
    coach: Coach,
    client: Client,
    appt_type: AppointmentType,
    appointment: Appointment,
    invitee_timezone: str | None,
    *,
    by_coach: bool = False,
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
            **_common(coach, client, appt_type.name, appointment)
        ),
    )
    if not by_coach:
        enqueue_message(
            session,
            dedupe_key=appointment_key(
                "coach-new", appointment.id, appointment.version
            ),
            to=coach.email,
            message=messages.new_booking_to_coach(
                start=appointment.start,
                end=appointment.end,
                type_name=appt_type.name,
                coach_name=coach.display_name,
                coach_tz=coach.timezone,
                client_name=client.name,
                client_email=client.email,
                note=appointment.note,
            ),
        )


def rescheduled(
    session: Session,
    coach: Coach,
    appointment: Appointment,
    old_start: dt.datetime,
    old_end: dt.datetime,
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
            **_common(coach, client, type_name, appointment),
        ),
    )


def cancelled(session: Session, coach: Coach, appointment: Appointment) -> None:
    assert appointment.id is not None
    client, type_name = _parts(session, appointment)
    enqueue_message(
        session,
        dedupe_key=appointment_key("cancelled", appointment.id, appointment.version),
        to=client.email,
        message=messages.cancelled_to_client(
            **_common(coach, client, type_name, appointment)
        ),
    )
