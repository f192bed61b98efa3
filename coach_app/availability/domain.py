"""Domain inputs of the availability engine (frozen, validated dataclasses).

All instants are timezone-aware and normalised to UTC on construction; all
working-hour times are naive local wall-clock times in the coach's zone.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

__all__ = [
    "AppointmentRules",
    "BusyInterval",
    "BusyKind",
    "TimeWindow",
    "WorkingHours",
    "to_utc",
]

MIDNIGHT = time(0, 0)


def to_utc(value: datetime, name: str = "datetime") -> datetime:
    """Return ``value`` converted to UTC; reject naive datetimes."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A working window ``[start, end)`` in local wall-clock time on one local date.

    ``end == time(0, 0)`` means 24:00 (the end of that local date), so
    ``TimeWindow(time(18), time(0))`` is "18:00 until midnight" and
    ``TimeWindow(time(0), time(0))`` is the whole day. Otherwise ``start < end``
    is required; a window cannot run past midnight (split it over two days).
    Times must be naive; seconds and microseconds are allowed but unusual.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError(
                "TimeWindow times are local wall-clock times and must be naive"
            )
        # ``fold`` has no meaning for a wall-clock rule; drop it so equality is plain.
        object.__setattr__(self, "start", self.start.replace(fold=0))
        object.__setattr__(self, "end", self.end.replace(fold=0))
        if not self.ends_at_midnight and self.end <= self.start:
            raise ValueError(
                f"TimeWindow end {self.end} must be after start {self.start}"
            )

    @property
    def ends_at_midnight(self) -> bool:
        """True when ``end`` denotes 24:00 of the window's date."""
        return self.end == MIDNIGHT


WindowLike = TimeWindow | tuple[time, time]


def _windows(raw: Sequence[WindowLike], where: str) -> tuple[TimeWindow, ...]:
    if isinstance(raw, TimeWindow) or (
        isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[0], time)
    ):
        raise TypeError(f"{where}: expected a sequence of windows, got a single window")
    out = [item if isinstance(item, TimeWindow) else TimeWindow(*item) for item in raw]
    return tuple(sorted(out, key=lambda w: w.start))


@dataclass(frozen=True, slots=True, init=False)
class WorkingHours:
    """A coach's working hours in their IANA time zone.

    ``weekly`` maps a weekday (0 = Monday … 6 = Sunday) to that day's windows;
    a missing weekday is a day off. ``overrides`` maps a specific local date to
    windows that *replace* the weekly windows for that date; an empty sequence
    makes that date a day off. Windows of one date may overlap or touch; they
    are unioned. Plain ``(start, end)`` tuples are accepted for windows.
    """

    tz: ZoneInfo
    weekly: Mapping[int, tuple[TimeWindow, ...]]
    overrides: Mapping[date, tuple[TimeWindow, ...]]

    def __init__(
        self,
        tz: str | ZoneInfo,
        weekly: Mapping[int, Sequence[WindowLike]] | None = None,
        overrides: Mapping[date, Sequence[WindowLike]] | None = None,
    ) -> None:
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        week: dict[int, tuple[TimeWindow, ...]] = {}
        for weekday, raw in (weekly or {}).items():
            if not isinstance(weekday, int) or not 0 <= weekday <= 6:
                raise ValueError(
                    f"weekday must be an int 0..6 (0 = Monday), got {weekday!r}"
                )
            week[weekday] = _windows(raw, f"weekly[{weekday}]")
        days: dict[date, tuple[TimeWindow, ...]] = {}
        for day, raw in (overrides or {}).items():
            if not isinstance(day, date) or isinstance(day, datetime):
                raise ValueError(f"override keys must be dates, got {day!r}")
            days[day] = _windows(raw, f"overrides[{day}]")
        object.__setattr__(self, "tz", zone)
        object.__setattr__(self, "weekly", MappingProxyType(week))
        object.__setattr__(self, "overrides", MappingProxyType(days))

    def windows_for(self, day: date) -> tuple[TimeWindow, ...]:
        """The local windows that apply on ``day`` (override first, else weekly)."""
        if day in self.overrides:
            return self.overrides[day]
        return self.weekly.get(day.weekday(), ())


@dataclass(frozen=True, slots=True)
class AppointmentRules:
    """Booking rules of one appointment type (all durations in minutes).

    - ``interval_minutes``: step between candidate starts inside a window,
      measured in real (UTC) time from the window start; ``None`` = duration.
    - ``buffer_before_minutes`` / ``buffer_after_minutes``: free time required
      before / after the slot (see :func:`open_slots` for the exact rule).
    - ``min_notice_minutes``: a slot must start at or after ``now + notice``.
    - ``max_per_day``: ``None`` = unlimited; otherwise a coach-local date that
      already holds this many non-cancelled appointments of this type offers
      no slots.
    - ``horizon_days``: slots start before the coach-local midnight that begins
      date ``today + horizon_days`` (``today`` = coach-local date of ``now``),
      i.e. today is day 1 and the last bookable date is
      ``today + horizon_days - 1``; ``0`` offers nothing.
    """

    duration_minutes: int
    interval_minutes: int | None = None
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    min_notice_minutes: int = 0
    max_per_day: int | None = None
    horizon_days: int = 60

    def __post_init__(self) -> None:
        if self.duration_minutes <= 0:
            raise ValueError("duration_minutes must be positive")
        if self.interval_minutes is not None and self.interval_minutes <= 0:
            raise ValueError("interval_minutes must be positive")
        for name in (
            "buffer_before_minutes",
            "buffer_after_minutes",
            "min_notice_minutes",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_per_day is not None and self.max_per_day < 0:
            raise ValueError("max_per_day must not be negative")
        if self.horizon_days < 0:
            raise ValueError("horizon_days must not be negative")

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def step(self) -> timedelta:
        minutes = (
            self.duration_minutes
            if self.interval_minutes is None
            else self.interval_minutes
        )
        return timedelta(minutes=minutes)

    @property
    def buffer_before(self) -> timedelta:
        return timedelta(minutes=self.buffer_before_minutes)

    @property
    def buffer_after(self) -> timedelta:
        return timedelta(minutes=self.buffer_after_minutes)

    @property
    def min_notice(self) -> timedelta:
        return timedelta(minutes=self.min_notice_minutes)


class BusyKind(enum.Enum):
    """Where a busy interval comes from."""

    APPOINTMENT = "appointment"
    """The app's own (non-cancelled) appointment: always blocks."""
    EXTERNAL = "external"
    """An event pulled from a connected calendar: blocks only if ``busy`` and
    the coach's *Check Calendar for Conflicts* switch is on."""


@dataclass(frozen=True, slots=True)
class BusyInterval:
    """A half-open interval ``[start, end)`` of a coach's calendar.

    ``start`` / ``end`` must be timezone-aware and are normalised to UTC.
    ``busy`` is the external event's transparency (``False`` = shown as Free,
    never blocks); it is ignored for ``APPOINTMENT``. ``ref`` is an opaque id
    for the caller (event or appointment id) and is never interpreted.
    """

    start: datetime
    end: datetime
    kind: BusyKind = BusyKind.EXTERNAL
    busy: bool = True
    ref: str | None = None

    def __post_init__(self) -> None:
        start = to_utc(self.start, "BusyInterval.start")
        end = to_utc(self.end, "BusyInterval.end")
        if end < start:
            raise ValueError(f"BusyInterval end {end} is before start {start}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    def blocks(self, check_conflicts: bool) -> bool:
        """Whether this interval blocks booking under the given conflict switch."""
        return self.kind is BusyKind.APPOINTMENT or (check_conflicts and self.busy)
