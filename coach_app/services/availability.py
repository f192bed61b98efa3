"""Gathers a coach's hours, appointments and pulled busy events for the engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, select

from coach_app.availability import (
    AppointmentRules,
    BusyInterval,
    BusyKind,
    WorkingHours,
    open_slots,
)
from coach_app.models import (
    Appointment,
    AppointmentType,
    CalendarConnection,
    Coach,
    ExternalEvent,
    SubCalendar,
)
from coach_app.services.schedule import working_hours


def rules_for(row: AppointmentType) -> AppointmentRules:
    return AppointmentRules(
        duration_minutes=row.duration_min,
        interval_minutes=row.slot_interval_min,
        buffer_before_minutes=row.buffer_before_min,
        buffer_after_minutes=row.buffer_after_min,
        min_notice_minutes=row.min_notice_min,
        max_per_day=row.max_per_day,
        horizon_days=row.horizon_days,
    )


def appointment_intervals(
    session: Session,
    coach_id: int,
    start: dt.datetime,
    end: dt.datetime,
    exclude_id: int | None = None,
) -> list[BusyInterval]:
    query = select(Appointment).where(
        Appointment.coach_id == coach_id,
        Appointment.status == "confirmed",
        Appointment.end > start,
        Appointment.start < end,
    )
    if exclude_id is not None:
        query = query.where(Appointment.id != exclude_id)
    return [
        BusyInterval(a.start, a.end, BusyKind.APPOINTMENT, ref=f"appointment:{a.id}")
        for a in session.exec(query).all()
    ]


def external_intervals(
    session: Session, coach_id: int, start: dt.datetime, end: dt.datetime
) -> list[BusyInterval]:
    """Pulled busy events of connections whose pull and conflict check are on."""
    rows = session.exec(
        select(
            ExternalEvent.start, ExternalEvent.end, ExternalEvent.busy, ExternalEvent.id
        )
        .join(SubCalendar, SubCalendar.id == ExternalEvent.sub_calendar_id)
        .join(CalendarConnection, CalendarConnection.id == SubCalendar.connection_id)
        .where(
            ExternalEvent.coach_id == coach_id,
            ExternalEvent.busy.is_(True),  # type: ignore[union-attr]
            ExternalEvent.end > start,
            ExternalEvent.start < end,
            SubCalendar.pull.is_(True),  # type: ignore[union-attr]
            CalendarConnection.pull_enabled.is_(True),  # type: ignore[union-attr]
            CalendarConnection.check_conflicts.is_(True),  # type: ignore[union-attr]
        )
    ).all()
    return [
        BusyInterval(s, e, BusyKind.EXTERNAL, busy=b, ref=f"external:{i}")
        for s, e, b, i in rows
    ]


@dataclass(frozen=True)
class Inputs:
    hours: WorkingHours
    rules: AppointmentRules
    busy: list[BusyInterval]
    same_type_starts: list[dt.datetime]


def gather(
    session: Session,
    coach: Coach,
    appt_type: AppointmentType,
    start: dt.datetime,
    end: dt.datetime,
) -> Inputs:
    assert coach.id is not None
    rules = rules_for(appt_type)
    # Widen by the buffers and a day so padding and the daily maximum see
    # everything that can touch a slot in [start, end).
    lo = start - dt.timedelta(days=1, minutes=rules.buffer_before_minutes)
    hi = end + dt.timedelta(days=1, minutes=rules.buffer_after_minutes)
    same_type = session.exec(
        select(Appointment.start).where(
            Appointment.coach_id == coach.id,
            Appointment.appointment_type_id == appt_type.id,
            Appointment.status == "confirmed",
            Appointment.start >= lo,
            Appointment.start < hi,
        )
    ).all()
    return Inputs(
        hours=working_hours(session, coach),
        rules=rules,
        busy=appointment_intervals(session, coach.id, lo, hi)
        + external_intervals(session, coach.id, lo, hi),
        same_type_starts=list(same_type),
    )


def slots(
    session: Session,
    coach: Coach,
    appt_type: AppointmentType,
    now: dt.datetime,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> list[dt.datetime]:
    """Open slot starts (UTC) of `appt_type` in [start, end), default the horizon."""
    start = start or now
    end = end or now + dt.timedelta(days=appt_type.horizon_days + 2)
    inputs = gather(session, coach, appt_type, start, end)
    return open_slots(
        inputs.hours,
        inputs.rules,
        inputs.busy,
        now=now,
        check_conflicts=True,
        range_start=start,
        range_end=end,
        same_type_starts=inputs.same_type_starts,
    )
