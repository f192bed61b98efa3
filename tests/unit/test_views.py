"""Pure presentation maths: clock labels, the month grid, week-grid boxes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from coach_app.views.clock import clock, long_date, utc_offset
from coach_app.views.month import add_months, key_target, month_weeks
from coach_app.views.week import Span, empty_slots, hour_range, now_line, place_day

UTC = ZoneInfo("UTC")
DAY = dt.date(2026, 3, 5)  # a Thursday


def at(hour: int, minute: int = 0, day: dt.date = DAY, zone=UTC) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)


@pytest.mark.parametrize(
    ("hour", "minute", "h24", "h12"),
    [
        (0, 5, "00:05", "12:05 am"),
        (9, 30, "09:30", "9:30 am"),
        (12, 0, "12:00", "12:00 pm"),
        (23, 45, "23:45", "11:45 pm"),
    ],
)
def test_clock_labels_in_both_forms(hour, minute, h24, h12):
    assert clock(dt.time(hour, minute), hour12=False) == h24
    assert clock(dt.time(hour, minute), hour12=True) == h12


def test_dates_and_offsets_read_like_prose():
    assert long_date(DAY) == "Thursday 5 March 2026"
    assert utc_offset(at(9, zone=ZoneInfo("Asia/Kathmandu"))) == "GMT+05:45"
    assert utc_offset(at(9, zone=ZoneInfo("America/New_York"))) == "GMT-05:00"
    assert utc_offset(at(9)) == "GMT"


def test_month_grid_is_whole_weeks_monday_first_with_open_days_marked():
    weeks = month_weeks(dt.date(2026, 3, 1), {DAY: 4, dt.date(2026, 4, 1): 2}, DAY)
    assert all(len(w) == 7 for w in weeks)
    assert weeks[0][0].iso == "2026-02-23"  # 1 March 2026 is a Sunday
    assert weeks[-1][-1].iso == "2026-04-05"
    cells = {c.iso: c for w in weeks for c in w}
    assert cells["2026-03-05"].open_count == 4
    assert cells["2026-03-05"].is_today
    assert cells["2026-03-05"].label == "Thursday 5 March 2026, 4 times open"
    # A day of the next month shown in the last row is not offered here.
    assert cells["2026-04-01"].open_count == 0 and not cells["2026-04-01"].in_month
    assert cells["2026-03-06"].label.endswith("no times open")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ArrowRight", dt.date(2026, 3, 6)),
        ("ArrowLeft", dt.date(2026, 3, 4)),
        ("ArrowDown", dt.date(2026, 3, 12)),
        ("ArrowUp", dt.date(2026, 2, 26)),
        ("Home", dt.date(2026, 3, 2)),
        ("End", dt.date(2026, 3, 8)),
        ("PageDown", dt.date(2026, 4, 5)),
        ("PageUp", dt.date(2026, 2, 5)),
        ("Enter", None),
    ],
)
def test_keys_move_the_focus_like_a_date_grid(key, expected):
    assert key_target(DAY, key) == expected


def test_page_down_from_the_31st_lands_on_the_last_day_of_a_short_month():
    assert key_target(dt.date(2026, 1, 31), "PageDown") == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 12, 1), 1) == dt.date(2027, 1, 1)


def test_hour_range_widens_to_take_in_early_and_late_events():
    assert hour_range([], UTC) == (7, 21)
    spans = [Span("a", at(6, 30), at(7, 30)), Span("b", at(21), at(22, 15))]
    assert hour_range(spans, UTC) == (6, 23)


def test_events_are_sized_by_time_and_overlaps_sit_side_by_side():
    spans = [
        Span("a", at(9), at(10)),
        Span("b", at(9, 30), at(10, 30)),
        Span("c", at(10, 15), at(11)),  # overlaps b only: takes a's freed lane
        Span("d", at(12), at(13)),  # alone: full width
    ]
    boxes = {p.key: p for p in place_day(DAY, spans, UTC, (8, 18))}
    assert (boxes["a"].top, boxes["a"].height) == (10.0, 10.0)
    assert (boxes["a"].left, boxes["a"].width) == (0.0, 50.0)
    assert (boxes["b"].left, boxes["b"].width) == (50.0, 50.0)
    assert (boxes["c"].left, boxes["c"].width) == (0.0, 50.0)
    assert (boxes["d"].left, boxes["d"].width) == (0.0, 100.0)


def test_event_over_midnight_is_clipped_to_each_day_it_touches():
    span = Span("late", at(22), at(2, day=DAY + dt.timedelta(days=1)))
    [today] = place_day(DAY, [span], UTC, (0, 24))
    [tomorrow] = place_day(DAY + dt.timedelta(days=1), [span], UTC, (0, 24))
    assert today.top + today.height == pytest.approx(100.0)
    assert (tomorrow.top, round(tomorrow.height, 2)) == (0.0, 8.33)


def test_a_five_minute_event_still_gets_a_clickable_box():
    [box] = place_day(DAY, [Span("x", at(9), at(9, 5))], UTC, (9, 19))
    assert box.height == pytest.approx(20 / 600 * 100, abs=1e-3)


def test_event_outside_the_shown_hours_is_not_placed():
    assert place_day(DAY, [Span("x", at(5), at(6))], UTC, (7, 21)) == []


def test_dst_day_places_events_by_wall_clock():
    zone = ZoneInfo("Europe/London")
    spring = dt.date(2026, 3, 29)  # clocks go 01:00 -> 02:00
    [box] = place_day(
        spring,
        [Span("x", at(9, day=spring, zone=zone), at(10, day=spring, zone=zone))],
        zone,
        (0, 24),
    )
    assert box.top == pytest.approx(9 / 24 * 100)


def test_now_line_only_in_todays_column_within_the_shown_hours():
    assert now_line(at(12), DAY, UTC, (8, 18)) == 40.0
    assert now_line(at(12), DAY + dt.timedelta(days=1), UTC, (8, 18)) is None
    assert now_line(at(19), DAY, UTC, (8, 18)) is None


def test_empty_slots_cover_the_shown_hours_in_half_hours():
    slots = empty_slots((9, 11))
    assert [s[0] for s in slots] == ["09:00", "09:30", "10:00", "10:30"]
    assert slots[1][1:] == (25.0, 25.0)
