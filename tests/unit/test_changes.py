"""One change signal: writers announce, listeners hear after commit only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlmodel import select

from coach_app import changes
from coach_app.db import session_scope
from coach_app.models import AppointmentType
from coach_app.services import appointment_types, auth, booking, profile, schedule
from coach_app.services.errors import UserError

NOW = dt.datetime(2030, 1, 7, 0, 0, tzinfo=dt.UTC)  # a Monday
NINE = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def heard() -> Iterator[list[int]]:
    got: list[int] = []
    changes.on_coach_change(got.append)
    yield got
    changes.remove_listener(got.append)


@pytest.fixture
def coach(sqlite_url: str) -> tuple[int, int]:
    with session_scope(sqlite_url) as s:
        row = auth.sign_up(s, "kim@example.com", "password-1", "Kim Coach", "UTC")
        type_id = s.exec(
            select(AppointmentType.id).where(AppointmentType.coach_id == row.id)
        ).one()
    return row.id, type_id  # type: ignore[return-value]


def test_a_booking_is_announced_once_after_its_commit(sqlite_url, coach, heard):
    coach_id, type_id = coach
    heard.clear()
    with session_scope(sqlite_url) as s:
        booking.book(
            s,
            slug="kim-coach",
            type_id=type_id,
            start=NINE,
            name="Ivy",
            email="ivy@example.com",
            now=NOW,
        )
        assert heard == []  # not before the commit
    assert heard == [coach_id]


def test_a_write_that_rolls_back_is_not_announced(sqlite_url, coach, heard):
    coach_id, _ = coach
    heard.clear()
    with pytest.raises(UserError), session_scope(sqlite_url) as s:
        schedule.set_weekday(s, coach_id, 0, [(9 * 60, 12 * 60)])
        raise UserError("the coach pressed Cancel")
    assert heard == []


@pytest.mark.parametrize(
    "write",
    [
        lambda s, c, t: schedule.set_weekday(s, c, 1, [(600, 700)]),
        lambda s, c, t: schedule.set_override(s, c, dt.date(2030, 1, 8), []),
        lambda s, c, t: appointment_types.set_type_active(s, c, t, False),
        lambda s, c, t: profile.update_profile(s, c, "Kim", "Europe/Berlin", "kim"),
    ],
    ids=["working hours", "date override", "appointment type", "profile"],
)
def test_every_service_write_that_changes_availability_announces(
    sqlite_url, coach, heard, write
):
    coach_id, type_id = coach
    heard.clear()
    with session_scope(sqlite_url) as s:
        write(s, coach_id, type_id)
    assert heard == [coach_id]


def test_queued_mail_wakes_delivery_after_the_commit_not_at_a_savepoint(
    sqlite_url, monkeypatch
):
    from coach_app.notify import outbox

    woken: list[int] = []
    monkeypatch.setattr(outbox, "wake_delivery", lambda: woken.append(1))
    with session_scope(sqlite_url) as s:
        outbox.enqueue(s, dedupe_key="a", to="ivy@example.com", subject="s", body="b")
        outbox.enqueue(s, dedupe_key="b", to="ivy@example.com", subject="s", body="b")
        assert woken == []  # each enqueue released a SAVEPOINT already
    assert woken == [1]
