"""Series repeating within a day: merged blocks, exactly the busy time of
their instances, at bounded cost.

The reference is ``recurring_ical_events`` (what every other series goes
through) over windows short enough for it: its instances, widened to whole
minutes and joined across gaps shorter than the shortest bookable slot,
must give exactly the blocks ``dense.condense`` computes without visiting
the instances one by one.
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from coach_app.availability.intervals import merge_intervals
from coach_app.calendars import dense
from coach_app.calendars.errors import MalformedEvent
from coach_app.calendars.ical import busy_time

UTC = dt.UTC
BERLIN = "Europe/Berlin"
WINDOW_START = dt.datetime(2030, 1, 14, 6, 0, tzinfo=UTC)  # a Monday, no DST near
WINDOWS = {  # long enough to see the rule's shape, short enough for the reference
    "SECONDLY": dt.timedelta(minutes=20),
    "MINUTELY": dt.timedelta(hours=5),
    "HOURLY": dt.timedelta(days=3),
    "DAILY": dt.timedelta(days=9),
}


def calendar(*lines: str) -> str:
    body = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Tests//Dense//EN",
        "BEGIN:VEVENT",
        "UID:dense-1",
        "DTSTAMP:20300101T000000Z",
        "SUMMARY:Ping",
        *lines,
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(body)


def reference_blocks(
    text: str, start: dt.datetime, end: dt.datetime, floating: bool = False
) -> list[tuple[dt.datetime, dt.datetime]] | None:
    """None when the library cannot expand the rule at all."""
    cal = icalendar.Calendar.from_ical(text)
    spans = []
    # The library compares floating events with naive (local) bounds.
    lo, hi = (_local(start), _local(end)) if floating else (start, end)
    try:
        components = recurring_ical_events.of(cal).between(lo, hi)
    except (ValueError, recurring_ical_events.InvalidCalendar):
        return None  # e.g. dateutil: "byxxx generates an empty set"
    for comp in components:
        begin = _utc(comp["DTSTART"].dt)
        finish = _utc(comp["DTEND"].dt) if "DTEND" in comp else begin
        spans.append((begin, finish))
    return _blocks(spans, start, end)


def dense_blocks(
    text: str, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    found = busy_time(text, start, end, BERLIN)
    assert not found.occurrences
    [series] = found.condensed
    assert not series.approximate
    return _blocks([(b.start, b.end) for b in series.blocks], start, end)


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:  # floating: the coach's zone
        value = value.replace(tzinfo=ZoneInfo(BERLIN))
    return value.astimezone(UTC)


def _local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(ZoneInfo(BERLIN)).replace(tzinfo=None)


def _blocks(spans, start, end):
    """Whole minutes, gaps under five minutes joined, cut to the window."""
    minute = dt.timedelta(minutes=1)
    widened = []
    for a, b in spans:
        if b <= a:
            continue
        a = a.replace(second=0, microsecond=0)
        b_floor = b.replace(second=0, microsecond=0)
        widened.append((a, b_floor if b_floor == b else b_floor + minute))
    starts, ends = merge_intervals(widened)
    joined: list[list[dt.datetime]] = []
    for a, b in zip(starts, ends, strict=True):
        if joined and a - joined[-1][1] < dt.timedelta(seconds=dense.MIN_BOOKABLE):
            joined[-1][1] = max(joined[-1][1], b)
        else:
            joined.append([a, b])
    return [(max(a, start), min(b, end)) for a, b in joined if a < end and b > start]


# -- the property ---------------------------------------------------------------

FMT = "%Y%m%dT%H%M%S"


@st.composite
def dense_rules(draw):
    freq = draw(st.sampled_from(list(WINDOWS)))
    interval = draw(
        st.one_of(st.just(1), st.integers(2, 9), st.sampled_from([13, 60, 97]))
    )
    parts = [f"FREQ={freq}", f"INTERVAL={interval}"]
    subsets = {
        "BYSECOND": st.lists(st.integers(0, 59), min_size=1, max_size=4, unique=True),
        "BYMINUTE": st.lists(st.integers(0, 59), min_size=1, max_size=6, unique=True),
        "BYHOUR": st.lists(st.integers(0, 23), min_size=1, max_size=6, unique=True),
    }
    for name, values in subsets.items():
        if draw(st.booleans()):
            parts.append(f"{name}={','.join(map(str, sorted(draw(values))))}")
    if freq == "DAILY" and len(parts) == 2:
        parts.append("BYHOUR=8,9,10")  # a daily rule is dense through its times
    if draw(st.booleans()):
        days = draw(
            st.lists(
                st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]),
                min_size=1,
                max_size=4,
                unique=True,
            )
        )
        parts.append(f"BYDAY={','.join(days)}")
    window = WINDOWS[freq]
    lead = draw(st.integers(0, int(window.total_seconds() * 2)))
    start = WINDOW_START - dt.timedelta(seconds=lead)
    end_kind = draw(st.sampled_from(["none", "count", "until"]))
    if end_kind == "count":
        parts.append(f"COUNT={draw(st.integers(1, 400))}")
    zoned = draw(st.sampled_from(["utc", "berlin", "floating"]))
    if end_kind == "until":
        until = start + window * draw(st.floats(0.1, 2.5))
        if zoned == "floating":  # RFC 5545: UNTIL is floating too
            parts.append(f"UNTIL={_local(until):%Y%m%dT%H%M%S}")
        else:
            parts.append(f"UNTIL={until.astimezone(UTC):%Y%m%dT%H%M%SZ}")
    seconds = draw(st.sampled_from([0, 1, 30, 59, 60, 61, 299, 300, 3600, 5400]))
    return start, seconds, zoned, ";".join(parts), window


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(dense_rules())
def test_blocks_equal_the_instances_busy_time(case) -> None:
    start, seconds, zoned, rule, window = case
    end = start + dt.timedelta(seconds=seconds)
    if zoned == "utc":
        lines = [f"DTSTART:{start:{FMT}}Z", f"DTEND:{end:{FMT}}Z"]
    else:
        local_start = start.astimezone(ZoneInfo(BERLIN))
        local_end = local_start + dt.timedelta(seconds=seconds)
        prefix = f";TZID={BERLIN}" if zoned == "berlin" else ""
        lines = [
            f"DTSTART{prefix}:{local_start:{FMT}}",
            f"DTEND{prefix}:{local_end:{FMT}}",
        ]
    text = calendar(*lines, f"RRULE:{rule}")
    window_end = WINDOW_START + window
    expected = reference_blocks(
        text, WINDOW_START, window_end, floating=zoned == "floating"
    )
    assume(expected is not None)
    assert dense_blocks(text, WINDOW_START, window_end) == expected


# -- named cases ----------------------------------------------------------------


def test_excluded_and_overridden_instances_are_left_out() -> None:
    text = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Tests//Dense//EN",
            "BEGIN:VEVENT",
            "UID:hourly-1",
            "DTSTART:20300114T060000Z",
            "DTEND:20300114T063000Z",
            "RRULE:FREQ=HOURLY;INTERVAL=2",
            "EXDATE:20300114T100000Z",
            "SUMMARY:Check-in",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:hourly-1",
            "RECURRENCE-ID:20300114T080000Z",
            "DTSTART:20300114T083000Z",
            "DTEND:20300114T090000Z",
            "SUMMARY:Check-in (moved)",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    window_end = WINDOW_START + dt.timedelta(hours=8)
    found = busy_time(text, WINDOW_START, window_end, "UTC")
    assert [(b.start.hour, b.start.minute) for b in found.condensed[0].blocks] == [
        (6, 0),
        (12, 0),
    ]
    [moved] = found.occurrences
    assert (moved.recurrence_id, moved.start.hour, moved.start.minute) == (
        "20300114T080000Z",
        8,
        30,
    )


def test_endless_secondly_and_minutely_series_cost_little() -> None:
    """94 days of FREQ=SECONDLY (8 million instances) and FREQ=MINUTELY."""
    start = dt.datetime(2030, 1, 7, tzinfo=UTC)
    end = start + dt.timedelta(days=94)
    for rule, length in (("FREQ=SECONDLY", "000001"), ("FREQ=MINUTELY", "000030")):
        text = calendar(
            "DTSTART:20300101T000000Z", f"DTEND:20300101T{length}Z", f"RRULE:{rule}"
        )
        began = time.perf_counter()
        [series] = busy_time(text, start, end, "UTC").condensed
        elapsed = time.perf_counter() - began
        assert [(b.start, b.end) for b in series.blocks] == [(start, end)]
        assert series.every == f"every {rule[5:-2].lower().replace('second', 'second')}"
        assert elapsed < 1.0, elapsed  # generous: about 0.2 s on a quiet machine


def test_a_sparse_hostile_series_is_merged_coarser_and_flagged() -> None:
    """Busy one second every six minutes: 22,000 exact blocks over 94 days,
    so they are merged more coarsely (blocking more, never less)."""
    start = dt.datetime(2030, 1, 7, tzinfo=UTC)
    end = start + dt.timedelta(days=94)
    text = calendar(
        "DTSTART:20300101T000000Z",
        "DTEND:20300101T000001Z",
        "RRULE:FREQ=MINUTELY;INTERVAL=6",
    )
    [series] = busy_time(text, start, end, "UTC").condensed
    assert series.approximate
    assert len(series.blocks) <= dense.MAX_BLOCKS


def test_an_hourly_series_over_a_two_year_horizon_stays_exact() -> None:
    start = dt.datetime(2030, 1, 7, tzinfo=UTC)
    end = start + dt.timedelta(days=733)
    text = calendar(
        "DTSTART:20300101T000000Z", "DTEND:20300101T003000Z", "RRULE:FREQ=HOURLY"
    )
    [series] = busy_time(text, start, end, "UTC").condensed
    assert not series.approximate
    assert len(series.blocks) == 733 * 24


def test_no_appointment_type_fits_in_a_gap_the_blocks_join(sqlite_url: str) -> None:
    """Blocks join gaps shorter than MIN_BOOKABLE: exact only while no
    appointment type can be shorter."""
    from coach_app.db import session_scope
    from coach_app.services import auth
    from coach_app.services.appointment_types import TypeInput, create_type
    from coach_app.services.errors import UserError

    shortest = dense.MIN_BOOKABLE // 60
    with session_scope(sqlite_url) as s:
        coach = auth.sign_up(s, "ada@example.com", "correct horse", "Ada")
        assert coach.id is not None
        create_type(s, coach.id, TypeInput(name="Short", duration_min=shortest))
        with pytest.raises(UserError):
            create_type(
                s, coach.id, TypeInput(name="Shorter", duration_min=shortest - 1)
            )


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=MINUTELY;INTERVAL=0",
        "FREQ=SECONDLY;BYSECOND=61",
        "FREQ=HOURLY;BYSETPOS=1;BYMINUTE=0,30",
        "FREQ=MINUTELY;BYWEEKNO=3",
        "FREQ=MINUTELY;BYDAY=1MO",
        "FREQ=HOURLY;BYHOUR=x",
    ],
)
def test_rules_it_cannot_follow_are_malformed(rule: str) -> None:
    text = calendar(
        "DTSTART:20300101T000000Z", "DTEND:20300101T000100Z", f"RRULE:{rule}"
    )
    with pytest.raises(MalformedEvent):
        busy_time(text, WINDOW_START, WINDOW_START + dt.timedelta(days=1), "UTC")


def test_a_daily_rule_that_never_matches_costs_nothing() -> None:
    """Without an end, dateutil would search day by day up to the year 9999."""
    text = calendar(
        "DTSTART:20300101T090000Z",
        "DTEND:20300101T100000Z",
        "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    )
    began = time.perf_counter()
    found = busy_time(text, WINDOW_START, WINDOW_START + dt.timedelta(days=90), "UTC")
    assert time.perf_counter() - began < 0.5
    assert [b for s in found.condensed for b in s.blocks] == []
