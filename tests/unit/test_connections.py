"""Managing a connection: first-sync progress, notices, owner checks."""

from __future__ import annotations

import datetime as dt

import pytest

from coach_app.db import session_scope
from coach_app.models import CalendarConnection, CoachNotice, ExternalEvent, SubCalendar
from coach_app.services import auth, connections, notices
from coach_app.services.errors import Forbidden

T = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)


def _connection_with_events(url: str, events: int) -> tuple[int, int]:
    with session_scope(url) as s:
        coach = auth.sign_up(s, "kim@example.com", "password-1", "Kim", "UTC")
        conn = CalendarConnection(coach_id=coach.id, provider="caldav")  # type: ignore[arg-type]
        s.add(conn)
        s.flush()
        sub = SubCalendar(
            connection_id=conn.id, remote_id="/w/", name="Work", pull=True
        )  # type: ignore[arg-type]
        s.add(sub)
        s.flush()
        for n in range(events):
            s.add(
                ExternalEvent(
                    coach_id=coach.id,  # type: ignore[arg-type]
                    sub_calendar_id=sub.id,  # type: ignore[arg-type]
                    remote_id=f"e{n}",
                    start=T + dt.timedelta(hours=n),
                    end=T + dt.timedelta(hours=n, minutes=30),
                )
            )
        return coach.id, conn.id  # type: ignore[return-value]


def test_first_sync_progress_counts_imported_events_until_the_sync_finished(
    sqlite_url,
):
    coach_id, conn_id = _connection_with_events(sqlite_url, 1240)
    with session_scope(sqlite_url) as s:
        row = connections.owned(s, coach_id, conn_id)
        assert connections.first_sync_progress(s, row) == (
            "First sync in progress: 1,240 events imported so far…"
        )
        row.last_sync_at = T
        assert connections.first_sync_progress(s, row) == ""


def test_a_dismissed_notice_is_gone_and_another_coachs_notice_cannot_be_dismissed(
    sqlite_url,
):
    coach_id, conn_id = _connection_with_events(sqlite_url, 0)
    with session_scope(sqlite_url) as s:
        other = auth.sign_up(s, "eve@example.com", "password-1", "Eve", "UTC")
        mine = CoachNotice(coach_id=coach_id, message="mine")
        theirs = CoachNotice(coach_id=other.id, message="theirs")  # type: ignore[arg-type]
        s.add_all([mine, theirs])
        s.flush()
        ids = (mine.id, theirs.id)
    with session_scope(sqlite_url) as s:
        notices.dismiss(s, coach_id, ids[0])  # type: ignore[arg-type]
        notices.dismiss(s, coach_id, ids[1])  # type: ignore[arg-type]
    with session_scope(sqlite_url) as s:
        assert [n.message for n in notices.unread(s, coach_id)] == []
        assert [n.message for n in notices.unread(s, other.id)] == ["theirs"]  # type: ignore[arg-type]
        with pytest.raises(Forbidden):
            connections.owned(s, other.id, conn_id)  # type: ignore[arg-type]
