"""Seeding helpers shared by the live-availability tests and benchmark."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import (
    AppointmentType,
    CalendarConnection,
    ExternalEvent,
    SubCalendar,
    WorkingHours,
)
from coach_app.security.secrets import encrypt
from coach_app.services import auth, schedule


def seed_live_coach(url: str, email: str, name: str) -> dict:
    """A coach (UTC) who works only 09:00-12:00 on one day two days ahead, with
    a connected calendar holding one busy event 09:00-09:30 that day."""
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    nine = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
    with session_scope(url) as s:
        coach = auth.sign_up(s, email, "live-password", name, "UTC")
        s.exec(sa.delete(WorkingHours).where(WorkingHours.coach_id == coach.id))
        schedule.set_override(s, coach.id, day, [(9 * 60, 12 * 60)])
        t = s.exec(
            select(AppointmentType).where(AppointmentType.coach_id == coach.id)
        ).one()
        t.min_notice_min = 0
        s.add(t)
        # A server that is never reached: its syncs fail and are reported as
        # such, while the seeded busy event stays, as after any failed sync.
        conn = CalendarConnection(
            coach_id=coach.id,
            provider="caldav",
            account_label="Seeded account",
            server_url="http://127.0.0.1:9/",
            username="seeded",
            secret_encrypted=encrypt("seeded"),
        )
        s.add(conn)
        s.flush()
        sub = SubCalendar(
            connection_id=conn.id, remote_id="/work/", name="Work", pull=True
        )
        s.add(sub)
        s.flush()
        s.add(
            ExternalEvent(
                coach_id=coach.id,
                sub_calendar_id=sub.id,
                remote_id="/work/dentist.ics",
                summary="Dentist",
                start=nine,
                end=nine + dt.timedelta(minutes=30),
                busy=True,
            )
        )
        return {"coach_id": coach.id, "slug": coach.slug, "day": day, "email": email}
