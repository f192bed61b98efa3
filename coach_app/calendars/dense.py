"""Series that repeat every second, minute or hour, as merged busy blocks.

CalDAV servers accept ``RRULE:FREQ=SECONDLY`` without an end. Expanded one
instance at a time such a series is millions of occurrences over the booking
horizon (a ``FREQ=MINUTELY`` one alone was 86,049 rows and a 39 s sync), so
these series — sub-daily frequencies, and daily ones that expand into many
times a day through ``BYHOUR``/``BYMINUTE``/``BYSECOND`` — never go through
the per-instance expansion. ``condense`` computes the *union* of their busy
time directly, per minute of wall-clock time, and returns it as a few merged
blocks.

Why blocks keep availability exact:

* every slot edge is a whole minute (working hours, durations, buffers and
  slot steps are whole minutes, and every time zone offset in use is), so an
  interval blocks exactly the same slots as the interval widened outward to
  whole minutes;
* no bookable slot is shorter than ``MIN_BOOKABLE`` (5 minutes, the shortest
  appointment type allowed), so two blocks less than that apart block exactly
  what one block spanning both does: no slot fits in the gap.

Instances of zero length block nothing and are dropped (as in
``availability.intervals``).

Cost: the wall-clock day is the unit of work. A day's instances depend only
on its phase against the rule's step (one phase for any step dividing a
day), so each distinct day pattern is computed once, in at most one step per
minute of the day (60 per minute for a ``FREQ=SECONDLY`` rule limited by
``BYSECOND``); ``COUNT`` is followed day by day from ``DTSTART``, for at most
``MAX_COUNT_YEARS``. A series whose blocks still exceed ``MAX_BLOCKS`` or one
per hour of the window, whichever is more (only a crafted one: busy for a
second every six minutes, say), is merged more coarsely, which can only
block more, and is flagged ``approximate``.

Semantics follow ``recurring_ical_events`` (which the tests compare
against): the lattice runs in the wall-clock time of ``DTSTART`` (floating
times in the coach's zone), ``DTSTART`` is always an instance (when it is
off the rule, which RFC 5545 leaves undefined, an extra one outside
``COUNT``), ``UNTIL`` is inclusive (a ``DATE`` means its
midnight), ``EXDATE`` and overridden instances (``RECURRENCE-ID``) are
removed, ``RDATE`` instances added. By RFC 5545 ``BYWEEKNO`` is only valid
with ``FREQ=YEARLY`` and numbered ``BYDAY`` only with monthly and yearly
rules; here they raise ``MalformedEvent``, as does ``BYSETPOS`` (legal, but
not supported on such rules).
"""

from __future__ import annotations

import calendar as cal_module
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from coach_app.calendars.errors import MalformedEvent

MIN_BOOKABLE = 5 * 60  # seconds: the shortest appointment type allowed
# Blocks per series: at least this many, and one per hour of the window (an
# hourly series over a two-year horizon stays exact); more only for a
# crafted series (see the module docstring).
MAX_BLOCKS = 3000
MAX_COUNT_YEARS = 60  # how far back COUNT is followed from DTSTART
MAX_INSTANCE = timedelta(days=400)  # longer instances are refused
WORK_BUDGET = 2_000_000  # instance starts looked at per series, at most

DAY = 86_400
_EPOCH = datetime(1970, 1, 1)
_UNITS = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": DAY}
EVERY = {"SECONDLY": "second", "MINUTELY": "minute", "HOURLY": "hour"}
_WEEKDAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
# RFC 5545 §3.3.10 ranges of the numeric parts (0 is no value for signed ones).
PART_RANGES = {
    "BYSECOND": (0, 60),
    "BYMINUTE": (0, 59),
    "BYHOUR": (0, 23),
    "BYMONTH": (1, 12),
    "BYMONTHDAY": (-31, 31),
    "BYYEARDAY": (-366, 366),
    "BYWEEKNO": (-53, 53),
    "BYSETPOS": (-366, 366),
}
_LIMITS = ("BYSECOND", "BYMINUTE", "BYHOUR", "BYMONTH", "BYMONTHDAY", "BYYEARDAY")


@dataclass(frozen=True)
class Block:
    """Busy (or free) time of a condensed series, aware UTC, whole minutes."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Condensed:
    blocks: list[Block]
    # How often it repeats, for the coach ("every minute"); "" for a daily
    # series with one time a day, which needs no notice.
    every: str
    approximate: bool = False  # merged coarser than exact (MAX_BLOCKS)


def is_dense(master: Any) -> bool:
    """Whether a VEVENT (with ``RRULE``) goes to ``condense``: a sub-daily
    rule, or a daily one with a start time and any ``BY…`` part (time parts
    expand it into many instances a day; with day parts that never match,
    ``dateutil`` would search up to the year 9999)."""
    rules = _rules(master)
    if any(_freq(rule) in EVERY for rule in rules):
        return True
    timed = isinstance(getattr(master.get("DTSTART"), "dt", None), datetime)
    return timed and any(
        _freq(rule) == "DAILY"
        and not rule.get("BYSETPOS")
        and any(rule.get(part) for part in (*_LIMITS, "BYDAY"))
        for rule in rules
    )


def _times_a_day(rule: Any) -> int:
    times = 1
    for part in ("BYHOUR", "BYMINUTE", "BYSECOND"):
        times *= max(1, len(rule.get(part) or ()))
    return times


def condense(
    master: Any,
    window_start: datetime,
    window_end: datetime,
    wall_zone: tzinfo,
    *,
    excluded: Iterable[date | datetime] = (),
) -> Condensed:
    """The merged blocks of ``master`` (an icalendar VEVENT with a dense
    ``RRULE``) overlapping ``[window_start, window_end)``.

    ``wall_zone`` is the zone of floating times (the coach's); ``excluded``
    are instance starts replaced by overrides. Raises ``MalformedEvent``.
    """
    dtstart = getattr(master.get("DTSTART"), "dt", None)
    if not isinstance(dtstart, datetime):
        raise MalformedEvent("a series repeating within a day needs a start time")
    zone = dtstart.tzinfo or wall_zone
    start_wall = _wall(dtstart)
    duration = _duration(master, dtstart)
    if duration > MAX_INSTANCE:
        raise MalformedEvent("instances of this series last more than a year")
    span = int(duration.total_seconds())
    lo = _wall(window_start.astimezone(zone)) - span - DAY
    hi = _wall(window_end.astimezone(zone)) + DAY
    skip = {_wall_of(value, zone) for value in excluded}
    skip |= _dates(master, "EXDATE", zone)

    pieces: list[tuple[int, int]] = []  # wall-clock [start, end)
    every = _every(_rules(master))
    for rule in _rules(master):
        series = _Series(rule, start_wall, zone)
        shared: dict[int, list[tuple[int, int]]] = {}  # day pattern → its spans
        for day_start, cells, phase in series.days(lo, hi, skip):
            spans = shared.get(phase) if phase is not None else None
            if spans is None:
                spans = _merge(
                    [(offset, _ceil_minute(last + span)) for offset, last, _ in cells],
                    gap=0,
                )
                if phase is not None:
                    shared[phase] = spans
            pieces.extend((day_start + a, day_start + b) for a, b in spans)
    if lo <= start_wall <= hi and start_wall not in skip:
        pieces.append((start_wall - start_wall % 60, _ceil_minute(start_wall + span)))
    if span <= 0:
        pieces = []
    to_utc = _UtcClock(zone)
    spans = [(to_utc(a), to_utc(b)) for a, b in _merge(pieces, gap=0)]
    spans += _rdate_spans(master, zone, duration)
    low = _epoch(window_start) // 60 * 60
    high = _ceil_minute(_epoch(window_end))
    merged = _merge_minutes(spans, low, high, MIN_BOOKABLE)
    approximate = False
    gap = MIN_BOOKABLE
    most = max(MAX_BLOCKS, (high - low) // 3600)
    while len(merged) > most:
        gap *= 2
        approximate = True
        merged = _merge_minutes(merged, low, high, gap)
    blocks = [
        Block(_from_epoch(max(a, low)), _from_epoch(min(b, high))) for a, b in merged
    ]
    return Condensed(blocks, every, approximate)


class _UtcClock:
    """Wall-clock seconds → UTC epoch seconds, by one offset per day and an
    exact conversion only on days with a transition (DST)."""

    def __init__(self, zone: tzinfo) -> None:
        self._zone = zone
        self._offsets: dict[int, int | None] = {}

    def __call__(self, wall: int) -> int:
        day = wall - wall % DAY
        if day not in self._offsets:
            first, last = self._offset(day), self._offset(day + DAY - 1)
            self._offsets[day] = first if first == last else None
        offset = self._offsets[day]
        return wall - (offset if offset is not None else self._offset(wall))

    def _offset(self, wall: int) -> int:
        local = (_EPOCH + timedelta(seconds=wall)).replace(tzinfo=self._zone)
        delta = local.utcoffset() or timedelta(0)
        return int(delta.total_seconds())


class _Series:
    """One RRULE over wall-clock seconds since 1970 (see the module docstring)."""

    def __init__(self, rule: Any, start_wall: int, zone: tzinfo) -> None:
        self.freq = _freq(rule)
        unit = _UNITS.get(self.freq)
        if unit is None:
            raise MalformedEvent(f"FREQ={self.freq} is not a dense frequency")
        for part in ("BYWEEKNO", "BYSETPOS"):
            if rule.get(part):
                raise MalformedEvent(f"{part} is not supported with FREQ={self.freq}")
        self.interval = _int(_first(rule, "INTERVAL", 1), "INTERVAL")
        if self.interval < 1:
            raise MalformedEvent("INTERVAL must be at least 1")
        self.step = unit * self.interval
        self.base = start_wall - start_wall % unit  # a lattice point
        self.start = start_wall
        by = {part: _ints(rule, part) for part in _LIMITS}
        seconds_of_day = start_wall % DAY
        h0, m0, s0 = seconds_of_day // 3600, seconds_of_day // 60 % 60, start_wall % 60
        # Parts finer than FREQ expand (default: DTSTART's), coarser ones limit.
        expand_s = by["BYSECOND"] or ([s0] if unit > 1 else None)
        expand_m = by["BYMINUTE"] or ([m0] if unit > 60 else None)
        expand_h = by["BYHOUR"] or ([h0] if unit > 3600 else None)
        self.hours = sorted(set(expand_h or by["BYHOUR"] or range(24)))
        self.minutes = sorted(set(expand_m or by["BYMINUTE"] or range(60)))
        self.seconds = sorted(set(expand_s or by["BYSECOND"] or range(60)))
        self.second_set = set(self.seconds)
        self.every_second = len(self.second_set & set(range(60))) == 60
        self.months = set(by["BYMONTH"])
        self.monthdays = set(by["BYMONTHDAY"])
        self.yeardays = set(by["BYYEARDAY"])
        self.weekdays = {_weekday(value) for value in rule.get("BYDAY") or ()}
        self.until = _until(rule, zone)
        count = _first(rule, "COUNT", None)
        self.count = None if count is None else _int(count, "COUNT")
        self._patterns: dict[int, tuple[list[tuple[int, int, int]], int]] = {}
        self._budget = WORK_BUDGET

    # -- days ---------------------------------------------------------------

    def days(
        self, lo: int, hi: int, skip: set[int]
    ) -> Iterable[tuple[int, list[tuple[int, int, int]], int | None]]:
        """``(day start, cells, phase)`` for every day in ``[lo, hi]`` with
        instances; a cell is ``(offset of its minute, offset of its last
        start, count)``; days of one ``phase`` share their cells (None: a
        day of its own, cut by DTSTART, the end or exclusions)."""
        last = self.until if self.until is not None else hi
        if self.count is not None:
            last = min(last, self._count_end(hi))
        skip_days = {x - x % DAY for x in skip}
        first_day = max(lo, self.start) // DAY * DAY
        for day_start in range(first_day, min(hi, last) + 1, DAY):
            if not self._day_allowed(day_start):
                continue
            clip = day_start <= self.start < day_start + DAY or (
                day_start <= last < day_start + DAY
            )
            phase: int | None = None
            if clip or day_start in skip_days:
                cells = self._cells(day_start, self.start, last, skip)
            else:
                phase = (day_start - self.base) % self.step
                cells = self._pattern(day_start)[0]
            if cells:
                yield day_start, cells, phase

    def _count_end(self, hi: int) -> int:
        """Wall time of the COUNT-th instance (DTSTART counts as the first),
        or ``hi`` if it comes later."""
        assert self.count is not None
        # A DTSTART off the rule is an extra instance, outside the COUNT
        # (RFC 5545 leaves it undefined; recurring_ical_events does this).
        remaining = self.count
        if remaining <= 0:
            return self.start
        if hi - self.start > MAX_COUNT_YEARS * 366 * DAY:
            raise MalformedEvent(
                f"COUNT is followed for {MAX_COUNT_YEARS} years from DTSTART only"
            )
        day_start = self.start // DAY * DAY
        while day_start <= hi:
            if self._day_allowed(day_start):
                if day_start <= self.start:
                    cells = self._cells(day_start, self.start, day_start + DAY, set())
                    total = sum(count for _, _, count in cells)
                else:
                    total = self._pattern(day_start)[1]
                if total >= remaining:
                    starts = self._starts(day_start, self.start, day_start + DAY)
                    return starts[remaining - 1]
                remaining -= total
            day_start += DAY
        return hi

    def _day_allowed(self, day_start: int) -> bool:
        day = date.fromordinal(_EPOCH.toordinal() + day_start // DAY)
        if self.months and day.month not in self.months:
            return False
        if self.weekdays and day.weekday() not in self.weekdays:
            return False
        if self.monthdays:
            length = cal_module.monthrange(day.year, day.month)[1]
            if day.day not in self.monthdays and day.day - length - 1 not in (
                self.monthdays
            ):
                return False
        if self.yeardays:
            yday = day.timetuple().tm_yday
            length = 366 if cal_module.isleap(day.year) else 365
            if yday not in self.yeardays and yday - length - 1 not in self.yeardays:
                return False
        return True

    def _pattern(self, day_start: int) -> tuple[list[tuple[int, int, int]], int]:
        """A whole day's cells and instance count, shared by days of one phase."""
        phase = (day_start - self.base) % self.step
        found = self._patterns.get(phase)
        if found is None:
            cells = self._cells(day_start, day_start, day_start + DAY, set())
            found = (cells, sum(count for _, _, count in cells))
            self._patterns[phase] = found
        return found

    def _cells(
        self, day_start: int, lo: int, hi: int, skip: set[int]
    ) -> list[tuple[int, int, int]]:
        """The day's instances in ``[lo, hi]`` minus ``skip``, per minute."""
        out: list[tuple[int, int, int]] = []
        for minute_start, starts in self._minutes(day_start):
            if lo <= starts[0] and starts[-1] <= hi and not skip:
                kept = starts  # the usual case: nothing to cut
            else:
                kept = [
                    t for t in starts if lo <= t <= hi and (not skip or t not in skip)
                ]
            if kept:
                out.append((minute_start - day_start, kept[-1] - day_start, len(kept)))
        return out

    def _starts(self, day_start: int, lo: int, hi: int) -> list[int]:
        return [
            t for _, starts in self._minutes(day_start) for t in starts if lo <= t <= hi
        ]

    def _minutes(self, day_start: int) -> Iterable[tuple[int, Sequence[int]]]:
        """``(minute start, sorted instance starts in it)`` for one day."""
        step = self.step
        if self.freq == "DAILY" and (day_start - self.base) % step:
            return
        for hour in self.hours:
            hour_start = day_start + hour * 3600
            if self.freq == "HOURLY" and (hour_start - self.base) % step:
                continue
            self._spend(len(self.minutes))
            for minute in self.minutes:
                minute_start = hour_start + minute * 60
                if self.freq == "MINUTELY" and (minute_start - self.base) % step:
                    continue
                if self.freq == "SECONDLY":
                    first = minute_start + (self.base - minute_start) % step
                    starts: Sequence[int] = range(first, minute_start + 60, step)
                    if not self.every_second:
                        self._spend(len(starts))
                        starts = [t for t in starts if t % 60 in self.second_set]
                else:
                    starts = [minute_start + s for s in self.seconds if s < 60]
                if starts:
                    yield minute_start, starts

    def _spend(self, work: int) -> None:
        self._budget -= work
        if self._budget < 0:
            raise MalformedEvent("this series is too complex to expand")


# -- helpers ------------------------------------------------------------------


def _every(rules: list[Any]) -> str:
    labels = [EVERY[_freq(rule)] for rule in rules if _freq(rule) in EVERY]
    if labels:
        finest = min(labels, key=["second", "minute", "hour"].index)
        return f"every {finest}"
    if any(_times_a_day(rule) > 1 for rule in rules):
        return "several times a day"
    return ""


def _rules(master: Any) -> list[Any]:
    rules = master.get("RRULE")
    return list(rules) if isinstance(rules, list) else [rules]


def _freq(rule: Any) -> str:
    return str(_first(rule, "FREQ", "")).upper()


def _first(rule: Any, part: str, default: Any) -> Any:
    values = rule.get(part)
    if values is None:
        return default
    if isinstance(values, list | tuple):
        return values[0] if values else default
    return values


def _int(value: Any, part: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MalformedEvent(f"{part}={value!r} is not a number") from None


def _ints(rule: Any, part: str) -> list[int]:
    low, high = PART_RANGES[part]
    values = [_int(v, part) for v in rule.get(part) or ()]
    for value in values:
        if not low <= value <= high or value == 0 and low < 0:
            raise MalformedEvent(f"{part}={value} is out of range")
    return values


def _weekday(value: Any) -> int:
    text = str(value).upper()
    name = text[-2:]
    if name not in _WEEKDAYS:
        raise MalformedEvent(f"BYDAY={text!r} is not a weekday")
    if text[:-2]:
        raise MalformedEvent(f"BYDAY={text} with a number needs a monthly rule")
    return _WEEKDAYS[name]


def _until(rule: Any, zone: tzinfo) -> int | None:
    value = _first(rule, "UNTIL", None)
    if value is None:
        return None
    if isinstance(value, datetime):
        return _wall_of(value, zone)
    if isinstance(value, date):
        return _wall(datetime.combine(value, datetime.min.time()))
    raise MalformedEvent(f"UNTIL={value!r} is not a date")


def _duration(master: Any, dtstart: datetime) -> timedelta:
    end = getattr(master.get("DTEND"), "dt", None)
    if isinstance(end, datetime):
        if (end.tzinfo is None) != (dtstart.tzinfo is None):
            raise MalformedEvent("DTSTART and DTEND mix floating and zoned times")
        return end - dtstart
    duration = getattr(master.get("DURATION"), "dt", None)
    if isinstance(duration, timedelta):
        return duration
    if end is not None:
        raise MalformedEvent("DTEND is a date while DTSTART is a time")
    return timedelta(0)


def _wall(moment: datetime) -> int:
    """Wall-clock seconds since 1970 of ``moment`` in its own zone."""
    return int((moment.replace(tzinfo=None) - _EPOCH).total_seconds())


def _wall_of(moment: datetime | date, zone: tzinfo) -> int:
    if not isinstance(moment, datetime):
        return _wall(datetime.combine(moment, datetime.min.time()))
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone)
    return _wall(moment)


def _ceil_minute(wall: int) -> int:
    return -(-wall // 60) * 60


def _dates(master: Any, name: str, zone: tzinfo) -> set[int]:
    values = master.get(name)
    if values is None:
        return set()
    out: set[int] = set()
    for item in values if isinstance(values, list) else [values]:
        for entry in getattr(item, "dts", ()):
            value = getattr(entry, "dt", None)
            if isinstance(value, date):
                out.add(_wall_of(value, zone))
    return out


def _rdate_spans(
    master: Any, zone: tzinfo, duration: timedelta
) -> list[tuple[int, int]]:
    """``RDATE`` instances as UTC epoch-second spans."""
    values = master.get("RDATE")
    if values is None:
        return []
    out = []
    for item in values if isinstance(values, list) else [values]:
        for entry in getattr(item, "dts", ()):
            value = getattr(entry, "dt", None)
            length = duration
            if isinstance(value, tuple) and len(value) == 2:  # PERIOD
                value, until = value
                if isinstance(until, timedelta):
                    length = until
                elif isinstance(until, datetime) and isinstance(value, datetime):
                    length = until - value
            if not isinstance(value, datetime):
                continue
            if value.tzinfo is None:
                value = value.replace(tzinfo=zone)
            begin = _epoch(value)
            out.append((begin, begin + int(length.total_seconds())))
    return out


def _merge(pieces: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(pieces):
        if end <= start:
            continue
        if merged and start - merged[-1][1] <= gap:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _merge_minutes(
    spans: list[tuple[int, int]], low: int, high: int, gap: int
) -> list[tuple[int, int]]:
    """Widen to whole minutes, join gaps shorter than ``gap`` seconds, keep
    what overlaps ``[low, high)`` (all UTC epoch seconds)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        start, end = start - start % 60, _ceil_minute(end)
        if end <= start or end <= low or start >= high:
            continue
        if merged and start - merged[-1][1] < gap:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
