"""Property test: open_slots agrees with a brute-force reference implementation.

The reference shares only the input dataclasses with the engine. It resolves
wall-clock times by scanning UTC minute by minute for the first instant whose
local reading is at or after the wanted one, walks every grid point of every
window, and checks each padded slot against every busy interval (no sorting,
no merging, no pointer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from coach_app.availability import (
    AppointmentRules,
    BusyInterval,
    BusyKind,
    WorkingHours,
    blocking_intervals,
    merge_intervals,
    open_slots,
    open_slots_merged,
)

# Zone -> its 2026 DST change dates (a scenario starts 0-1 days before one) and
# the wall times (h, m) at the edges and inside of its gaps and folds.
TRANSITIONS: dict[str, tuple[list[date], list[tuple[int, int]]]] = {
    "Asia/Kolkata": ([date(2026, 6, 10)], []),
    "Asia/Kathmandu": ([date(2026, 6, 10)], []),
    # gap 02:00-03:00 on 03-08, fold 01:00-02:00 on 11-01
    "America/New_York": (
        [date(2026, 3, 8), date(2026, 11, 1)],
        [(1, 0), (1, 30), (1, 55), (2, 0), (2, 30), (2, 55), (3, 0)],
    ),
    # gap 02:00-03:00 on 03-29, fold 02:00-03:00 on 10-25
    "Europe/Berlin": (
        [date(2026, 3, 29), date(2026, 10, 25)],
        [(2, 0), (2, 15), (2, 30), (2, 55), (3, 0)],
    ),
    # fold 23:00-24:00 on 04-04, gap 00:00-01:00 on 09-06 (changes at midnight)
    "America/Santiago": (
        [date(2026, 4, 5), date(2026, 9, 6)],
        [(23, 0), (23, 30), (23, 55), (0, 0), (0, 30), (0, 55), (1, 0)],
    ),
    # 30-minute shifts: fold 01:30-02:00 on 04-05, gap 02:00-02:30 on 10-04
    "Australia/Lord_Howe": (
        [date(2026, 4, 5), date(2026, 10, 4)],
        [(1, 30), (1, 45), (2, 0), (2, 15), (2, 30)],
    ),
    # +13:45/+12:45: fold 02:45-03:45 on 04-05, gap 02:45-03:45 on 09-27
    "Pacific/Chatham": (
        [date(2026, 4, 5), date(2026, 9, 27)],
        [(2, 45), (3, 0), (3, 15), (3, 40), (3, 45)],
    ),
}
MINUTE = timedelta(minutes=1)


# --- reference implementation ------------------------------------------------


@cache
def ref_resolve(naive: datetime, key: str) -> datetime:
    """First UTC minute whose wall-clock reading in ``key`` is >= ``naive``."""
    tz = ZoneInfo(key)
    guess = naive.replace(tzinfo=UTC)
    # Before ``guess - max offset`` every reading is < naive; scan from there.
    max_offset = max(
        (guess + timedelta(hours=h)).astimezone(tz).utcoffset() or timedelta()
        for h in range(-48, 49)
    )
    u = guess - max_offset - timedelta(hours=1)
    while u.astimezone(tz).replace(tzinfo=None) < naive:
        u += MINUTE
    return u


def ref_windows(hours: WorkingHours, day: date) -> list[tuple[datetime, datetime]]:
    spans = []
    for w in hours.windows_for(day):
        start = ref_resolve(datetime.combine(day, w.start), hours.tz.key)
        end_naive = (
            datetime.combine(day + timedelta(days=1), time(0))
            if w.end == time(0)
            else datetime.combine(day, w.end)
        )
        end = ref_resolve(end_naive, hours.tz.key)
        if start < end:
            spans.append((start, end))
    # union overlapping or touching spans until nothing changes
    changed = True
    while changed:
        changed = False
        for i in range(len(spans)):
            for j in range(i + 1, len(spans)):
                (a, b), (c, d) = spans[i], spans[j]
                if a <= d and c <= b:
                    spans[i] = (min(a, c), max(b, d))
                    del spans[j]
                    changed = True
                    break
            if changed:
                break
    return sorted(spans)


def blocks(iv: BusyInterval, check_conflicts: bool) -> bool:
    if iv.kind is BusyKind.APPOINTMENT:
        return True
    return check_conflicts and iv.busy


def overlaps(a: datetime, b: datetime, c: datetime, d: datetime) -> bool:
    """Half-open [a, b) and [c, d) share an instant (empty intervals share none)."""
    return a < b and c < d and a < d and c < b


def ref_open_slots(
    hours: WorkingHours,
    rules: AppointmentRules,
    busy: Sequence[BusyInterval],
    *,
    now: datetime,
    check_conflicts: bool,
    range_start: datetime | None,
    range_end: datetime | None,
    same_type_starts: Sequence[datetime],
) -> list[datetime]:
    tz = hours.tz
    today = now.astimezone(tz).date()
    horizon_end = ref_resolve(
        datetime.combine(today + timedelta(days=rules.horizon_days), time(0)), tz.key
    )
    step = rules.step
    out = []
    for offset in range(-2, rules.horizon_days + 3):
        day = today + timedelta(days=offset)
        booked = sum(1 for s in same_type_starts if s.astimezone(tz).date() == day)
        if rules.max_per_day is not None and booked >= rules.max_per_day:
            continue
        for start, end in ref_windows(hours, day):
            s = start
            while s + rules.duration <= end:
                ok = (
                    now + rules.min_notice <= s < horizon_end
                    and rules.horizon_days > 0
                    and (range_start is None or s >= range_start)
                    and (range_end is None or s < range_end)
                    and not any(
                        blocks(iv, check_conflicts)
                        and overlaps(
                            s - rules.buffer_before,
                            s + rules.duration + rules.buffer_after,
                            iv.start,
                            iv.end,
                        )
                        for iv in busy
                    )
                )
                if ok:
                    out.append(s)
                s += step
    return sorted(out)


# --- strategies ----------------------------------------------------------------

# Wall times are 5-minute steps (index 0..287). Window boundaries are drawn
# uniformly, from the small hours around midnight, or from the zone's critical
# wall times (edges and insides of its gaps and folds).
LAST = 24 * 12 - 1
SMALL_HOURS = st.integers(22 * 12, 28 * 12 - 1).map(lambda i: i % (LAST + 1))


def at(index: int) -> time:
    return time(index // 12, index % 12 * 5)


@st.composite
def windows(draw: st.DrawFn, critical: list[int]) -> list[tuple[time, time]]:
    out = []
    starts = st.integers(0, LAST) | SMALL_HOURS
    if critical:
        starts = starts | st.sampled_from(critical) | st.sampled_from(critical)
    for _ in range(draw(st.sampled_from([1, 2, 1, 2, 0]))):
        i = draw(starts)
        later = [c for c in critical if c > i]
        if i == LAST or draw(st.integers(0, 5)) == 0:
            end = time(0)  # 24:00
        else:
            ends = st.integers(i + 1, min(i + 48, LAST)) | st.integers(i + 1, LAST)
            if later:
                ends = ends | st.sampled_from(later)
            end = at(draw(ends))
        out.append((at(i), end))
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    key = draw(st.sampled_from(sorted(TRANSITIONS)))
    days, wall_times = TRANSITIONS[key]
    critical = [h * 12 + m // 5 for h, m in wall_times]
    base = draw(st.sampled_from(days)) - timedelta(days=draw(st.integers(0, 1)))
    weekly = {d: draw(windows(critical)) for d in range(7)}
    overrides = {
        base + timedelta(days=draw(st.integers(-1, 4))): draw(windows(critical))
        for _ in range(draw(st.integers(0, 2)))
    }
    origin = datetime.combine(base, time(0), tzinfo=UTC)
    now = origin + timedelta(minutes=draw(st.integers(-720, 720)))
    rules = AppointmentRules(
        duration_minutes=draw(st.sampled_from([5, 15, 20, 30, 45, 60, 90])),
        interval_minutes=draw(st.none() | st.sampled_from([5, 10, 15, 25, 30, 60])),
        buffer_before_minutes=draw(st.sampled_from([0, 0, 5, 10, 30])),
        buffer_after_minutes=draw(st.sampled_from([0, 0, 5, 10, 30])),
        min_notice_minutes=draw(st.sampled_from([0, 30, 0, 240])),
        max_per_day=draw(st.sampled_from([None, None, 2, 1, None, 0])),
        horizon_days=draw(st.sampled_from([4, 3, 4, 2, 1, 0])),
    )
    instants = st.integers(-1440, 6 * 1440).map(lambda m: origin + timedelta(minutes=m))
    busy = []
    for _ in range(draw(st.integers(0, 30))):
        start = draw(instants)
        length = timedelta(minutes=draw(st.integers(0, 8 * 60)))
        kind = draw(st.sampled_from(list(BusyKind)))
        busy.append(BusyInterval(start, start + length, kind, busy=draw(st.booleans())))
    range_start = range_end = None
    if draw(st.sampled_from([False, False, True])):  # a third ask for a range
        range_start = draw(instants)
        range_end = range_start + timedelta(minutes=draw(st.integers(0, 3 * 1440)))
    return {
        "hours": WorkingHours(key, weekly, overrides),
        "rules": rules,
        "busy": busy,
        "now": now,
        "check_conflicts": draw(st.booleans()),
        "range_start": range_start,
        "range_end": range_end,
        "same_type_starts": draw(st.lists(instants, max_size=4)),
    }


def dst_day(
    key: str,
    day: date,
    windows: list[tuple[time, time]],
    rules: AppointmentRules,
    busy: tuple[BusyInterval, ...] = (),
) -> dict:
    """A fixed scenario: ``windows`` every day, ``now`` two days before ``day``."""
    now = datetime.combine(day - timedelta(days=2), time(0), tzinfo=UTC)
    return {
        "hours": WorkingHours(key, {d: windows for d in range(7)}),
        "rules": rules,
        "busy": list(busy),
        "now": now,
        "check_conflicts": True,
        "range_start": None,
        "range_end": None,
        "same_type_starts": [],
    }


# Always-run cases: window edges inside gaps and folds (random draws hit them
# only now and then).
EXPLICIT = [
    dst_day(
        "America/New_York",
        date(2026, 3, 8),
        [(time(1, 0), time(2, 30)), (time(2, 45), time(5, 0))],
        AppointmentRules(25, interval_minutes=10, horizon_days=4),
        (
            BusyInterval(
                datetime(2026, 3, 8, 7, 40, tzinfo=UTC),
                datetime(2026, 3, 8, 8, 0, tzinfo=UTC),
            ),
        ),
    ),
    dst_day(
        "America/New_York",
        date(2026, 11, 1),
        [(time(1, 30), time(2, 30))],
        AppointmentRules(20, buffer_after_minutes=5, horizon_days=4),
    ),
    dst_day(
        "Europe/Berlin",
        date(2026, 3, 29),
        [(time(2, 15), time(3, 30))],
        AppointmentRules(15, horizon_days=4),
    ),
    dst_day(
        "America/Santiago",
        date(2026, 9, 6),
        [(time(22, 0), time(0, 0)), (time(0, 30), time(2, 0))],
        AppointmentRules(45, interval_minutes=15, horizon_days=4),
    ),
    dst_day(
        "Australia/Lord_Howe",
        date(2026, 4, 5),
        [(time(1, 45), time(3, 0))],
        AppointmentRules(15, horizon_days=4),
    ),
    dst_day(
        "Pacific/Chatham",
        date(2026, 9, 27),
        [(time(3, 0), time(4, 30))],
        AppointmentRules(30, interval_minutes=20, horizon_days=4),
    ),
]


# Kathmandu (+5:45) 2026-06-10 09:00-12:00 = 03:15Z-06:15Z, 30-min slots with
# 10-min buffers: a busy event ending 03:10Z (before working hours) still blocks
# 09:00 through its buffer; one starting 05:55Z only touches 11:00's padding.
_KTM = datetime(2026, 6, 10, tzinfo=UTC)
EXPLICIT.append(
    {
        "hours": WorkingHours(
            "Asia/Kathmandu", {}, {date(2026, 6, 10): [(time(9), time(12))]}
        ),
        "rules": AppointmentRules(
            30, buffer_before_minutes=10, buffer_after_minutes=10, horizon_days=3
        ),
        "busy": [
            BusyInterval(
                _KTM + timedelta(hours=3), _KTM + timedelta(hours=3, minutes=10)
            ),
            BusyInterval(
                _KTM + timedelta(hours=5, minutes=55),
                _KTM + timedelta(hours=6, minutes=45),
                BusyKind.APPOINTMENT,
            ),
        ],
        "now": _KTM - timedelta(hours=12),
        "check_conflicts": True,
        "range_start": None,
        "range_end": None,
        "same_type_starts": [],
    }
)


def with_examples(test: Callable[[dict], None]) -> Callable[[dict], None]:
    for scenario in reversed(EXPLICIT):
        test = example(scenario)(test)
    return test


@with_examples
@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(scenarios())
def test_open_slots_match_brute_force_and_are_free_and_in_working_windows(
    scenario: dict,
) -> None:
    slots = open_slots(
        scenario["hours"],
        scenario["rules"],
        scenario["busy"],
        now=scenario["now"],
        check_conflicts=scenario["check_conflicts"],
        range_start=scenario["range_start"],
        range_end=scenario["range_end"],
        same_type_starts=scenario["same_type_starts"],
    )
    assert slots == ref_open_slots(**scenario)
    # The same answer from blocking time merged beforehand (the booking
    # page's cache), however far it reaches beyond the range.
    starts, ends = merge_intervals(
        (iv.start, iv.end)
        for iv in blocking_intervals(
            scenario["busy"], check_conflicts=scenario["check_conflicts"]
        )
    )
    assert slots == open_slots_merged(
        scenario["hours"],
        scenario["rules"],
        starts,
        ends,
        now=scenario["now"],
        range_start=scenario["range_start"],
        range_end=scenario["range_end"],
        same_type_starts=scenario["same_type_starts"],
    )

    rules: AppointmentRules = scenario["rules"]
    hours: WorkingHours = scenario["hours"]
    today = scenario["now"].astimezone(hours.tz).date()
    all_windows = [
        w
        for k in range(-2, rules.horizon_days + 3)
        for w in ref_windows(hours, today + timedelta(days=k))
    ]
    for s in slots:
        padded = (s - rules.buffer_before, s + rules.duration + rules.buffer_after)
        for iv in scenario["busy"]:
            if blocks(iv, scenario["check_conflicts"]):
                assert not overlaps(*padded, iv.start, iv.end)
        assert any(ws <= s and s + rules.duration <= we for ws, we in all_windows)
    assert slots == sorted(set(slots))
