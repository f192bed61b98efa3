"""The coach's week (or day): appointments and pulled external events, in the
coach's zone, each external one labelled Busy/Free with the service and
calendar it came from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from coach_app.calendars.registry import service_label
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
    source: str = ""  # external: "iCloud · Work"; appointment: client email


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def _each_day(
    out: dict[dt.date, list[Item]], item: Item, end_utc: dt.datetime, zone: ZoneInfo
) -> None:
    """An item shows on every shown day it touches (clipped by the page)."""
    days = list(out)
    day = max(item.start.date(), days[0])
    while day <= days[-1] and local_midnight(day, zone) < end_utc:
        out[day].append(item)
        day += dt.timedelta(days=1)


def week_items(
    session: Session, coach_id: int, monday: dt.date, count: int = 7
) -> tuple[Coach, dict[dt.date, list[Item]]]:
    """Items of `count` days from `monday` (any first day), by local day."""
    coach = session.get(Coach, coach_id)
    if coach is None:
        raise NotLoggedIn()
    zone = ZoneInfo(coach.timezone)
    days = [monday + dt.timedelta(days=i) for i in range(count)]
    lo, hi = (
        local_midnight(days[0], zone),
        local_midnight(days[-1] + dt.timedelta(days=1), zone),
    )
    out: dict[dt.date, list[Item]] = {d: [] for d in days}

    appts = session.exec(
        select(Appointment, Client.name, Client.email, AppointmentType.name)
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
    for appt, client_name, client_email, type_name in appts:
        item = Item(
            "appointment",
            appt.id,
            client_name,
            appt.start.astimezone(zone),
            appt.end.astimezone(zone),
            type_name or "Appointment",
            source=client_email,
        )
        _each_day(out, item, appt.end, zone)

    events = session.exec(
        select(ExternalEvent, SubCalendar.name, CalendarConnection.provider)
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
    for ev, calendar_name, provider in events:
        item = Item(
            "external",
            ev.id,  # type: ignore[arg-type]
            ev.summary or "(no title)",
            ev.start.astimezone(zone),
            ev.end.astimezone(zone),
            "Busy" if ev.busy else "Free",
            ev.all_day,
            source=f"{service_label(provider)} · {calendar_name}",
        )
        _each_day(out, item, ev.end, zone)
    for items in out.values():
        items.sort(key=lambda i: (not i.all_day, i.start, i.kind))
    return coach, out
