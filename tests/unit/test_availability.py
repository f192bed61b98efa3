"""Unit tests of the pure availability engine (coach_app.availability).

Rule tests use a coach in Europe/London in January (GMT, offset 0) so expected
UTC values read like the local working hours; DST and invitee tests use the
zones named in each test. Every expectation is an exact list.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from coach_app.availability import (
    AppointmentRules,
    BusyInterval,
    BusyKind,
    TimeWindow,
    WorkingHours,
    conflicts,
    group_by_local_date,
    open_slots,
    resolve_local,
    working_windows,
)

LONDON = "Europe/London"
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SANTIAGO = ZoneInfo("America/Santiago")
MONDAY = date(2026, 1, 12)
SUNDAY_NOON = datetime(2026, 1, 11, 12, 0, tzinfo=UTC)
MORNING = [(time(9), time(12))]


def z(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A UTC instant."""
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def mon(h: int, mi: int = 0) -> datetime:
    """A UTC instant on Monday 2026-01-12 (= London wall time in January)."""
    return z(2026, 1, 12, h, mi)


def appt(start: datetime, end: datetime) -> BusyInterval:
    return BusyInterval(start, end, BusyKind.APPOINTMENT)


def ext(start: datetime, end: datetime, *, busy: bool = True) -> BusyInterval:
    return BusyInterval(start, end, BusyKind.EXTERNAL, busy=busy)


def monday_slots(
    rules: AppointmentRules,
    busy: Iterable[BusyInterval] = (),
    *,
    windows: Sequence[tuple[time, time]] = MORNING,
    now: datetime = SUNDAY_NOON,
    check_conflicts: bool = True,
) -> list[datetime]:
    """Open slots of Monday 2026-01-12 for a London coach working ``windows``."""
    return open_slots(
        WorkingHours(LONDON, {0: windows}),
        rules,
        busy,
        now=now,
        check_conflicts=check_conflicts,
        range_start=mon(0),
        range_end=z(2026, 1, 13),
    )


def sunday_slots(
    tz: ZoneInfo,
    day: date,
    windows: Sequence[tuple[time, time]],
    rules: AppointmentRules,
) -> list[datetime]:
    """Open slots of one Sunday for a coach working ``windows`` on Sundays."""
    assert day.weekday() == 6
    return open_slots(
        WorkingHours(tz, {6: windows}),
        rules,
        [],
        now=datetime.combine(day - timedelta(days=3), time(12), tzinfo=UTC),
        range_start=datetime.combine(day - timedelta(days=1), time(12), tzinfo=UTC),
        range_end=datetime.combine(day + timedelta(days=1), time(12), tzinfo=UTC),
    )


def wall(values: Iterable[datetime]) -> list[tuple[str, timedelta | None]]:
    """Local wall-clock reading and UTC offset of each value (for exact checks)."""
    return [(v.strftime("%Y-%m-%d %H:%M"), v.utcoffset()) for v in values]


# --- grid and windows -------------------------------------------------------


def test_slots_step_by_duration_when_no_interval_given() -> None:
    assert monday_slots(AppointmentRules(30)) == [
        mon(9),
        mon(9, 30),
        mon(10),
        mon(10, 30),
        mon(11),
        mon(11, 30),
    ]


def test_slot_interval_sets_step_between_candidate_starts() -> None:
    rules = AppointmentRules(60, interval_minutes=45)
    assert monday_slots(rules) == [mon(9), mon(9, 45), mon(10, 30)]


def test_slot_must_end_by_window_end() -> None:
    slots = monday_slots(AppointmentRules(30), windows=[(time(9), time(10, 45))])
    assert slots == [mon(9), mon(9, 30), mon(10)]


def test_overlapping_and_touching_windows_of_one_day_are_unioned() -> None:
    windows = [
        (time(9), time(10)),
        (time(9, 30), time(10, 30)),
        (time(10, 30), time(11)),
    ]
    rules = AppointmentRules(60, interval_minutes=30)
    assert monday_slots(rules, windows=windows) == [mon(9), mon(9, 30), mon(10)]


def test_window_end_of_midnight_means_end_of_day() -> None:
    slots = monday_slots(AppointmentRules(30), windows=[(time(23), time(0))])
    assert slots == [mon(23), mon(23, 30)]


def test_weekday_without_hours_is_a_day_off() -> None:
    hours = WorkingHours(LONDON, {0: MORNING, 2: [(time(9), time(10))]})
    slots = open_slots(hours, AppointmentRules(60, horizon_days=5), [], now=SUNDAY_NOON)
    # Sun 11 (today) .. Thu 15: only Monday and Wednesday work.
    assert slots == [mon(9), mon(10), mon(11), z(2026, 1, 14, 9)]


# --- blocking and buffers ---------------------------------------------------


def test_appointment_blocks_overlapping_slots() -> None:
    slots = monday_slots(AppointmentRules(30), [appt(mon(10, 15), mon(10, 45))])
    assert slots == [mon(9), mon(9, 30), mon(11), mon(11, 30)]


def test_touching_busy_interval_does_not_block_neighbouring_slots() -> None:
    slots = monday_slots(AppointmentRules(30), [appt(mon(10), mon(10, 30))])
    assert slots == [mon(9), mon(9, 30), mon(10, 30), mon(11), mon(11, 30)]


def test_buffer_before_blocks_slot_starting_right_after_busy() -> None:
    rules = AppointmentRules(30, buffer_before_minutes=15)
    slots = monday_slots(rules, [appt(mon(10), mon(10, 30))])
    # 10:30 needs 10:15-10:30 free; 9:30 only touches the appointment.
    assert slots == [mon(9), mon(9, 30), mon(11), mon(11, 30)]


def test_buffer_after_blocks_slot_ending_right_before_busy() -> None:
    rules = AppointmentRules(30, buffer_after_minutes=15)
    slots = monday_slots(rules, [appt(mon(10, 30), mon(11))])
    # 10:00 needs 10:30-10:45 free; 11:00 only touches the appointment.
    assert slots == [mon(9), mon(9, 30), mon(11), mon(11, 30)]


def test_buffers_may_extend_outside_working_hours_but_must_be_free() -> None:
    rules = AppointmentRules(30, buffer_before_minutes=10, buffer_after_minutes=10)
    busy = [ext(mon(8, 30), mon(8, 55)), ext(mon(12, 5), mon(13))]
    # 9:00 needs 8:50 free (busy until 8:55); 11:30 needs until 12:10 (busy 12:05).
    assert monday_slots(rules, busy) == [mon(9, 30), mon(10), mon(10, 30), mon(11)]


def test_long_busy_block_skips_to_first_free_grid_point() -> None:
    rules = AppointmentRules(30, interval_minutes=20, buffer_before_minutes=10)
    slots = monday_slots(rules, [ext(mon(9, 5), mon(10, 40))])
    # first s with s - 10min >= 10:40 on the 20-minute grid from 9:00 is 11:00
    assert slots == [mon(11), mon(11, 20)]


def test_free_external_event_never_blocks() -> None:
    slots = monday_slots(AppointmentRules(60), [ext(mon(9), mon(12), busy=False)])
    assert slots == [mon(9), mon(10), mon(11)]


def test_busy_external_event_blocks_when_conflict_check_on() -> None:
    slots = monday_slots(AppointmentRules(60), [ext(mon(10), mon(11))])
    assert slots == [mon(9), mon(11)]


def test_conflict_check_off_ignores_busy_external_events() -> None:
    busy = [ext(mon(10), mon(11)), ext(mon(9), mon(9, 30))]
    slots = monday_slots(AppointmentRules(60), busy, check_conflicts=False)
    assert slots == [mon(9), mon(10), mon(11)]


def test_conflict_check_off_still_blocks_own_appointments() -> None:
    busy = [ext(mon(10), mon(11)), appt(mon(11), mon(11, 30))]
    slots = monday_slots(AppointmentRules(60), busy, check_conflicts=False)
    assert slots == [mon(9), mon(10)]


def test_appointment_blocks_even_when_flagged_not_busy() -> None:
    busy = [BusyInterval(mon(10), mon(11), BusyKind.APPOINTMENT, busy=False)]
    assert monday_slots(AppointmentRules(60), busy) == [mon(9), mon(11)]


def test_empty_busy_interval_blocks_nothing() -> None:
    assert monday_slots(AppointmentRules(60), [ext(mon(10, 30), mon(10, 30))]) == [
        mon(9),
        mon(10),
        mon(11),
    ]


def test_unsorted_overlapping_busy_input_gives_exact_result() -> None:
    rules = AppointmentRules(15, buffer_before_minutes=5)
    busy = [
        ext(mon(10, 40), mon(10, 50)),
        appt(mon(9, 20), mon(9, 30)),
        ext(mon(10), mon(10, 30)),
        ext(mon(9, 25), mon(9, 35)),  # overlaps the 9:20 appointment
        ext(mon(10, 20), mon(10, 45)),  # overlaps both 10:00 and 10:40 blocks
        ext(mon(10), mon(10, 5)),  # same start as the 10:00 block
        ext(mon(11), mon(11, 10), busy=False),
        appt(mon(11, 25), mon(11, 30)),  # nested in the next one
        ext(mon(11, 20), mon(11, 50)),
    ]
    # merged blocks: 9:20-9:35, 10:00-10:50, 11:20-11:50; each slot needs 5 min before
    expected = [mon(9), mon(9, 45), mon(11)]
    assert monday_slots(rules, busy) == expected
    for seed in range(5):
        shuffled = busy[:]
        random.Random(seed).shuffle(shuffled)
        assert monday_slots(rules, shuffled) == expected


def test_busy_interval_in_another_zone_is_normalised_to_utc() -> None:
    start = datetime(2026, 1, 12, 11, 0, tzinfo=BERLIN)  # = 10:00 UTC
    interval = ext(start, start + timedelta(hours=1))
    assert interval.start == mon(10)
    assert interval.start.tzinfo is UTC
    assert monday_slots(AppointmentRules(60), [interval]) == [mon(9), mon(11)]


# --- minimum notice, horizon, range, daily maximum ---------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (mon(9), [mon(10), mon(10, 30), mon(11), mon(11, 30)]),  # exactly now+notice
        (mon(9, 1), [mon(10, 30), mon(11), mon(11, 30)]),
    ],
)
def test_minimum_notice_excludes_slots_starting_too_soon(
    now: datetime, expected: list[datetime]
) -> None:
    rules = AppointmentRules(30, min_notice_minutes=60)
    assert monday_slots(rules, now=now) == expected


def test_horizon_includes_last_day_and_excludes_the_next() -> None:
    hours = WorkingHours(LONDON, {0: [(time(9), time(10))], 1: [(time(9), time(10))]})
    rules = AppointmentRules(30, horizon_days=2)  # Sunday (today) and Monday
    assert open_slots(hours, rules, [], now=SUNDAY_NOON) == [mon(9), mon(9, 30)]


def test_horizon_counts_days_from_coach_local_today() -> None:
    # 2026-01-11 12:00Z is already Monday 01:00 in Auckland (NZDT, +13).
    hours = WorkingHours(
        "Pacific/Auckland", {0: [(time(9), time(10))], 1: [(time(9), time(10))]}
    )
    rules = AppointmentRules(30, horizon_days=1)
    assert open_slots(hours, rules, [], now=SUNDAY_NOON) == [
        z(2026, 1, 11, 20),
        z(2026, 1, 11, 20, 30),
    ]


def test_horizon_of_zero_days_offers_nothing() -> None:
    hours = WorkingHours(LONDON, {d: MORNING for d in range(7)})
    assert open_slots(hours, AppointmentRules(30, horizon_days=0), [], now=mon(0)) == []


def test_horizon_end_at_nonexistent_midnight_resolves_to_gap_end() -> None:
    # Santiago: Sunday 2026-09-06 00:00 does not exist (clocks go to 01:00 = 04:00Z).
    hours = WorkingHours(SANTIAGO, {5: [(time(22), time(0))], 6: [(time(0), time(2))]})
    rules = AppointmentRules(60, horizon_days=1)
    now = z(2026, 9, 5, 16)  # Saturday 12:00 local
    assert open_slots(hours, rules, [], now=now) == [z(2026, 9, 6, 2), z(2026, 9, 6, 3)]


def test_range_limits_slot_starts_half_open() -> None:
    hours = WorkingHours(LONDON, {0: MORNING})
    slots = open_slots(
        hours,
        AppointmentRules(30),
        [],
        now=SUNDAY_NOON,
        range_start=mon(9, 30),
        range_end=mon(11),
    )
    assert slots == [mon(9, 30), mon(10), mon(10, 30)]


def test_range_start_off_grid_keeps_window_grid() -> None:
    hours = WorkingHours(LONDON, {0: MORNING})
    slots = open_slots(
        hours,
        AppointmentRules(45),
        [],
        now=SUNDAY_NOON,
        range_start=mon(9, 10),
        range_end=mon(12),
    )
    assert slots == [mon(9, 45), mon(10, 30), mon(11, 15)]  # grid 9:00 + k*45min


def test_daily_maximum_closes_the_date_once_reached() -> None:
    hours = WorkingHours(LONDON, {0: [(time(9), time(10))], 1: [(time(9), time(10))]})
    rules = AppointmentRules(30, max_per_day=2, horizon_days=3)
    booked = [mon(14), mon(15)]
    assert open_slots(hours, rules, [], now=SUNDAY_NOON, same_type_starts=booked) == [
        z(2026, 1, 13, 9),
        z(2026, 1, 13, 9, 30),
    ]


def test_daily_maximum_not_yet_reached_keeps_the_date_open() -> None:
    hours = WorkingHours(LONDON, {0: [(time(9), time(10))]})
    rules = AppointmentRules(30, max_per_day=2, horizon_days=3)
    assert open_slots(
        hours, rules, [], now=SUNDAY_NOON, same_type_starts=[mon(14)]
    ) == [
        mon(9),
        mon(9, 30),
    ]


def test_daily_maximum_counts_appointments_by_coach_local_date() -> None:
    hours = WorkingHours(NEW_YORK, {0: [(time(9), time(10))], 1: [(time(9), time(10))]})
    rules = AppointmentRules(30, max_per_day=1, horizon_days=4)
    booked = [z(2026, 1, 13, 3)]  # Tuesday 03:00Z = Monday 22:00 EST
    assert open_slots(hours, rules, [], now=SUNDAY_NOON, same_type_starts=booked) == [
        z(2026, 1, 13, 14),
        z(2026, 1, 13, 14, 30),
    ]


# --- date overrides ---------------------------------------------------------


def test_override_with_no_windows_makes_day_off() -> None:
    hours = WorkingHours(LONDON, {0: MORNING, 1: [(time(9), time(10))]}, {MONDAY: []})
    rules = AppointmentRules(60, horizon_days=3)
    assert open_slots(hours, rules, [], now=SUNDAY_NOON) == [z(2026, 1, 13, 9)]


def test_override_replaces_weekly_hours_for_that_date_only() -> None:
    overrides = {MONDAY: [TimeWindow(time(14), time(15))]}
    hours = WorkingHours(LONDON, {0: MORNING}, overrides)
    rules = AppointmentRules(30, horizon_days=9)
    assert open_slots(hours, rules, [], now=SUNDAY_NOON) == [
        mon(14),
        mon(14, 30),
        *[z(2026, 1, 19, h, m) for h in (9, 10, 11) for m in (0, 30)],
    ]


def test_override_opens_a_weekday_without_weekly_hours() -> None:
    hours = WorkingHours(
        LONDON, {0: MORNING}, {date(2026, 1, 11): [(time(15), time(16))]}
    )
    rules = AppointmentRules(60, horizon_days=1)
    assert open_slots(hours, rules, [], now=SUNDAY_NOON) == [z(2026, 1, 11, 15)]


# --- DST in the coach's zone ------------------------------------------------


def test_new_york_spring_forward_window_spanning_gap_is_shorter() -> None:
    slots = sunday_slots(
        NEW_YORK, date(2026, 3, 8), [(time(0), time(4))], AppointmentRules(60)
    )
    # 00:00 EST, 01:00 EST, 03:00 EDT; window ends 04:00 EDT = 08:00Z (3 real hours)
    assert slots == [z(2026, 3, 8, 5), z(2026, 3, 8, 6), z(2026, 3, 8, 7)]


def test_new_york_spring_forward_boundary_in_gap_moves_to_gap_end() -> None:
    slots = sunday_slots(
        NEW_YORK, date(2026, 3, 8), [(time(2, 30), time(4))], AppointmentRules(30)
    )
    assert slots == [z(2026, 3, 8, 7), z(2026, 3, 8, 7, 30)]  # from 03:00 EDT


def test_new_york_window_wholly_inside_gap_vanishes() -> None:
    windows = [(time(2), time(2, 45)), (time(9), time(10))]
    slots = sunday_slots(NEW_YORK, date(2026, 3, 8), windows, AppointmentRules(30))
    assert slots == [z(2026, 3, 8, 13), z(2026, 3, 8, 13, 30)]  # 09:00 EDT


def test_new_york_working_hours_follow_offset_change_across_spring_forward() -> None:
    hours = WorkingHours(NEW_YORK, {4: [(time(9), time(10))], 0: [(time(9), time(10))]})
    rules = AppointmentRules(30, horizon_days=5)
    assert open_slots(hours, rules, [], now=z(2026, 3, 5, 12)) == [
        z(2026, 3, 6, 14),  # Friday 09:00 EST
        z(2026, 3, 6, 14, 30),
        z(2026, 3, 9, 13),  # Monday 09:00 EDT
        z(2026, 3, 9, 13, 30),
    ]


def test_new_york_fall_back_window_spanning_fold_is_longer_without_duplicates() -> None:
    slots = sunday_slots(
        NEW_YORK, date(2026, 11, 1), [(time(0), time(3))], AppointmentRules(60)
    )
    assert slots == [
        z(2026, 11, 1, 4),
        z(2026, 11, 1, 5),
        z(2026, 11, 1, 6),
        z(2026, 11, 1, 7),
    ]
    assert wall(s.astimezone(NEW_YORK) for s in slots) == [
        ("2026-11-01 00:00", timedelta(hours=-4)),
        ("2026-11-01 01:00", timedelta(hours=-4)),
        ("2026-11-01 01:00", timedelta(hours=-5)),
        ("2026-11-01 02:00", timedelta(hours=-5)),
    ]


def test_new_york_fall_back_boundary_in_fold_uses_first_occurrence() -> None:
    windows = [(time(1, 30), time(2, 30))]
    slots = sunday_slots(NEW_YORK, date(2026, 11, 1), windows, AppointmentRules(30))
    # 01:30 EDT (05:30Z) until 02:30 EST (07:30Z): two real hours
    assert slots == [
        z(2026, 11, 1, 5, 30),
        z(2026, 11, 1, 6),
        z(2026, 11, 1, 6, 30),
        z(2026, 11, 1, 7),
    ]


def test_berlin_spring_forward_day_slots() -> None:
    windows = [(time(1), time(4)), (time(9), time(10))]
    slots = sunday_slots(BERLIN, date(2026, 3, 29), windows, AppointmentRules(60))
    # 01:00 CET, 03:00 CEST (window ends 04:00 CEST = 02:00Z), 09:00 CEST
    assert slots == [z(2026, 3, 29, 0), z(2026, 3, 29, 1), z(2026, 3, 29, 7)]


def test_berlin_fall_back_day_slots() -> None:
    windows = [(time(1), time(4)), (time(9), time(10))]
    slots = sunday_slots(BERLIN, date(2026, 10, 25), windows, AppointmentRules(60))
    # 01:00 CEST = 23:00Z the day before, until 04:00 CET = 03:00Z; 09:00 CET
    assert slots == [
        z(2026, 10, 24, 23),
        z(2026, 10, 25, 0),
        z(2026, 10, 25, 1),
        z(2026, 10, 25, 2),
        z(2026, 10, 25, 8),
    ]


def test_berlin_fall_back_repeated_hour_gives_distinct_instants() -> None:
    windows = [(time(2), time(3))]
    slots = sunday_slots(BERLIN, date(2026, 10, 25), windows, AppointmentRules(30))
    assert slots == [
        z(2026, 10, 25, 0),
        z(2026, 10, 25, 0, 30),
        z(2026, 10, 25, 1),
        z(2026, 10, 25, 1, 30),
    ]
    assert len(set(slots)) == 4
    assert wall(s.astimezone(BERLIN) for s in slots) == [
        ("2026-10-25 02:00", timedelta(hours=2)),
        ("2026-10-25 02:30", timedelta(hours=2)),
        ("2026-10-25 02:00", timedelta(hours=1)),
        ("2026-10-25 02:30", timedelta(hours=1)),
    ]


def test_window_starting_at_nonexistent_midnight_starts_after_gap() -> None:
    # Santiago 2026-09-06: 00:00 -04 jumps to 01:00 -03 (04:00Z).
    hours = WorkingHours(SANTIAGO, {5: [(time(22), time(0))], 6: [(time(0), time(2))]})
    slots = open_slots(
        hours,
        AppointmentRules(60),
        [],
        now=z(2026, 9, 1),
        range_start=z(2026, 9, 5),
        range_end=z(2026, 9, 7),
    )
    assert slots == [z(2026, 9, 6, 2), z(2026, 9, 6, 3), z(2026, 9, 6, 4)]


def test_resolve_local_gap_and_fold_rules() -> None:
    assert resolve_local(date(2026, 3, 8), time(2, 30), NEW_YORK) == z(2026, 3, 8, 7)
    assert resolve_local(date(2026, 3, 8), time(1, 59), NEW_YORK) == z(
        2026, 3, 8, 6, 59
    )
    assert resolve_local(date(2026, 11, 1), time(1, 30), NEW_YORK) == z(
        2026, 11, 1, 5, 30
    )
    assert resolve_local(date(2026, 3, 29), time(2, 15), BERLIN) == z(2026, 3, 29, 1)


def test_working_windows_report_real_length_on_dst_days() -> None:
    hours = WorkingHours(NEW_YORK, {6: [(time(0), time(4))]})
    lengths = [
        w.end - w.start
        for w in working_windows(hours, date(2026, 3, 8), date(2026, 11, 1))
    ]
    assert (lengths[0], lengths[-1]) == (timedelta(hours=3), timedelta(hours=5))
    assert {length for length in lengths[1:-1]} == {timedelta(hours=4)}


# --- invitee time zones -----------------------------------------------------


def _late_evening_slots() -> list[datetime]:
    # New York coach, Monday 2026-06-01 14:00-15:00 EDT = 18:00Z-19:00Z
    hours = WorkingHours(NEW_YORK, {0: [(time(14), time(15))]})
    return open_slots(
        hours, AppointmentRules(30, horizon_days=2), [], now=z(2026, 5, 31, 12)
    )


def test_invitee_in_kolkata_sees_half_hour_offset_and_next_date_after_midnight() -> (
    None
):
    slots = _late_evening_slots()
    assert slots == [z(2026, 6, 1, 18), z(2026, 6, 1, 18, 30)]
    grouped = group_by_local_date(slots, "Asia/Kolkata")
    assert list(grouped) == [date(2026, 6, 1), date(2026, 6, 2)]
    offset = timedelta(hours=5, minutes=30)
    assert wall(grouped[date(2026, 6, 1)]) == [("2026-06-01 23:30", offset)]
    assert wall(grouped[date(2026, 6, 2)]) == [("2026-06-02 00:00", offset)]


def test_invitee_in_kathmandu_sees_quarter_hour_offset_and_next_date_after_midnight() -> (
    None
):
    grouped = group_by_local_date(_late_evening_slots(), ZoneInfo("Asia/Kathmandu"))
    assert list(grouped) == [date(2026, 6, 1), date(2026, 6, 2)]
    offset = timedelta(hours=5, minutes=45)
    assert wall(grouped[date(2026, 6, 1)]) == [("2026-06-01 23:45", offset)]
    assert wall(grouped[date(2026, 6, 2)]) == [("2026-06-02 00:15", offset)]


def test_group_by_local_date_orders_fold_readings_chronologically() -> None:
    slots = [
        z(2026, 11, 1, 6),
        z(2026, 11, 1, 5, 30),
    ]  # 01:00 EST, 01:30 EDT (unsorted)
    grouped = group_by_local_date(slots, NEW_YORK)
    assert wall(grouped[date(2026, 11, 1)]) == [
        ("2026-11-01 01:30", timedelta(hours=-4)),
        ("2026-11-01 01:00", timedelta(hours=-5)),
    ]


# --- conflicts helper -------------------------------------------------------


def test_conflicts_returns_overlapping_blocking_intervals_sorted() -> None:
    late = ext(mon(10, 45), mon(11, 30))
    early = appt(mon(9, 30), mon(10, 15))
    items = [
        late,
        ext(mon(11), mon(11, 15)),  # touches the end: no conflict
        ext(mon(10), mon(10, 30), busy=False),  # free: never a conflict
        early,
        ext(mon(9), mon(10)),  # touches the start: no conflict
        ext(mon(10, 20), mon(10, 20)),  # empty: no conflict
    ]
    assert conflicts(mon(10), mon(11), items) == [early, late]


def test_conflicts_with_check_off_reports_only_own_appointments() -> None:
    own = appt(mon(10, 30), mon(11))
    items = [ext(mon(10), mon(11)), own]
    assert conflicts(mon(10), mon(11), items, check_conflicts=False) == [own]


# --- validation -------------------------------------------------------------


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        monday_slots(AppointmentRules(30), now=datetime(2026, 1, 11, 12))


def test_naive_busy_interval_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ext(datetime(2026, 1, 12, 10), mon(11))


def test_window_ending_before_it_starts_is_rejected() -> None:
    with pytest.raises(ValueError, match="must be after start"):
        TimeWindow(time(12), time(9))


def test_invalid_weekday_is_rejected() -> None:
    with pytest.raises(ValueError, match="weekday"):
        WorkingHours(LONDON, {7: MORNING})
