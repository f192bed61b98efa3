"""The invitee's signed manage link: cancel or reschedule, refused when
altered or expired; the coach is told and the push calendar follows."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import (
    Appointment,
    AppointmentType,
    CalendarConnection,
    Coach,
    EmailOutbox,
    PushOutbox,
)
from coach_app.notify import links
from coach_app.security import secrets, signing
from coach_app.services import auth, availability, booking, manage
from coach_app.services.errors import UserError

UTC = dt.UTC
NOW = dt.datetime(2030, 1, 7, 0, 0, tzinfo=UTC)  # a Monday
NINE = dt.datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def _keys(monkeypatch):
    monkeypatch.setenv("COACH_APP_SECRET_KEYS", Fernet.generate_key().decode())
    secrets.reset_keys()
    yield
    secrets.reset_keys()


@pytest.fixture
def booked(sqlite_url) -> dict:
    """A coach with a push-enabled connection, and Ivy booked at 09:00."""
    with session_scope(sqlite_url) as s:
        coach = auth.sign_up(s, "kim@example.com", "password-1", "Kim Coach", "UTC")
        type_id = s.exec(
            select(AppointmentType.id).where(AppointmentType.coach_id == coach.id)
        ).one()
        s.add(CalendarConnection(coach_id=coach.id, provider="caldav"))
    with session_scope(sqlite_url) as s:
        done = booking.book(
            s,
            slug="kim-coach",
            type_id=type_id,
            start=NINE,
            name="Ivy Invitee",
            email="ivy@example.com",
            base_url="https://book.example.com/book/kim-coach",
            now=NOW,
        )
        appt = s.get(Appointment, done.appointment_id)
        token = links.manage_token(appt)
    return {"id": done.appointment_id, "coach_id": coach.id, "token": token}


def _mails(url: str) -> dict[str, list[EmailOutbox]]:
    out: dict[str, list[EmailOutbox]] = {}
    with session_scope(url) as s:
        for m in s.exec(select(EmailOutbox).order_by(EmailOutbox.id)).all():
            out.setdefault(m.to_addr, []).append(m)
    return out


def _push_actions(url: str, appointment_id: int) -> list[str]:
    with session_scope(url) as s:
        return list(
            s.exec(
                select(PushOutbox.action)
                .where(PushOutbox.appointment_id == appointment_id)
                .order_by(PushOutbox.id)
            ).all()
        )


def test_token_round_trips_and_any_change_reads_as_tampered():
    token = signing.sign("p", "42", NOW + HOUR)
    assert signing.verify("p", token, NOW) == "42"
    payload, expiry, sig = token.split(".")
    altered = [
        f"43.{expiry}.{sig}",
        f"{payload}.{int(expiry) + 3600}.{sig}",  # a later expiry is not honoured
        f"{payload}.{expiry}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}",
        "42",
        "",
    ]
    for bad in altered:
        with pytest.raises(signing.BadToken):
            signing.verify("p", bad, NOW)
    with pytest.raises(signing.BadToken):
        signing.verify("another purpose", token, NOW)


def test_token_expires_at_its_time():
    token = signing.sign("p", "42", NOW + HOUR)
    with pytest.raises(signing.ExpiredToken):
        signing.verify("p", token, NOW + HOUR)


def test_rotated_keys_keep_old_links_until_the_old_key_is_dropped(monkeypatch):
    old = secrets.key_material()[0].decode()
    token = signing.sign("p", "7", NOW + HOUR)
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("COACH_APP_SECRET_KEYS", f"{new},{old}")
    secrets.reset_keys()
    assert signing.verify("p", token, NOW) == "7"
    monkeypatch.setenv("COACH_APP_SECRET_KEYS", new)
    secrets.reset_keys()
    with pytest.raises(signing.BadToken):
        signing.verify("p", token, NOW)


def test_emails_carry_a_working_manage_link_and_the_booking_link(sqlite_url, booked):
    [confirmation] = _mails(sqlite_url)["ivy@example.com"]
    assert "https://book.example.com/book/kim-coach" in confirmation.body
    line = next(
        x for x in confirmation.body.splitlines() if x.startswith("To reschedule")
    )
    token = line.rsplit("/manage/", 1)[1]
    assert line.startswith("To reschedule or cancel: https://book.example.com/manage/")
    with session_scope(sqlite_url) as s:
        seen = manage.open_link(s, token, NOW)
    assert (seen.appointment_id, seen.start, seen.cancelled) == (
        booked["id"],
        NINE,
        False,
    )


def test_client_cancels_through_the_link(sqlite_url, booked):
    with session_scope(sqlite_url) as s:
        manage.cancel(s, booked["token"], now=NOW)
    with session_scope(sqlite_url) as s:
        assert s.get(Appointment, booked["id"]).status == "cancelled"
    assert _push_actions(sqlite_url, booked["id"]) == ["upsert", "delete"]
    mails = _mails(sqlite_url)
    assert mails["ivy@example.com"][-1].subject.startswith("Cancelled:")
    assert mails["kim@example.com"][-1].subject.startswith("Cancelled by Ivy Invitee")
    with session_scope(sqlite_url) as s:
        assert manage.open_link(s, booked["token"], NOW).cancelled
        with pytest.raises(UserError, match="was cancelled"):
            manage.reschedule(s, booked["token"], NINE + 2 * HOUR, now=NOW)


def test_client_reschedules_to_another_open_slot(sqlite_url, booked):
    with session_scope(sqlite_url) as s:
        manage.reschedule(s, booked["token"], NINE + 2 * HOUR, now=NOW)
    with session_scope(sqlite_url) as s:
        appt = s.get(Appointment, booked["id"])
        assert (appt.start, appt.end, appt.version) == (
            NINE + 2 * HOUR,
            NINE + 3 * HOUR,
            2,
        )
        # The old time is open again for everyone; the new one is taken.
        type_row = s.get(AppointmentType, appt.appointment_type_id)
        open_now = availability.slots(
            s, s.get(Coach, booked["coach_id"]), type_row, NOW
        )
        assert NINE in open_now and NINE + 2 * HOUR not in open_now
    assert _push_actions(sqlite_url, booked["id"]) == ["upsert", "upsert"]
    mails = _mails(sqlite_url)
    assert mails["ivy@example.com"][-1].subject.startswith("Moved:")
    assert mails["kim@example.com"][-1].subject.startswith("Rescheduled by Ivy Invitee")


def test_client_cannot_move_onto_a_taken_or_closed_time(sqlite_url, booked):
    with session_scope(sqlite_url) as s:
        booking.book(
            s,
            slug="kim-coach",
            type_id=s.get(Appointment, booked["id"]).appointment_type_id,
            start=NINE + 3 * HOUR,
            name="Otto",
            email="otto@example.com",
            now=NOW,
        )
    for taken in (NINE + 3 * HOUR, NINE.replace(hour=20)):
        with pytest.raises(booking.SlotTaken), session_scope(sqlite_url) as s:
            manage.reschedule(s, booked["token"], taken, now=NOW)
    with session_scope(sqlite_url) as s:
        assert s.get(Appointment, booked["id"]).start == NINE


def test_altered_or_expired_link_is_refused_in_plain_words(sqlite_url, booked):
    payload, expiry, sig = booked["token"].split(".")
    other = f"{int(payload) + 1}.{expiry}.{sig}"
    with session_scope(sqlite_url) as s:
        for bad in (other, booked["token"][:-2], "nonsense"):
            with pytest.raises(manage.LinkRefused) as refused:
                manage.open_link(s, bad, NOW)
            assert str(refused.value) == manage.INVALID
        with pytest.raises(manage.LinkRefused) as refused:
            manage.cancel(s, booked["token"], now=NINE)
        assert str(refused.value) == manage.EXPIRED
    with session_scope(sqlite_url) as s:
        assert s.get(Appointment, booked["id"]).status == "confirmed"


def test_public_base_prefers_configuration_then_a_clean_browser_origin(monkeypatch):
    monkeypatch.delenv("COACH_APP_PUBLIC_URL", raising=False)
    monkeypatch.delenv("REFLEX_FRONTEND_PORT", raising=False)
    assert (
        links.public_base("http://127.0.0.1:3001/book/x?y=1") == "http://127.0.0.1:3001"
    )
    for hostile in ("javascript:alert(1)", "http://a@evil.example/", ""):
        assert links.public_base(hostile) == "http://localhost:3000"
    monkeypatch.setenv("REFLEX_FRONTEND_PORT", "3001")
    assert links.public_base("") == "http://localhost:3001"
    monkeypatch.setenv("COACH_APP_PUBLIC_URL", "https://coach.example.com/")
    assert links.public_base("http://127.0.0.1:3001") == "https://coach.example.com"
    assert links.booking_url("https://c.example", "kim") == "https://c.example/book/kim"


def test_add_to_calendar_file_and_google_link_carry_time_and_manage_link():
    import icalendar

    from coach_app.services.add_to_calendar import Entry, google_link, ics_file

    entry = Entry(
        appointment_id=5,
        version=1,
        title="Coaching session with Kim Coach",
        start=NINE,
        end=NINE + HOUR,
        coach_name="Kim Coach",
        coach_email="kim@example.com",
        client_name="Ivy",
        client_email="ivy@example.com",
        manage_url="https://c.example/manage/5.1.x",
    )
    cal = icalendar.Calendar.from_ical(ics_file(entry))
    [event] = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "PUBLISH"
    assert event.decoded("DTSTART") == NINE
    assert "https://c.example/manage/5.1.x" in str(event["DESCRIPTION"])
    link = google_link(entry)
    assert "dates=20300107T090000Z%2F20300107T100000Z" in link
    assert "action=TEMPLATE" in link and "manage%2F5.1.x" in link
