"""Open slots from working hours, appointment rules and busy intervals.

See the package docstring (:mod:`coach_app.availability`) for the semantics.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .domain import AppointmentRules, BusyInterval, BusyKind, WorkingHours, to_utc
from .intervals import merge_intervals
from .localtime import resolve_local

__all__ = [
    "UtcWindow",
    "group_by_local_date",
    "open_slots",
    "open_slots_merged",
    "working_windows",
]

_MIDNIGHT = time(0, 0)
_ONE_DAY = timedelta(days=1)
_APPOINTMENT = BusyKind.APPOINTMENT


@dataclass(frozen=True, slots=True)
class UtcWindow:
    """A working window of coach-local date ``day`` as UTC instants ``[start, end)``."""

    day: date
    start: datetime
    end: datetime


def working_windows(
    hours: WorkingHours, first_day: date, last_day: date
) -> list[UtcWindow]:
    """The coach's working windows for local dates ``first_day..last_day`` (inclusive).

    Each local window is resolved with :func:`~.localtime.resolve_local` (an end
    of 24:00 is the start of the next local date), so on a spring-forward day a
    window spanning the gap is shorter in real time and on a fall-back day
    longer. Windows of one date are unioned (overlapping or touching ones join);
    windows that vanish in a gap are dropped. Sorted by start.
    """
    tz = hours.tz
    out: list[UtcWindow] = []
    day = first_day
    while day <= last_day:
        spans: list[tuple[datetime, datetime]] = []
        for window in hours.windows_for(day):
            start = resolve_local(day, window.start, tz)
            if window.ends_at_midnight:
                end = resolve_local(day + _ONE_DAY, _MIDNIGHT, tz)
            else:
                end = resolve_local(day, window.end, tz)
            spans.append((start, end))
        if spans:
            starts, ends = merge_intervals(spans)
            out.extend(UtcWindow(day, s, e) for s, e in zip(starts, ends, strict=True))
        day += _ONE_DAY
    return out


def open_slots(
    hours: WorkingHours,
    rules: AppointmentRules,
    busy: Iterable[BusyInterval],
    *,
    now: datetime,
    check_conflicts: bool = True,
    range_start: datetime | None = None,
    range_end: datetime | None = None,
    same_type_starts: Iterable[datetime] = (),
) -> list[datetime]:
    """Sorted, distinct UTC start instants of the bookable slots.

    A candidate start ``s`` is returned iff all hold:

    - ``s`` lies on the grid ``window.start + k * rules.step`` (real time) of a
      working window and ``s + duration <= window.end``;
    - ``now + min_notice <= s < horizon_end`` (see ``AppointmentRules``);
    - ``range_start <= s < range_end`` when given (UTC or any aware zone;
      the slot may end after ``range_end``);
    - the window's coach-local date holds fewer than ``max_per_day`` of
      ``same_type_starts`` (starts of the coach's non-cancelled appointments of
      this type, counted by coach-local date of their start);
    - the padded interval ``[s - buffer_before, s + duration + buffer_after)``
      overlaps no blocking interval (half-open: touching is fine).

    ``busy`` may be in any order and may overlap. Runs in
    O(n log n + slots + windows * log n) for n busy intervals.
    """
    where = _where(hours, rules, now, range_start, range_end, same_type_starts)
    if where is None:
        return []
    lo, hi, windows = where
    # Only intervals that can touch a padded slot matter: prune, then sort+merge.
    pad_lo = max(lo, windows[0].start) - rules.buffer_before
    pad_hi = min(hi + rules.duration, windows[-1].end) + rules.buffer_after
    if check_conflicts:
        spans = [
            (iv.start, iv.end)
            for iv in busy
            if (iv.busy or iv.kind is _APPOINTMENT)
            and iv.end > pad_lo
            and iv.start < pad_hi
        ]
    else:
        spans = [
            (iv.start, iv.end)
            for iv in busy
            if iv.kind is _APPOINTMENT and iv.end > pad_lo and iv.start < pad_hi
        ]
    starts, ends = merge_intervals(spans)
    return _sweep(windows, rules, lo, hi, starts, ends)


def open_slots_merged(
    hours: WorkingHours,
    rules: AppointmentRules,
    starts: Sequence[datetime],
    ends: Sequence[datetime],
    *,
    now: datetime,
    range_start: datetime | None = None,
    range_end: datetime | None = None,
    same_type_starts: Iterable[datetime] = (),
) -> list[datetime]:
    """:func:`open_slots` over blocking intervals that are already merged.

    ``starts``/``ends`` are what :func:`~.intervals.merge_intervals` returns
    for the blocking intervals (UTC, disjoint, strictly increasing); they may
    reach far beyond the range. For callers that keep a coach's merged busy
    time (the booking page's cache): one merge serves every appointment type
    and every refresh, and the call costs O(slots + windows * log n). The
    result equals :func:`open_slots` on the unmerged intervals.
    """
    where = _where(hours, rules, now, range_start, range_end, same_type_starts)
    if where is None:
        return []
    lo, hi, windows = where
    return _sweep(windows, rules, lo, hi, starts, ends)


def _where(
    hours: WorkingHours,
    rules: AppointmentRules,
    now: datetime,
    range_start: datetime | None,
    range_end: datetime | None,
    same_type_starts: Iterable[datetime],
) -> tuple[datetime, datetime, list[UtcWindow]] | None:
    """``[lo, hi)`` for slot starts and the windows that can hold one; None
    when nothing can be offered."""
    bounds = _bounds(hours, rules, now, range_start, range_end)
    if bounds is None:
        return None
    lo, hi = bounds
    windows = _open_windows(hours, rules, lo, hi, same_type_starts)
    return (lo, hi, windows) if windows else None


def _bounds(
    hours: WorkingHours,
    rules: AppointmentRules,
    now: datetime,
    range_start: datetime | None,
    range_end: datetime | None,
) -> tuple[datetime, datetime] | None:
    """``[lo, hi)``: where slot starts may lie (notice, horizon, range)."""
    tz = hours.tz
    now_utc = to_utc(now, "now")
    today = now_utc.astimezone(tz).date()
    lo = now_utc + rules.min_notice
    hi = resolve_local(today + timedelta(days=rules.horizon_days), _MIDNIGHT, tz)
    if range_start is not None:
        lo = max(lo, to_utc(range_start, "range_start"))
    if range_end is not None:
        hi = min(hi, to_utc(range_end, "range_end"))
    if rules.horizon_days == 0 or lo >= hi:
        return None
    return lo, hi


def _open_windows(
    hours: WorkingHours,
    rules: AppointmentRules,
    lo: datetime,
    hi: datetime,
    same_type_starts: Iterable[datetime],
) -> list[UtcWindow]:
    """Working windows that can hold a slot start in ``[lo, hi)``, without
    the dates whose daily maximum is reached."""
    tz = hours.tz
    # Windows of date D end by the first instant the clock reads D+1 00:00, so
    # no date before lo's local date can contribute. The extra day after hi's
    # local date only matters if a fold carried the clock back across midnight.
    windows = working_windows(
        hours, lo.astimezone(tz).date(), hi.astimezone(tz).date() + _ONE_DAY
    )
    if rules.max_per_day is not None:
        booked = Counter(
            to_utc(s, "same_type_starts").astimezone(tz).date()
            for s in same_type_starts
        )
        cap = rules.max_per_day
        windows = [w for w in windows if booked[w.day] < cap]
    return windows


def _sweep(
    windows: list[UtcWindow],
    rules: AppointmentRules,
    lo: datetime,
    hi: datetime,
    starts: Sequence[datetime],
    ends: Sequence[datetime],
) -> list[datetime]:
    """Walk each window's grid, jumping past blocking intervals."""
    duration = rules.duration
    step = rules.step
    before = rules.buffer_before
    after = rules.buffer_after
    n = len(starts)
    slots: list[datetime] = []
    for window in windows:
        last = window.end - duration  # latest start that still ends in the window
        s = window.start
        if s < lo:
            s += -((s - lo) // step) * step  # ceil to the first grid point >= lo
        if s > last or s >= hi:
            continue
        # first merged interval that ends after the first padded start
        j = bisect_right(ends, s - before)
        while s <= last and s < hi:
            p = s - before
            while j < n and ends[j] <= p:
                j += 1
            if j < n and starts[j] < s + duration + after:
                # blocked: jump to the first grid point with s - before >= ends[j]
                s += -((s - (ends[j] + before)) // step) * step
                continue
            slots.append(s)
            s += step
    return slots


def group_by_local_date(
    slots: Iterable[datetime], tz: str | ZoneInfo
) -> dict[date, list[datetime]]:
    """Slots converted to ``tz`` and grouped by local calendar date.

    For the invitee's view. Keys are in ascending order, each list is sorted and
    holds aware datetimes in ``tz`` (a slot just after local midnight lands on
    the next date, including in +5:30 / +5:45 zones).
    """
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    # Sort in UTC: aware datetimes sharing a tzinfo compare by wall clock,
    # which would misorder the two readings of a fall-back fold.
    local = [s.astimezone(zone) for s in sorted(to_utc(s, "slot") for s in slots)]
    grouped: dict[date, list[datetime]] = {}
    for value in local:
        grouped.setdefault(value.date(), []).append(value)
    return grouped
