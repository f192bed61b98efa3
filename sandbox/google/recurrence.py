"""Recurrence expansion for the Google sandbox, written independently of the
app's own iCalendar code (``coach_app.calendars.ical``) so that tests of the
provider are not the app checked against itself.

Rules follow RFC 5545 as Google applies them to ``Event.recurrence``:

* timed series recur in the wall-clock time of ``start.timeZone`` (a weekly
  09:00 Berlin meeting stays at 09:00 across DST); all-day series recur on
  dates;
* ``RRULE``/``EXRULE`` lines go through ``dateutil``; ``RDATE``/``EXDATE``
  values are parsed here (``TZID=``, ``VALUE=DATE``, UTC ``Z`` and floating
  forms, comma-separated lists);
* an instance's duration is the master's exact duration.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulebase, rruleset, rrulestr


class RecurrenceError(ValueError):
    """A recurrence line Google would reject with 400 "Invalid recurrence rule"."""


@dataclass(frozen=True)
class Slot:
    """One generated occurrence: the original start (its identity) and timing."""

    original: datetime | date  # aware datetime (master zone) or date
    start: datetime | date
    end: datetime | date


_UNTIL_RE = re.compile(r"UNTIL=([0-9TZ]+)", re.IGNORECASE)


def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    """The IANA zone ``name`` (or ``default``); RecurrenceError if unknown."""
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RecurrenceError(f"unknown time zone {name!r}") from exc


def validate(lines: list[str]) -> None:
    """Raise RecurrenceError unless every line is RRULE/EXRULE/RDATE/EXDATE."""
    for line in lines:
        name = re.split(r"[;:]", line, maxsplit=1)[0].upper()
        if name not in ("RRULE", "EXRULE", "RDATE", "EXDATE") or ":" not in line:
            raise RecurrenceError(f"unsupported recurrence line {line!r}")
    # Parse once against a fixed start so a broken RRULE fails at write time.
    build_set(lines, datetime(2000, 1, 1, tzinfo=UTC), ZoneInfo("UTC"))
    build_set(lines, datetime(2000, 1, 1), None)


def build_set(
    lines: list[str], dtstart: datetime, master_zone: ZoneInfo | None
) -> rruleset:
    """An ``rruleset`` for ``lines``; ``dtstart`` is aware (timed) or naive (all-day)."""
    aware = dtstart.tzinfo is not None
    rset = rruleset()
    rset.rdate(dtstart)
    for line in lines:
        head, _, value = line.partition(":")
        name, *params = head.split(";")
        name = name.upper()
        try:
            if name in ("RRULE", "EXRULE"):
                rule = rrulestr(
                    _normalize_until(value, aware, master_zone),
                    dtstart=dtstart,
                    forceset=False,
                )
                if not isinstance(rule, rrulebase):
                    raise RecurrenceError(f"bad rule {line!r}")
                (rset.rrule if name == "RRULE" else rset.exrule)(rule)
            elif name in ("RDATE", "EXDATE"):
                for moment in _date_values(params, value, dtstart, master_zone):
                    (rset.rdate if name == "RDATE" else rset.exdate)(moment)
        except (ValueError, TypeError) as exc:
            raise RecurrenceError(f"invalid recurrence line {line!r}: {exc}") from exc
    return rset


def slots(
    lines: list[str],
    start: datetime | date,
    end: datetime | date,
    master_zone: ZoneInfo,
    window_start: datetime,
    window_end: datetime,
    limit: int,
) -> Iterator[Slot]:
    """Occurrences overlapping ``[window_start, window_end)`` (aware UTC bounds).

    ``start``/``end`` are the master's (aware datetimes, or dates for all-day).
    All-day dates are placed in ``master_zone`` (the calendar's zone) to
    compare with the window.
    """
    if isinstance(start, datetime):
        assert isinstance(end, datetime)
        local_start = start.astimezone(master_zone)
        duration = end - start
        rset = build_set(lines, local_start, master_zone)
        lo = (window_start - duration).astimezone(master_zone)
        hi = window_end.astimezone(master_zone)
        for count, moment in enumerate(rset.xafter(lo, inc=True)):
            if moment >= hi or count >= limit:
                return
            if moment + duration > window_start or (
                duration == timedelta(0) and moment >= window_start
            ):
                yield Slot(moment, moment, moment + duration)
        return
    assert not isinstance(end, datetime)
    days = (end - start).days or 1
    rset = build_set(lines, datetime.combine(start, time(0)), None)
    lo_day = (window_start.astimezone(master_zone) - timedelta(days=days + 1)).replace(
        tzinfo=None
    )
    for count, moment in enumerate(rset.xafter(lo_day, inc=True)):
        day = moment.date()
        first = datetime.combine(day, time(0), master_zone)
        if first >= window_end or count >= limit:
            return
        last = datetime.combine(day + timedelta(days=days), time(0), master_zone)
        if last > window_start:
            yield Slot(day, day, day + timedelta(days=days))


def _normalize_until(rule: str, aware: bool, master_zone: ZoneInfo | None) -> str:
    """dateutil wants UNTIL in UTC for aware starts and naive for naive starts."""

    def fix(match: re.Match[str]) -> str:
        raw = match.group(1).upper()
        if aware:
            if raw.endswith("Z"):
                return f"UNTIL={raw}"
            if "T" in raw:
                local = datetime.strptime(raw, "%Y%m%dT%H%M%S").replace(
                    tzinfo=master_zone
                )
            else:  # a DATE: through the end of that day in the master's zone
                local = datetime.combine(
                    datetime.strptime(raw, "%Y%m%d").date(),
                    time(23, 59, 59),
                    master_zone,
                )
            return "UNTIL=" + local.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        day = raw[:8]
        return f"UNTIL={day}T235959"

    return _UNTIL_RE.sub(fix, rule)


def _date_values(
    params: list[str], value: str, dtstart: datetime, master_zone: ZoneInfo | None
) -> Iterator[datetime]:
    """RDATE/EXDATE values in the form the set holds: aware in the master's zone
    for a timed series, naive midnights for an all-day one."""
    aware = dtstart.tzinfo is not None
    tzid = None
    for param in params:
        key, _, val = param.partition("=")
        if key.upper() == "TZID":
            tzid = val.strip('"')
    for item in value.split(","):
        item = item.strip().upper()
        if not item:
            continue
        if "T" not in item:  # a DATE
            day = datetime.strptime(item[:8], "%Y%m%d").date()
            if aware:
                # A DATE against a timed series means that day's instance.
                yield datetime.combine(day, dtstart.time(), master_zone)
            else:
                yield datetime.combine(day, time(0))
            continue
        naive = datetime.strptime(item[:15], "%Y%m%dT%H%M%S")
        if item.endswith("Z"):
            moment = naive.replace(tzinfo=UTC)
        else:
            moment = naive.replace(tzinfo=zone(tzid) if tzid else master_zone or UTC)
        if aware:
            yield moment.astimezone(master_zone)
        else:
            local = moment.astimezone(master_zone or UTC)
            yield datetime.combine(local.date(), time(0))
