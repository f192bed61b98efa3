"""The coach's week: appointments and pulled external events, in the coach's zone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from coach_app.models import (
    Appointment,
    AppointmentType,
    CalendarConnection,
    Client,
    Coach,
    ExternalEvent,
    SubCalendar,
)
from coach_app.services.errors import NotLoggedIn


@dataclass(frozen=True)
class Item:
    kind: str  # appointment | external
    id: int
    title: str
    start: dt.datetime  # coach-local
    end: dt.datetime
    label: str  # Busy / Free for external, type name for appointments
    all_day: bool = False


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def week_items(
    session: Session, coach_id: int, monday: dt.date
) -> tuple[Coach, dict[dt.date, list[Item]]]:
    coach = session.get(Coach, coach_id)
    if coach is None:
        raise NotLoggedIn()
    zone = ZoneInfo(coach.timezone)
    days = [monday + dt.timedelta(days=i) for i in range(7)]
    lo, hi = (
        local_midnight(days[0], zone),
        local_midnight(days[-1] + dt.timedelta(days=1), zone),
    )
    out: dict[dt.date, list[Item]] = {d: [] for d in days}

    appts = session.exec(
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
            Appointment.end > lo,
            Appointment.start < hi,
        )
    ).all()
    for appt, client_name, type_name in appts:
        start = appt.start.astimezone(zone)
        out.setdefault(start.date(), []).append(
            Item(
                "appointment",
                appt.id,
                client_name,
                start,
                appt.end.astimezone(zone),
                type_name or "Appointment",
            )
        )

    events = session.exec(
        select(ExternalEvent)
        .join(SubCalendar, SubCalendar.id == ExternalEvent.sub_calendar_id)
        .join(CalendarConnection, CalendarConnection.id == SubCalendar.connection_id)
        .where(
            ExternalEvent.coach_id == coach_id,
            ExternalEvent.end > lo,
            ExternalEvent.start < hi,
            SubCalendar.pull.is_(True),  # type: ignore[union-attr]
            CalendarConnection.pull_enabled.is_(True),  # type: ignore[union-attr]
        )
    ).all()
    for ev in events:
        start, end = ev.start.astimezone(zone), ev.end.astimezone(zone)
        # A multi-day event (a long busy block of a series repeating every
        # minute, say) shows on every day it touches, cut to that day; a
        # day it covers completely shows it as all-day.
        day = max(start.date(), days[0])
        while day <= days[-1] and local_midnight(day, zone) < ev.end:
            day_start = local_midnight(day, zone).astimezone(zone)
            day_end = local_midnight(day + dt.timedelta(days=1), zone).astimezone(zone)
            shown_start, shown_end = max(start, day_start), min(end, day_end)
            out[day].append(
                Item(
                    "external",
                    ev.id,
                    ev.summary or "(no title)",
                    shown_start,
                    shown_end,
                    "Busy" if ev.busy else "Free",
                    ev.all_day or (shown_start == day_start and shown_end == day_end),
                )
            )
            day += dt.timedelta(days=1)
    for items in out.values():
        items.sort(key=lambda i: (not i.all_day, i.start, i.kind))
    return coach, out
