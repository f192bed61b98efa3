"""The coach's home: upcoming appointments, connection health, notices."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import (
    AppointmentType,
    CalendarConnection,
    CoachNotice,
    SubCalendar,
)
from coach_app.services import auth, booking, dashboard, notices

NOW = dt.datetime(2030, 1, 7, 0, 0, tzinfo=dt.UTC)  # a Monday
NINE = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)
T = dt.datetime(2030, 1, 7, 4, 0, tzinfo=dt.UTC)  # 09:30 in Kolkata


def _coach(url: str, email: str = "kim@example.com", name: str = "Kim Coach") -> int:
    with session_scope(url) as s:
        return auth.sign_up(s, email, "password-1", name, "Asia/Kolkata").id  # type: ignore[return-value]


def test_upcoming_lists_confirmed_future_appointments_in_the_coachs_zone(sqlite_url):
    coach_id = _coach(sqlite_url)
    with session_scope(sqlite_url) as s:
        type_id = s.exec(select(AppointmentType.id)).one()
        made = [
            booking.book(
                s,
                slug="kim-coach",
                type_id=type_id,
                start=T + dt.timedelta(hours=h),
                name=f"Client {h}",
                email=f"c{h}@example.com",
                now=NOW,
            )
            for h in (2, 0, 4)
        ]
        booking.cancel(s, coach_id, made[2].appointment_id)
    with session_scope(sqlite_url) as s:
        rows = dashboard.upcoming(s, coach_id, now=T + dt.timedelta(minutes=30))
    # The 09:30 one is under way (still listed); the cancelled one is not.
    assert [(r.client, f"{r.start:%H:%M}") for r in rows] == [
        ("Client 0", "09:30"),
        ("Client 2", "11:30"),
    ]


def test_health_reports_state_sync_times_error_and_calendars(sqlite_url):
    coach_id = _coach(sqlite_url)
    with session_scope(sqlite_url) as s:
        conn = CalendarConnection(
            coach_id=coach_id,
            provider="icloud",
            account_label="kim@icloud.com",
            status="reconnect",
            last_error="The app-specific password was revoked.",
            last_sync_at=NINE,
        )
        s.add(conn)
        s.flush()
        s.add(
            SubCalendar(connection_id=conn.id, remote_id="/w/", name="Work", pull=True)
        )
        s.add(
            SubCalendar(
                connection_id=conn.id, remote_id="/c/", name="Coach App", push=True
            )
        )
    with session_scope(sqlite_url) as s:
        [h] = dashboard.health(s, coach_id)
    assert (h.service, h.account, h.state) == ("iCloud", "kim@icloud.com", "reconnect")
    assert h.calendars == "pulls Work · pushes to Coach App"
    assert f"{h.last_sync:%H:%M}" == "14:30" and h.next_sync is None
    assert h.error == "The app-specific password was revoked."


def test_notices_are_dismissed_one_by_one_or_all_and_only_ones_own(sqlite_url):
    kim = _coach(sqlite_url)
    other = _coach(sqlite_url, "o@example.com", "Other Coach")
    with session_scope(sqlite_url) as s:
        for text in ("first", "second", "third"):
            s.add(CoachNotice(coach_id=kim, message=text))
        s.add(CoachNotice(coach_id=other, message="theirs"))
    with session_scope(sqlite_url) as s:
        first, second, third = sorted(notices.unread(s, kim), key=lambda n: n.id)
        theirs = notices.unread(s, other)[0]
        notices.dismiss(s, kim, second.id)
        notices.dismiss(s, kim, theirs.id)  # not Kim's: nothing happens
    with session_scope(sqlite_url) as s:
        assert [n.message for n in notices.unread(s, kim)] == ["third", "first"]
        assert [n.message for n in notices.unread(s, other)] == ["theirs"]
        notices.dismiss(s, kim)
    with session_scope(sqlite_url) as s:
        assert notices.unread(s, kim) == []
