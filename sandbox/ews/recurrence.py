"""Recurrence patterns of calendar items and their expansion.

Element shapes follow the EWS reference pages "Recurrence
(RecurrenceType)", "DailyRecurrence", "WeeklyRecurrence",
"AbsoluteMonthlyRecurrence", "AbsoluteYearlyRecurrence", "NoEndRecurrence",
"EndDateRecurrence" and "NumberedRecurrence". Occurrences are generated in
the item's own time zone, so a weekly 09:00 meeting stays at 09:00 wall time
across daylight-saving changes; the original start of every instance (its
``OriginalStart``) is that wall time converted to UTC.

Deviation: the relative patterns (RelativeMonthly, RelativeYearly) and the
regenerating task patterns are not implemented; a request using them gets
``ErrorCalendarInvalidRecurrence``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sandbox.ews.ewsxml import (
    Element,
    children,
    fmt_date,
    local,
    parse_date,
    sub,
    text_of,
    tq,
)

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = tuple(calendar.month_name)[1:]
PATTERNS = (
    "DailyRecurrence",
    "WeeklyRecurrence",
    "AbsoluteMonthlyRecurrence",
    "AbsoluteYearlyRecurrence",
)
_MAX_STEPS = 200_000  # bounded work for a hostile or endless series


class UnsupportedRecurrence(ValueError):
    pass


@dataclass(frozen=True)
class Recurrence:
    pattern: str  # one of PATTERNS
    interval: int = 1
    days_of_week: tuple[str, ...] = ()
    first_day_of_week: str = "Sunday"
    day_of_month: int = 1
    month: str = "January"
    start: date = field(default_factory=date.today)
    end: date | None = None  # EndDateRecurrence
    count: int | None = None  # NumberedRecurrence

    def dates(self) -> Iterator[date]:
        """Local dates of the pattern's instances, in order."""
        produced = 0
        for steps, day in enumerate(self._candidates()):
            if steps > _MAX_STEPS:
                return
            if day < self.start:
                continue
            if self.end is not None and day > self.end:
                return
            if self.count is not None and produced >= self.count:
                return
            produced += 1
            yield day

    def _candidates(self) -> Iterator[date]:
        if self.pattern == "DailyRecurrence":
            day = self.start
            while True:
                yield day
                day += timedelta(days=self.interval)
        elif self.pattern == "WeeklyRecurrence":
            first = DAYS.index(self.first_day_of_week)
            week_start = self.start - timedelta(days=(self.start.weekday() - first) % 7)
            offsets = sorted((DAYS.index(d) - first) % 7 for d in self.days_of_week)
            while True:
                for offset in offsets:
                    yield week_start + timedelta(days=offset)
                week_start += timedelta(weeks=self.interval)
        elif self.pattern == "AbsoluteMonthlyRecurrence":
            year, month = self.start.year, self.start.month
            while True:
                last = calendar.monthrange(year, month)[1]
                yield date(year, month, min(self.day_of_month, last))
                month += self.interval
                year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        elif self.pattern == "AbsoluteYearlyRecurrence":
            month = MONTHS.index(self.month) + 1
            year = self.start.year
            while True:
                last = calendar.monthrange(year, month)[1]
                yield date(year, month, min(self.day_of_month, last))
                year += 1
        else:  # pragma: no cover - guarded by from_xml
            raise UnsupportedRecurrence(self.pattern)

    def original_starts(
        self, wall_time: time, zone: ZoneInfo, until: datetime | None = None
    ) -> Iterator[datetime]:
        """UTC original starts of the instances (up to ``until`` if given)."""
        for day in self.dates():
            start = datetime.combine(day, wall_time, zone).astimezone(UTC)
            if until is not None and start >= until:
                return
            yield start

    # -- XML ---------------------------------------------------------------

    @classmethod
    def from_xml(cls, node: Element) -> Recurrence:
        """Read a ``t:Recurrence`` element."""
        parts = children(node)
        if len(parts) != 2:
            raise ValueError("Recurrence needs one pattern and one range")
        pattern, rng = parts
        name = local(pattern.tag)
        if name not in PATTERNS:
            raise UnsupportedRecurrence(f"recurrence pattern {name} is not supported")
        values: dict[str, object] = {"pattern": name}
        interval = text_of(pattern.find(tq("Interval")))
        if interval is not None:
            values["interval"] = int(interval)
        if name == "WeeklyRecurrence":
            days = (text_of(pattern.find(tq("DaysOfWeek"))) or "").split()
            if not days or any(d not in DAYS for d in days):
                raise ValueError(f"bad DaysOfWeek: {days!r}")
            values["days_of_week"] = tuple(days)
            first = text_of(pattern.find(tq("FirstDayOfWeek")))
            if first:
                values["first_day_of_week"] = first
        if name in ("AbsoluteMonthlyRecurrence", "AbsoluteYearlyRecurrence"):
            values["day_of_month"] = int(text_of(pattern.find(tq("DayOfMonth"))) or "1")
        if name == "AbsoluteYearlyRecurrence":
            values["month"] = text_of(pattern.find(tq("Month"))) or "January"
            values["interval"] = 1
        range_name = local(rng.tag)
        values["start"] = parse_date(text_of(rng.find(tq("StartDate"))))
        if range_name == "EndDateRecurrence":
            values["end"] = parse_date(text_of(rng.find(tq("EndDate"))))
        elif range_name == "NumberedRecurrence":
            values["count"] = int(text_of(rng.find(tq("NumberOfOccurrences"))) or "0")
        elif range_name != "NoEndRecurrence":
            raise ValueError(f"unknown recurrence range {range_name}")
        rec = cls(**values)  # type: ignore[arg-type]
        if rec.interval < 1:
            raise ValueError("Interval must be at least 1")
        return rec

    def to_xml(self, parent: Element) -> Element:
        node = sub(parent, tq("Recurrence"))
        pattern = sub(node, tq(self.pattern))
        if self.pattern != "AbsoluteYearlyRecurrence":
            sub(pattern, tq("Interval"), str(self.interval))
        if self.pattern == "WeeklyRecurrence":
            sub(pattern, tq("DaysOfWeek"), " ".join(self.days_of_week))
            sub(pattern, tq("FirstDayOfWeek"), self.first_day_of_week)
        if self.pattern in ("AbsoluteMonthlyRecurrence", "AbsoluteYearlyRecurrence"):
            sub(pattern, tq("DayOfMonth"), str(self.day_of_month))
        if self.pattern == "AbsoluteYearlyRecurrence":
            sub(pattern, tq("Month"), self.month)
        if self.end is not None:
            rng = sub(node, tq("EndDateRecurrence"))
            sub(rng, tq("StartDate"), fmt_date(self.start))
            sub(rng, tq("EndDate"), fmt_date(self.end))
        elif self.count is not None:
            rng = sub(node, tq("NumberedRecurrence"))
            sub(rng, tq("StartDate"), fmt_date(self.start))
            sub(rng, tq("NumberOfOccurrences"), str(self.count))
        else:
            rng = sub(node, tq("NoEndRecurrence"))
            sub(rng, tq("StartDate"), fmt_date(self.start))
        return node
