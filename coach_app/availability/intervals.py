"""Blocking intervals: which busy intervals block, merging them, overlap checks.

Intervals are half-open ``[start, end)``; two intervals overlap iff
``a.start < b.end and b.start < a.end``. Touching (``a.end == b.start``) is not
an overlap, and an empty interval overlaps nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from .domain import BusyInterval, BusyKind, to_utc

__all__ = ["blocking_intervals", "conflicts", "merge_intervals"]

_APPOINTMENT = BusyKind.APPOINTMENT


def blocking_intervals(
    busy: Iterable[BusyInterval], *, check_conflicts: bool = True
) -> list[BusyInterval]:
    """The intervals of ``busy`` that block booking, in input order.

    The app's own appointments always block; an external event blocks iff it is
    ``busy`` and ``check_conflicts`` is on; free external events never block.
    """
    if check_conflicts:
        return [iv for iv in busy if iv.busy or iv.kind is _APPOINTMENT]
    return [iv for iv in busy if iv.kind is _APPOINTMENT]


def merge_intervals(
    spans: Iterable[tuple[datetime, datetime]],
) -> tuple[list[datetime], list[datetime]]:
    """Sort and union ``(start, end)`` pairs in O(n log n).

    Returns parallel lists ``(starts, ends)`` of disjoint, non-touching,
    non-empty intervals, both strictly increasing. Overlapping *and touching*
    intervals are joined: for half-open intervals this changes no overlap
    answer. All datetimes must share one tzinfo (the engine uses UTC).
    """
    ordered = sorted(spans)
    starts: list[datetime] = []
    ends: list[datetime] = []
    cur_start: datetime | None = None
    cur_end: datetime | None = None
    for start, end in ordered:
        if start >= end:
            continue  # empty intervals block nothing
        if cur_end is not None and start <= cur_end:
            if end > cur_end:
                cur_end = end
            continue
        if cur_start is not None and cur_end is not None:
            starts.append(cur_start)
            ends.append(cur_end)
        cur_start, cur_end = start, end
    if cur_start is not None and cur_end is not None:
        starts.append(cur_start)
        ends.append(cur_end)
    return starts, ends


def conflicts(
    start: datetime,
    end: datetime,
    intervals: Iterable[BusyInterval],
    *,
    check_conflicts: bool = True,
) -> list[BusyInterval]:
    """The blocking intervals that overlap ``[start, end)``, sorted by (start, end).

    For the coach calendar's "this overlaps …" warning. Blocking follows
    :func:`blocking_intervals`: free external events never conflict, and with
    ``check_conflicts=False`` only the app's own appointments do. No buffers are
    applied and empty intervals never conflict; exclude the appointment being
    rescheduled (e.g. by ``ref``) before calling.
    """
    lo = to_utc(start, "start")
    hi = to_utc(end, "end")
    if hi < lo:
        raise ValueError(f"end {hi} is before start {lo}")
    hits = [
        iv
        for iv in blocking_intervals(intervals, check_conflicts=check_conflicts)
        if iv.start < hi and lo < iv.end and iv.start < iv.end
    ]
    hits.sort(key=lambda iv: (iv.start, iv.end))
    return hits
