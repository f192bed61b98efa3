"""What the coach's calendar lists: labels, sources, days touched."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import (
    AppointmentType,
    CalendarConnection,
    ExternalEvent,
    SubCalendar,
)
from coach_app.services import auth, booking
from coach_app.services.calendar_view import week_items

MONDAY = dt.date(2030, 1, 7)
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def test_external_events_name_service_and_calendar_and_span_their_days(sqlite_url):
    with session_scope(sqlite_url) as s:
        coach = auth.sign_up(s, "k@example.com", "password-1", "Kim", "UTC")
        conn = CalendarConnection(coach_id=coach.id, provider="icloud")
        s.add(conn)
        s.flush()
        sub = SubCalendar(
            connection_id=conn.id, remote_id="/w/", name="Work", pull=True
        )
        s.add(sub)
        s.flush()
        late = dt.datetime(2030, 1, 8, 22, tzinfo=dt.UTC)
        s.add(
            ExternalEvent(
                coach_id=coach.id,
                sub_calendar_id=sub.id,
                remote_id="/w/late.ics",
                summary="Night shift",
                start=late,
                end=late + dt.timedelta(hours=4),
                busy=False,
            )
        )
        type_id = s.exec(select(AppointmentType.id)).one()
        booking.create_by_coach(
            s,
            coach.id,
            type_id=type_id,
            start=dt.datetime(2030, 1, 9, 10, tzinfo=dt.UTC),
            client_name="Ivy",
            client_email="ivy@example.com",
            now=NOW,
        )
    with session_scope(sqlite_url) as s:
        _, days = week_items(s, coach.id, MONDAY)
        _, one = week_items(s, coach.id, MONDAY + dt.timedelta(days=2), 1)
    shift = [(d.day, i.label, i.source) for d, items in days.items() for i in items]
    assert (8, "Free", "iCloud · Work") in shift and (
        9,
        "Free",
        "iCloud · Work",
    ) in shift
    [appointment] = [
        i for i in one[MONDAY + dt.timedelta(days=2)] if i.kind == "appointment"
    ]
    assert (appointment.title, appointment.source) == ("Ivy", "ivy@example.com")
    assert list(one) == [MONDAY + dt.timedelta(days=2)]
