"""Working hours and date overrides: parsing, validation, effect on slots."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import AppointmentType, Coach
from coach_app.pages.settings_hours import parse_periods
from coach_app.services import auth, availability, schedule
from coach_app.services.errors import UserError

NOW = dt.datetime(2030, 1, 7, 0, 0, tzinfo=dt.UTC)  # Monday
TUESDAY = dt.date(2030, 1, 8)


def test_periods_text_parses_to_minutes():
    assert parse_periods("09:00-12:00, 13:30-24:00") == [(540, 720), (810, 1440)]
    assert parse_periods("  ") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [("9-5", "not a time"), ("09:00", "not a period"), ("25:00-26:00", "not a time")],
)
def test_bad_periods_text_is_refused(text, message):
    with pytest.raises(UserError, match=message):
        parse_periods(text)


@pytest.fixture
def coach(sqlite_url) -> int:
    with session_scope(sqlite_url) as s:
        return auth.sign_up(
            s, "h@example.com", "password-h", "Hours Coach", "Europe/Berlin"
        ).id


def test_new_coach_gets_weekday_office_hours(sqlite_url, coach):
    with session_scope(sqlite_url) as s:
        week = schedule.weekly(s, coach)
    assert week == {**{d: [(540, 1020)] for d in range(5)}, 5: [], 6: []}


def test_overlapping_periods_are_refused_and_nothing_changes(sqlite_url, coach):
    with pytest.raises(UserError, match="overlap"), session_scope(sqlite_url) as s:
        schedule.set_weekday(s, coach, 0, [(540, 720), (700, 800)])
    with session_scope(sqlite_url) as s:
        assert schedule.weekly(s, coach)[0] == [(540, 1020)]


def _tuesday_slots(url: str, coach_id: int) -> list[str]:
    with session_scope(url) as s:
        c = s.get(Coach, coach_id)
        t = s.exec(
            select(AppointmentType).where(AppointmentType.coach_id == coach_id)
        ).one()
        lo = dt.datetime.combine(TUESDAY, dt.time(0), tzinfo=dt.UTC)
        got = availability.slots(s, c, t, NOW, lo, lo + dt.timedelta(days=1))
    return [f"{x:%H:%M}" for x in got]


def test_override_replaces_weekly_hours_and_day_off_closes_the_day(sqlite_url, coach):
    # Berlin is UTC+1 in January: 09:00-17:00 local = 08:00-16:00 UTC.
    assert _tuesday_slots(sqlite_url, coach)[0] == "08:00"
    assert _tuesday_slots(sqlite_url, coach)[-1] == "15:00"
    with session_scope(sqlite_url) as s:
        schedule.set_override(s, coach, TUESDAY, [(14 * 60, 16 * 60)])
    assert _tuesday_slots(sqlite_url, coach) == ["13:00", "13:30", "14:00"]
    with session_scope(sqlite_url) as s:
        schedule.set_override(s, coach, TUESDAY, [])
    assert _tuesday_slots(sqlite_url, coach) == []
    with session_scope(sqlite_url) as s:
        schedule.clear_override(s, coach, TUESDAY)
    assert len(_tuesday_slots(sqlite_url, coach)) == 15
