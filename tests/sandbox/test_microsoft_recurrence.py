"""The sandbox's own expansion of Graph's patternedRecurrence and its
time-zone names (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sandbox.microsoft import recurrence
from sandbox.microsoft.errors import GraphError
from sandbox.microsoft.timezones import fmt_graph, zone_for

BERLIN = ZoneInfo("Europe/Berlin")


def starts(rec: dict, first: datetime, lo: datetime, hi: datetime) -> list[str]:
    checked = recurrence.validate(rec)
    return [
        s.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")
        for s in recurrence.occurrences(
            checked, first, BERLIN, lo, hi, timedelta(hours=1)
        )
    ]


def test_weekly_keeps_wall_clock_time_across_dst() -> None:
    rec = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
        "range": {
            "type": "endDate",
            "startDate": "2026-03-16",
            "endDate": "2026-04-06",
        },
    }
    got = starts(
        rec,
        datetime(2026, 3, 16, 9, 0),
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 5, 1, tzinfo=UTC),
    )
    assert got == [
        "2026-03-16 09:00",
        "2026-03-23 09:00",
        "2026-03-30 09:00",  # after the change to summer time
        "2026-04-06 09:00",  # endDate is inclusive
    ]


def test_relative_monthly_and_yearly_and_numbered_ranges() -> None:
    lo, hi = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 12, 31, tzinfo=UTC)
    last_friday = {
        "pattern": {
            "type": "relativeMonthly",
            "interval": 1,
            "daysOfWeek": ["friday"],
            "index": "last",
        },
        "range": {
            "type": "numbered",
            "startDate": "2026-01-01",
            "numberOfOccurrences": 3,
        },
    }
    assert starts(last_friday, datetime(2026, 1, 1, 15), lo, hi) == [
        "2026-01-30 15:00",
        "2026-02-27 15:00",
        "2026-03-27 15:00",
    ]
    birthday = {
        "pattern": {
            "type": "absoluteYearly",
            "interval": 1,
            "month": 6,
            "dayOfMonth": 12,
        },
        "range": {"type": "noEnd", "startDate": "2026-01-01"},
    }
    assert starts(birthday, datetime(2026, 1, 1, 8), lo, hi) == [
        "2026-06-12 08:00",
        "2027-06-12 08:00",
    ]


def test_bad_patterns_are_refused_with_400() -> None:
    with pytest.raises(GraphError) as caught:
        recurrence.validate(
            {
                "pattern": {"type": "weekly", "interval": 1},
                "range": {"type": "noEnd", "startDate": "2026-01-01"},
            }
        )
    assert caught.value.status == 400


def test_windows_iana_and_tzone_names_resolve() -> None:
    assert zone_for("Pacific Standard Time") == ZoneInfo("America/Los_Angeles")
    assert zone_for("W. Europe Standard Time") == ZoneInfo("Europe/Berlin")
    assert zone_for("tzone://Microsoft/Utc") == ZoneInfo("UTC")
    assert zone_for("Asia/Tokyo") == ZoneInfo("Asia/Tokyo")
    assert zone_for("tzone://Microsoft/Custom") is None
    moment = datetime(2026, 12, 9, 20, 30, tzinfo=UTC)
    assert fmt_graph(moment, ZoneInfo("UTC")) == "2026-12-09T20:30:00.0000000"
