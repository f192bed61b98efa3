"""The invitee's manage link: see, cancel or reschedule an appointment
without an account, through a signed link that expires when it starts.

The link is the only credential, so every use re-verifies it; a link that
was altered in any way reads as not valid, one whose time has passed as
expired, and neither says anything about the appointment it names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session

from coach_app.models import Appointment, AppointmentType, Coach, utcnow
from coach_app.notify.links import MANAGE_PURPOSE
from coach_app.security.signing import BadToken, ExpiredToken, verify
from coach_app.services import booking
from coach_app.services.errors import UserError

INVALID = (
    "This link is not valid. Please open the link in your most recent email "
    "about the appointment."
)
EXPIRED = (
    "This link has expired: an appointment can be changed here until it starts. "
    "For anything else, please contact your coach."
)


class LinkRefused(UserError):
    """The link is altered, unknown or expired; the message says which."""


def _appointment(session: Session, token: str, now: dt.datetime) -> Appointment:
    try:
        payload = verify(MANAGE_PURPOSE, token, now)
    except BadToken:
        raise LinkRefused(INVALID) from None
    except ExpiredToken:
        raise LinkRefused(EXPIRED) from None
    row = session.get(Appointment, int(payload))
    if row is None:
        raise LinkRefused(INVALID)
    return row


@dataclass(frozen=True)
class Managed:
    appointment_id: int
    coach_name: str
    slug: str
    type_id: int
    type_name: str
    start: dt.datetime
    end: dt.datetime
    cancelled: bool
    timezone: str  # the client's (from booking), else the coach's


def open_link(session: Session, token: str, now: dt.datetime | None = None) -> Managed:
    appointment = _appointment(session, token, now or utcnow())
    coach = session.get(Coach, appointment.coach_id)
    assert coach is not None
    appt_type = (
        session.get(AppointmentType, appointment.appointment_type_id)
        if appointment.appointment_type_id
        else None
    )
    return Managed(
        appointment_id=appointment.id,  # type: ignore[arg-type]
        coach_name=coach.display_name,
        slug=coach.slug,
        type_id=appt_type.id if appt_type else 0,  # type: ignore[arg-type]
        type_name=appt_type.name if appt_type else "Appointment",
        start=appointment.start,
        end=appointment.end,
        cancelled=appointment.status == "cancelled",
        timezone=appointment.invitee_timezone or coach.timezone,
    )


def cancel(
    session: Session, token: str, *, base_url: str = "", now: dt.datetime | None = None
) -> Appointment:
    appointment = _appointment(session, token, now or utcnow())
    return booking.cancel_by_client(session, appointment.id, base_url=base_url)  # type: ignore[arg-type]


def reschedule(
    session: Session,
    token: str,
    new_start: dt.datetime,
    *,
    base_url: str = "",
    now: dt.datetime | None = None,
) -> Appointment:
    now = now or utcnow()
    appointment = _appointment(session, token, now)
    return booking.reschedule_by_client(
        session,
        appointment.id,  # type: ignore[arg-type]
        new_start,
        base_url=base_url,
        now=now,
    )
