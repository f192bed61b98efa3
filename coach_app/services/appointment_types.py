"""Appointment types a coach offers on the booking page."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from coach_app import changes
from coach_app.models import AppointmentType
from coach_app.services.errors import Forbidden, UserError


@dataclass(frozen=True)
class TypeInput:
    name: str
    duration_min: int = 60
    slot_interval_min: int = 30
    buffer_before_min: int = 0
    buffer_after_min: int = 0
    min_notice_min: int = 240
    max_per_day: int | None = None
    horizon_days: int = 60
    description: str = ""


def _check(data: TypeInput) -> TypeInput:
    name = (data.name or "").strip()
    if not name:
        raise UserError("Please give the appointment type a name.")
    if not 5 <= data.duration_min <= 12 * 60:
        raise UserError("Duration must be between 5 minutes and 12 hours.")
    if not 5 <= data.slot_interval_min <= 12 * 60:
        raise UserError("Slot interval must be between 5 minutes and 12 hours.")
    if not (0 <= data.buffer_before_min <= 480 and 0 <= data.buffer_after_min <= 480):
        raise UserError("Buffers must be between 0 and 480 minutes.")
    if not 0 <= data.min_notice_min <= 60 * 24 * 90:
        raise UserError("Minimum notice must be between 0 minutes and 90 days.")
    if data.max_per_day is not None and not 1 <= data.max_per_day <= 100:
        raise UserError("The daily maximum must be between 1 and 100, or empty.")
    if not 1 <= data.horizon_days <= 730:
        raise UserError("Bookings may be offered from 1 to 730 days ahead.")
    description = (data.description or "").strip()
    if len(description) > 1000:
        raise UserError("Please keep the description under 1,000 characters.")
    return TypeInput(
        **{**data.__dict__, "name": name[:120], "description": description}
    )


def owned_type(session: Session, coach_id: int, type_id: int) -> AppointmentType:
    row = session.get(AppointmentType, type_id)
    if row is None or row.coach_id != coach_id:
        raise Forbidden()
    return row


def list_types(session: Session, coach_id: int) -> list[AppointmentType]:
    return list(
        session.exec(
            select(AppointmentType)
            .where(AppointmentType.coach_id == coach_id)
            .order_by(AppointmentType.id)
        ).all()
    )


def create_type(session: Session, coach_id: int, data: TypeInput) -> AppointmentType:
    row = AppointmentType(coach_id=coach_id, **_check(data).__dict__)
    session.add(row)
    session.flush()
    changes.announce(session, coach_id)
    return row


def update_type(
    session: Session, coach_id: int, type_id: int, data: TypeInput
) -> AppointmentType:
    row = owned_type(session, coach_id, type_id)
    for key, value in _check(data).__dict__.items():
        setattr(row, key, value)
    session.add(row)
    session.flush()
    changes.announce(session, coach_id)
    return row


def set_type_active(
    session: Session, coach_id: int, type_id: int, active: bool
) -> AppointmentType:
    """Types are archived, not deleted, so past appointments keep their type."""
    row = owned_type(session, coach_id, type_id)
    row.active = active
    session.add(row)
    session.flush()
    changes.announce(session, coach_id)
    return row
