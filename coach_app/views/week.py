"""The coach's week grid: which hours it shows, and where each event sits.

Positions are percentages of a day column (top and height by time, left and
width by lane), so the page renders plain absolutely-placed boxes and needs
no layout script. Events that overlap share the column side by side: each
group of transitively overlapping events is split into as many lanes as it
needs at its busiest, and every event takes the first lane free at its start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DEFAULT_HOURS = (7, 21)  # shown even on an empty week
MIN_MINUTES = 20  # a very short event still gets a box one can click


@dataclass(frozen=True)
class Span:
    """One timed event as it touches one day (local, aware datetimes)."""

    key: str
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Placed:
    key: str
    top: float  # percent of the column height
    height: float
    left: float  # percent of the column width
    width: float


def day_bounds(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start, end


def hour_range(
    spans: Sequence[Span], zone: ZoneInfo, default: tuple[int, int] = DEFAULT_HOURS
) -> tuple[int, int]:
    """First and last hour the grid shows: the default working day, widened
    to take in every event (each clipped to its day)."""
    first, last = default
    for span in spans:
        start, end = span.start.astimezone(zone), span.end.astimezone(zone)
        first = min(first, start.hour)
        end_hour = end.hour + (1 if end.minute or end.second else 0)
        if end.date() > start.date():
            end_hour = 24
        last = max(last, end_hour)
    return first, max(last, first + 1)


def _minutes_into(value: dt.datetime, day: dt.date, zone: ZoneInfo) -> float:
    # Wall-clock minutes, so a DST day still lines up with the hour labels.
    local = value.astimezone(zone)
    if local.date() < day:
        return 0.0
    if local.date() > day:
        return 24 * 60.0
    return local.hour * 60 + local.minute + local.second / 60


def place_day(
    day: dt.date,
    spans: Sequence[Span],
    zone: ZoneInfo,
    hours: tuple[int, int],
) -> list[Placed]:
    """Boxes for the spans that touch `day`, clipped to the shown hours."""
    lo, hi = hours[0] * 60, hours[1] * 60
    total = hi - lo
    day_start, day_end = day_bounds(day, zone)
    items = []
    for span in spans:
        if span.end <= day_start or span.start >= day_end:
            continue
        top = max(_minutes_into(span.start, day, zone), lo)
        bottom = min(_minutes_into(span.end, day, zone), hi)
        if bottom <= lo or top >= hi:
            continue
        bottom = max(bottom, min(top + MIN_MINUTES, hi))
        items.append((top, bottom, span.key))
    items.sort(key=lambda x: (x[0], -x[1], x[2]))

    placed: list[Placed] = []
    group: list[tuple[float, float, str, int]] = []
    group_end = -1.0

    def flush() -> None:
        lanes = max((g[3] for g in group), default=-1) + 1
        for top, bottom, key, lane in group:
            placed.append(
                Placed(
                    key=key,
                    top=round((top - lo) / total * 100, 4),
                    height=round((bottom - top) / total * 100, 4),
                    left=round(lane / lanes * 100, 4),
                    width=round(100 / lanes, 4),
                )
            )
        group.clear()

    lane_ends: list[float] = []
    for top, bottom, key in items:
        if top >= group_end:
            flush()
            lane_ends = []
        lane = next((i for i, end in enumerate(lane_ends) if end <= top), None)
        if lane is None:
            lane = len(lane_ends)
            lane_ends.append(bottom)
        else:
            lane_ends[lane] = bottom
        group.append((top, bottom, key, lane))
        group_end = max(group_end, bottom)
    flush()
    return placed


def now_line(
    now: dt.datetime, day: dt.date, zone: ZoneInfo, hours: tuple[int, int]
) -> float | None:
    """Percent from the top where the now-line sits in `day`'s column, or
    None when now is not within that day's shown hours."""
    local = now.astimezone(zone)
    if local.date() != day:
        return None
    minute = local.hour * 60 + local.minute
    lo, hi = hours[0] * 60, hours[1] * 60
    if not lo <= minute < hi:
        return None
    return round((minute - lo) / (hi - lo) * 100, 4)


def empty_slots(
    hours: tuple[int, int], step_minutes: int = 30
) -> list[tuple[str, float, float]]:
    """The clickable empty times of a column: (HH:MM, top %, height %)."""
    lo, hi = hours[0] * 60, hours[1] * 60
    total = hi - lo
    return [
        (
            f"{m // 60:02d}:{m % 60:02d}",
            round((m - lo) / total * 100, 4),
            round(step_minutes / total * 100, 4),
        )
        for m in range(lo, hi, step_minutes)
    ]
