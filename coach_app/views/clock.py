"""Times of day and dates as people read them, in 12- or 24-hour form."""

from __future__ import annotations

import datetime as dt

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def clock(value: dt.datetime | dt.time, hour12: bool) -> str:
    """'09:30' or '9:30 am'; noon is '12:00 pm', midnight '12:00 am'."""
    if not hour12:
        return f"{value.hour:02d}:{value.minute:02d}"
    suffix = "am" if value.hour < 12 else "pm"
    return f"{(value.hour - 1) % 12 + 1}:{value.minute:02d} {suffix}"


def long_date(day: dt.date) -> str:
    """'Thursday 5 March 2026'."""
    return f"{DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def short_date(day: dt.date) -> str:
    """'Thu 5 Mar'."""
    return f"{DAYS[day.weekday()][:3]} {day.day} {_MONTHS[day.month - 1][:3]}"


def month_title(first: dt.date) -> str:
    """'March 2026'."""
    return f"{_MONTHS[first.month - 1]} {first.year}"


def utc_offset(zone_now: dt.datetime) -> str:
    """'GMT+05:45' for an aware local time, 'GMT' at zero offset."""
    offset = zone_now.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return "GMT"
    sign = "+" if minutes > 0 else "-"
    minutes = abs(minutes)
    return f"GMT{sign}{minutes // 60:02d}:{minutes % 60:02d}"
