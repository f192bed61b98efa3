"""Booking by invitees and by the coach: validation, conflicts, emails, races."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import (
    Appointment,
    AppointmentType,
    CalendarConnection,
    Client,
    EmailOutbox,
    ExternalEvent,
    SubCalendar,
)
from coach_app.services import auth, availability, booking
from coach_app.services.errors import Forbidden, UserError

UTC = dt.UTC
NOW = dt.datetime(2030, 1, 7, 0, 0, tzinfo=UTC)  # a Monday
NINE = dt.datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def _coach(
    url: str, email: str = "coach@example.com", name: str = "Kim Coach"
) -> tuple[int, int]:
    with session_scope(url) as s:
        coach = auth.sign_up(s, email, "password-1", name, "UTC")
        type_id = s.exec(
            select(AppointmentType.id).where(AppointmentType.coach_id == coach.id)
        ).one()
        return coach.id, type_id  # type: ignore[return-value]


def _book(url, type_id, start, email="ivy@example.com", slug="kim-coach", now=NOW):
    with session_scope(url) as s:
        return booking.book(
            s,
            slug=slug,
            type_id=type_id,
            start=start,
            name="Ivy Invitee",
            email=email,
            now=now,
            invitee_timezone="Asia/Kolkata",
        )


def _counts(url: str) -> tuple[int, int, int]:
    with session_scope(url) as s:
        return (
            len(s.exec(select(Appointment)).all()),
            len(s.exec(select(Client)).all()),
            len(s.exec(select(EmailOutbox)).all()),
        )


def test_booking_stores_appointment_and_queues_both_emails(sqlite_url):
    _, type_id = _coach(sqlite_url)
    done = _book(sqlite_url, type_id, NINE)
    assert (done.start, done.end) == (NINE, NINE + dt.timedelta(hours=1))
    with session_scope(sqlite_url) as s:
        mails = {m.to_addr: m for m in s.exec(select(EmailOutbox)).all()}
        appt = s.get(Appointment, done.appointment_id)
    assert set(mails) == {"ivy@example.com", "coach@example.com"}
    assert "BEGIN:VEVENT" in (mails["ivy@example.com"].ics or "")
    assert mails["coach@example.com"].ics is None
    # The client sees the time in the zone they booked from (09:00 UTC = 14:30 IST).
    assert "14:30" in mails["ivy@example.com"].body
    assert appt.invitee_timezone == "Asia/Kolkata"


def test_booked_slot_and_overlapping_slots_disappear(sqlite_url):
    coach_id, type_id = _coach(sqlite_url)
    _book(sqlite_url, type_id, NINE)
    with session_scope(sqlite_url) as s:
        from coach_app.models import Coach

        coach = s.get(Coach, coach_id)
        appt_type = s.get(AppointmentType, type_id)
        day = availability.slots(
            s, coach, appt_type, NOW, NINE, NINE + dt.timedelta(hours=12)
        )
    assert day[:3] == [
        NINE + dt.timedelta(hours=1),
        NINE + dt.timedelta(hours=1, minutes=30),
        NINE + dt.timedelta(hours=2),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"email": "not-an-email"}, "valid email"),
        (
            {"start": NINE + dt.timedelta(hours=20)},
            "just taken",
        ),  # outside working hours
        ({"start": NINE - dt.timedelta(days=1)}, "already passed"),
        ({"slug": "no-such-coach"}, "does not exist"),
        ({"type_id": 999}, "not offered"),
    ],
)
def test_bad_booking_is_refused_and_nothing_half_written(sqlite_url, kwargs, message):
    _, type_id = _coach(sqlite_url)
    args = {"type_id": type_id, "start": NINE} | kwargs
    with pytest.raises(UserError, match=message):
        _book(sqlite_url, **args)
    assert _counts(sqlite_url) == (0, 0, 0)


def test_second_booking_of_same_slot_is_told_it_was_taken(sqlite_url):
    _, type_id = _coach(sqlite_url)
    _book(sqlite_url, type_id, NINE)
    with pytest.raises(booking.SlotTaken, match="just taken"):
        _book(
            sqlite_url,
            type_id,
            NINE + dt.timedelta(minutes=30),
            email="late@example.com",
        )
    assert _counts(sqlite_url)[0] == 1


def _busy_event(
    url: str, coach_id: int, start: dt.datetime, end: dt.datetime, busy: bool = True
):
    with session_scope(url) as s:
        conn = CalendarConnection(coach_id=coach_id, provider="caldav")
        s.add(conn)
        s.flush()
        sub = SubCalendar(
            connection_id=conn.id, remote_id="/cal/work/", name="Work", pull=True
        )
        s.add(sub)
        s.flush()
        s.add(
            ExternalEvent(
                coach_id=coach_id,
                sub_calendar_id=sub.id,
                remote_id="e1",
                summary="Dentist",
                start=start,
                end=end,
                busy=busy,
            )
        )
        return conn.id


def test_coach_gets_conflict_warning_over_busy_external_event(sqlite_url):
    coach_id, type_id = _coach(sqlite_url)
    _busy_event(sqlite_url, coach_id, NINE, NINE + dt.timedelta(minutes=30))
    kwargs = dict(
        type_id=type_id,
        start=NINE,
        client_name="Cal",
        client_email="cal@example.com",
        now=NOW,
    )
    with (
        pytest.raises(booking.ConflictWarning, match="Dentist"),
        session_scope(sqlite_url) as s,
    ):
        booking.create_by_coach(s, coach_id, **kwargs)
    assert _counts(sqlite_url)[0] == 0
    with session_scope(sqlite_url) as s:
        booking.create_by_coach(s, coach_id, allow_conflict=True, **kwargs)
    assert _counts(sqlite_url)[0] == 1


def test_free_external_event_gives_no_warning(sqlite_url):
    coach_id, type_id = _coach(sqlite_url)
    _busy_event(sqlite_url, coach_id, NINE, NINE + dt.timedelta(hours=1), busy=False)
    with session_scope(sqlite_url) as s:
        booking.create_by_coach(
            s,
            coach_id,
            type_id=type_id,
            start=NINE,
            client_name="Cal",
            client_email="cal@example.com",
            now=NOW,
        )
    assert _counts(sqlite_url)[0] == 1


def test_coach_cannot_create_over_another_appointment(sqlite_url):
    coach_id, type_id = _coach(sqlite_url)
    _book(sqlite_url, type_id, NINE)
    with (
        pytest.raises(booking.SlotTaken, match="overlaps another appointment"),
        session_scope(sqlite_url) as s,
    ):
        booking.create_by_coach(
            s,
            coach_id,
            type_id=type_id,
            start=NINE + dt.timedelta(minutes=59),
            client_name="Cal",
            client_email="cal@example.com",
            now=NOW,
            allow_conflict=True,
        )


def test_reschedule_and_cancel_email_the_client(sqlite_url):
    coach_id, type_id = _coach(sqlite_url)
    appt_id = _book(sqlite_url, type_id, NINE).appointment_id
    later = NINE + dt.timedelta(hours=3)
    with session_scope(sqlite_url) as s:
        booking.reschedule(s, coach_id, appt_id, later, now=NOW)
    with session_scope(sqlite_url) as s:
        booking.cancel(s, coach_id, appt_id)
    with session_scope(sqlite_url) as s:
        appt = s.get(Appointment, appt_id)
        to_client = s.exec(
            select(EmailOutbox.dedupe_key).where(
                EmailOutbox.to_addr == "ivy@example.com"
            )
        ).all()
    assert (appt.start, appt.status, appt.version) == (later, "cancelled", 3)
    assert sorted(k.rsplit(":", 1)[1] for k in to_client) == [
        "cancelled",
        "confirmation",
        "rescheduled",
    ]


def test_coach_cannot_touch_another_coachs_appointment(sqlite_url):
    _, type_id = _coach(sqlite_url)
    other_id, _ = _coach(sqlite_url, "other@example.com", "Other Coach")
    appt_id = _book(sqlite_url, type_id, NINE).appointment_id
    with pytest.raises(Forbidden), session_scope(sqlite_url) as s:
        booking.cancel(s, other_id, appt_id)
    with pytest.raises(Forbidden), session_scope(sqlite_url) as s:
        booking.reschedule(s, other_id, appt_id, NINE + dt.timedelta(hours=2), now=NOW)
    with session_scope(sqlite_url) as s:
        assert s.get(Appointment, appt_id).status == "confirmed"


def test_simultaneous_overlapping_bookings_exactly_one_wins(any_db_url):
    """24 invitees race for four mutually overlapping 60-minute slots."""
    _, type_id = _coach(any_db_url)
    with session_scope(any_db_url) as s:
        t = s.get(AppointmentType, type_id)
        t.slot_interval_min = 15
        s.add(t)
    starts = [NINE + dt.timedelta(minutes=15 * k) for k in range(4)]
    n = 24
    barrier = threading.Barrier(n)
    results: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            _book(any_db_url, type_id, starts[i % 4], email=f"racer{i}@example.com")
            outcome = "won"
        except booking.SlotTaken:
            outcome = "taken"
        except Exception as exc:  # any other failure is a bug: record it
            outcome = f"error: {exc!r}"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert sorted(results) == ["taken"] * (n - 1) + ["won"]
    with session_scope(any_db_url) as s:
        rows = s.exec(
            select(Appointment).where(Appointment.status == "confirmed")
        ).all()
    assert len(rows) == 1


def test_postgres_constraint_rejects_overlap_even_without_the_lock(postgres_url):
    coach_id, type_id = _coach(postgres_url)
    _book(postgres_url, type_id, NINE)
    with (
        pytest.raises(sa.exc.IntegrityError, match="appointment_no_overlap"),
        session_scope(postgres_url) as s,
    ):
        client_id = s.exec(select(Client.id)).first()
        s.add(
            Appointment(
                coach_id=coach_id,
                client_id=client_id,
                appointment_type_id=type_id,
                start=NINE + dt.timedelta(minutes=30),
                end=NINE + dt.timedelta(minutes=90),
            )
        )
        s.flush()
