"""A month calendar for the booking page: weeks of day cells, Monday first,
and where the arrow keys move the focus."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from coach_app.views.clock import long_date


@dataclass(frozen=True)
class DayCell:
    iso: str
    day: int  # day of the month
    in_month: bool  # False for the leading/trailing days of other months
    open_count: int  # bookable times that day (0 = not bookable)
    is_today: bool
    label: str  # what a screen reader says: 'Thursday 5 March 2026, 4 times open'


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(first: dt.date, months: int) -> dt.date:
    index = first.year * 12 + first.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _label(day: dt.date, count: int) -> str:
    if count == 0:
        return f"{long_date(day)}, no times open"
    return f"{long_date(day)}, {count} time{'s' if count != 1 else ''} open"


def month_weeks(
    first: dt.date, open_counts: Mapping[dt.date, int], today: dt.date
) -> list[list[DayCell]]:
    """Whole weeks (Monday to Sunday) covering the month of `first`."""
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(
        first.year, first.month
    )
    return [
        [
            DayCell(
                iso=d.isoformat(),
                day=d.day,
                in_month=d.month == first.month,
                open_count=open_counts.get(d, 0) if d.month == first.month else 0,
                is_today=d == today,
                label=_label(d, open_counts.get(d, 0)),
            )
            for d in week
        ]
        for week in weeks
    ]


_STEPS = {"ArrowLeft": -1, "ArrowRight": 1, "ArrowUp": -7, "ArrowDown": 7}


def key_target(day: dt.date, key: str) -> dt.date | None:
    """Where a key moves the focus from `day` (the WAI-ARIA date-grid keys):
    arrows by a day or a week, Home/End to the week's ends, Page Up/Down by
    a month. None for any other key."""
    if key in _STEPS:
        return day + dt.timedelta(days=_STEPS[key])
    if key == "Home":
        return day - dt.timedelta(days=day.weekday())
    if key == "End":
        return day + dt.timedelta(days=6 - day.weekday())
    if key in ("PageUp", "PageDown"):
        target = add_months(first_of_month(day), -1 if key == "PageUp" else 1)
        last = calendar.monthrange(target.year, target.month)[1]
        return target.replace(day=min(day.day, last))
    return None
