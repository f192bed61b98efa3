"""What the coach's home page shows: upcoming appointments and the health of
every calendar connection, in the coach's own zone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from coach_app.calendars.registry import service_label
from coach_app.models import (
    Appointment,
    AppointmentType,
    Client,
    Coach,
    SubCalendar,
    utcnow,
)
from coach_app.services import connections
from coach_app.services.errors import NotLoggedIn


@dataclass(frozen=True)
class Upcoming:
    id: int
    client: str
    type_name: str
    start: dt.datetime  # coach-local
    end: dt.datetime


@dataclass(frozen=True)
class Health:
    id: int
    service: str  # "iCloud", "Google", ...
    account: str
    calendars: str  # "pulls Work, Family · pushes to Coach App"
    state: str  # ok | error | reconnect
    last_sync: dt.datetime | None  # coach-local
    next_sync: dt.datetime | None
    error: str


def _coach(session: Session, coach_id: int) -> Coach:
    coach = session.get(Coach, coach_id)
    if coach is None:
        raise NotLoggedIn()
    return coach


def upcoming(
    session: Session, coach_id: int, now: dt.datetime | None = None, limit: int = 5
) -> list[Upcoming]:
    """The next confirmed appointments, including one under way."""
    zone = ZoneInfo(_coach(session, coach_id).timezone)
    rows = session.exec(
        select(Appointment, Client.name, AppointmentType.name)
        .join(Client, Client.id == Appointment.client_id)
        .join(
            AppointmentType,
            AppointmentType.id == Appointment.appointment_type_id,
            isouter=True,
        )
        .where(
            Appointment.coach_id == coach_id,
            Appointment.status == "confirmed",
            Appointment.end > (now or utcnow()),
        )
        .order_by(Appointment.start)
        .limit(limit)
    ).all()
    return [
        Upcoming(
            a.id,  # type: ignore[arg-type]
            client,
            type_name or "Appointment",
            a.start.astimezone(zone),
            a.end.astimezone(zone),
        )
        for a, client, type_name in rows
    ]


def _calendars(subs: list[SubCalendar]) -> str:
    pulled = ", ".join(s.name for s in subs if s.pull)
    pushed = next((s.name for s in subs if s.push), "")
    parts = [f"pulls {pulled}" if pulled else "pulls nothing"]
    if pushed:
        parts.append(f"pushes to {pushed}")
    return " · ".join(parts)


def health(session: Session, coach_id: int) -> list[Health]:
    zone = ZoneInfo(_coach(session, coach_id).timezone)
    out = []
    for row, subs in connections.list_connections(session, coach_id):
        out.append(
            Health(
                id=row.id,  # type: ignore[arg-type]
                service=service_label(row.provider),
                account=row.account_label,
                calendars=_calendars(subs),
                state=row.status if row.status in ("error", "reconnect") else "ok",
                last_sync=row.last_sync_at.astimezone(zone)
                if row.last_sync_at
                else None,
                next_sync=row.next_sync_at.astimezone(zone)
                if row.next_sync_at
                else None,
                error=row.last_error,
            )
        )
    return out
