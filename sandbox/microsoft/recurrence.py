"""Expanding Graph's ``patternedRecurrence`` into occurrences.

Pattern types (recurrencePattern reference): ``daily``, ``weekly``
(``daysOfWeek``, ``firstDayOfWeek``), ``absoluteMonthly`` (``dayOfMonth``),
``relativeMonthly`` (``daysOfWeek`` + ``index``: first…fourth, last),
``absoluteYearly`` (``month`` + ``dayOfMonth``), ``relativeYearly``
(``month`` + ``daysOfWeek`` + ``index``); all with ``interval``. Range types
(recurrenceRange): ``endDate`` (inclusive), ``noEnd``, ``numbered``
(``numberOfOccurrences``), from ``startDate``.

Occurrences keep the series' wall-clock start time in its time zone (a
09:00 Berlin meeting stays at 09:00 across DST); an occurrence's identity is
its original start in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule

from sandbox.microsoft import errors

_DAYS = {
    "monday": rrule.MO,
    "tuesday": rrule.TU,
    "wednesday": rrule.WE,
    "thursday": rrule.TH,
    "friday": rrule.FR,
    "saturday": rrule.SA,
    "sunday": rrule.SU,
}
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
PATTERN_TYPES = frozenset(
    {
        "daily",
        "weekly",
        "absoluteMonthly",
        "relativeMonthly",
        "absoluteYearly",
        "relativeYearly",
    }
)
RANGE_TYPES = frozenset({"endDate", "noEnd", "numbered"})


def validate(recurrence: Any) -> dict[str, Any]:
    """A checked copy of a ``patternedRecurrence`` (400 when invalid)."""
    if not isinstance(recurrence, dict):
        raise _invalid("recurrence must be an object")
    pattern = recurrence.get("pattern")
    range_ = recurrence.get("range")
    if not isinstance(pattern, dict) or not isinstance(range_, dict):
        raise _invalid("recurrence needs a pattern and a range")
    kind = pattern.get("type")
    if kind not in PATTERN_TYPES:
        raise _invalid(f"unknown recurrence pattern type {kind!r}")
    interval = pattern.get("interval", 1)
    if not isinstance(interval, int) or interval < 1:
        raise _invalid("recurrence interval must be a positive integer")
    days = [str(d).lower() for d in pattern.get("daysOfWeek") or []]
    if any(d not in _DAYS for d in days):
        raise _invalid("daysOfWeek holds an unknown day")
    if kind in ("weekly", "relativeMonthly", "relativeYearly") and not days:
        raise _invalid(f"a {kind} pattern needs daysOfWeek")
    if kind in ("absoluteMonthly", "absoluteYearly") and not pattern.get("dayOfMonth"):
        raise _invalid(f"a {kind} pattern needs dayOfMonth")
    if kind in ("absoluteYearly", "relativeYearly") and not pattern.get("month"):
        raise _invalid(f"a {kind} pattern needs month")
    if pattern.get("index", "first") not in _INDEX:
        raise _invalid("index must be first, second, third, fourth or last")
    rtype = range_.get("type")
    if rtype not in RANGE_TYPES:
        raise _invalid(f"unknown recurrence range type {rtype!r}")
    start = _date(range_.get("startDate"), "startDate")
    if rtype == "endDate" and _date(range_.get("endDate"), "endDate") < start:
        raise _invalid("the recurrence range ends before it starts")
    if rtype == "numbered" and not (
        isinstance(range_.get("numberOfOccurrences"), int)
        and range_["numberOfOccurrences"] > 0
    ):
        raise _invalid("numberOfOccurrences must be a positive integer")
    out_pattern = {
        "type": kind,
        "interval": interval,
        "month": int(pattern.get("month") or 0),
        "dayOfMonth": int(pattern.get("dayOfMonth") or 0),
        "daysOfWeek": days,
        "firstDayOfWeek": str(pattern.get("firstDayOfWeek") or "sunday").lower(),
        "index": pattern.get("index", "first"),
    }
    out_range = {
        "type": rtype,
        "startDate": start.isoformat(),
        "endDate": range_.get("endDate") if rtype == "endDate" else "0001-01-01",
        "recurrenceTimeZone": range_.get("recurrenceTimeZone") or "",
        "numberOfOccurrences": int(range_.get("numberOfOccurrences") or 0),
    }
    return {"pattern": out_pattern, "range": out_range}


def occurrences(
    recurrence: dict[str, Any],
    first_start: datetime,
    zone: ZoneInfo,
    lo: datetime,
    hi: datetime,
    duration: timedelta,
) -> Iterator[datetime]:
    """Original starts (aware UTC) of occurrences overlapping ``[lo, hi)``.

    ``first_start`` is the series' wall-clock start (naive) in ``zone``; each
    occurrence starts at that time of day on a matching date.
    """
    rule = _rule(recurrence, first_start.time())
    # Wall-clock bounds, widened by a day for zone offsets and the duration.
    lo_local = lo.astimezone(zone).replace(tzinfo=None) - duration - timedelta(days=1)
    hi_local = hi.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
    for local in rule.between(lo_local, hi_local, inc=True):
        start = local.replace(tzinfo=zone).astimezone(UTC)
        if (
            start < hi
            and start + duration > lo
            or (duration == timedelta(0) and lo <= start < hi)
        ):
            yield start


def is_occurrence(
    recurrence: dict[str, Any],
    first_start: datetime,
    zone: ZoneInfo,
    original: datetime,
) -> bool:
    """Whether ``original`` (aware UTC) is an occurrence start of the series."""
    local = original.astimezone(zone).replace(tzinfo=None)
    rule = _rule(recurrence, first_start.time())
    return local in rule.between(
        local - timedelta(seconds=1), local + timedelta(seconds=1), inc=True
    )


def _rule(recurrence: dict[str, Any], at: time) -> rrule.rrule:
    pattern = recurrence["pattern"]
    range_ = recurrence["range"]
    kind = pattern["type"]
    start = datetime.combine(date.fromisoformat(range_["startDate"]), at)
    kwargs: dict[str, Any] = {
        "dtstart": start,
        "interval": pattern["interval"],
        "wkst": _DAYS[pattern["firstDayOfWeek"]],
    }
    days = [_DAYS[d] for d in pattern["daysOfWeek"]]
    if kind == "daily":
        freq = rrule.DAILY
    elif kind == "weekly":
        freq = rrule.WEEKLY
        kwargs["byweekday"] = days
    elif kind == "absoluteMonthly":
        freq = rrule.MONTHLY
        kwargs["bymonthday"] = pattern["dayOfMonth"]
    elif kind == "relativeMonthly":
        freq = rrule.MONTHLY
        kwargs["byweekday"] = days
        kwargs["bysetpos"] = _INDEX[pattern["index"]]
    elif kind == "absoluteYearly":
        freq = rrule.YEARLY
        kwargs["bymonth"] = pattern["month"]
        kwargs["bymonthday"] = pattern["dayOfMonth"]
    else:
        freq = rrule.YEARLY
        kwargs["bymonth"] = pattern["month"]
        kwargs["byweekday"] = days
        kwargs["bysetpos"] = _INDEX[pattern["index"]]
    if range_["type"] == "endDate":
        kwargs["until"] = datetime.combine(
            date.fromisoformat(range_["endDate"]), time(23, 59, 59)
        )
    elif range_["type"] == "numbered":
        kwargs["count"] = range_["numberOfOccurrences"]
    return rrule.rrule(freq, **kwargs)


def _date(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise _invalid(f"recurrence range {field} must be a date") from exc


def _invalid(message: str) -> errors.GraphError:
    return errors.bad_request(message, "ErrorInvalidRecurrence")
