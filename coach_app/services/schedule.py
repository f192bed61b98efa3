"""Weekly working hours and date overrides, and their engine form."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session, select

from coach_app import changes
from coach_app.availability import WorkingHours
from coach_app.models import Coach, DateOverride
from coach_app.models import WorkingHours as HoursRow
from coach_app.services.errors import UserError

DEFAULT_WEEK = {d: [(9 * 60, 17 * 60)] for d in range(5)}


def _minute_to_time(minute: int) -> dt.time:
    return dt.time(0) if minute >= 24 * 60 else dt.time(minute // 60, minute % 60)


def parse_hhmm(text: str) -> int:
    """'09:30' → 570; '24:00' allowed as the end of a day."""
    try:
        hours, minutes = (int(p) for p in str(text).strip().split(":"))
    except ValueError:
        raise UserError(f"“{text}” is not a time like 09:30.") from None
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise UserError(f"“{text}” is not a time like 09:30.")
    return hours * 60 + minutes


def _check_windows(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    for start, end in windows:
        if not 0 <= start < end <= 24 * 60:
            raise UserError("Each period must end after it starts, within one day.")
    ordered = sorted(windows)
    for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
        if start < end:
            raise UserError("Working periods of one day must not overlap.")
    return ordered


def set_weekday(
    session: Session, coach_id: int, weekday: int, windows: list[tuple[int, int]]
) -> None:
    if not 0 <= weekday <= 6:
        raise UserError("Unknown weekday.")
    windows = _check_windows(windows)
    session.exec(
        sa.delete(HoursRow).where(
            HoursRow.coach_id == coach_id, HoursRow.weekday == weekday
        )
    )
    for start, end in windows:
        session.add(
            HoursRow(
                coach_id=coach_id, weekday=weekday, start_minute=start, end_minute=end
            )
        )
    session.flush()
    changes.announce(session, coach_id)


def seed_default_week(session: Session, coach_id: int) -> None:
    for weekday, windows in DEFAULT_WEEK.items():
        set_weekday(session, coach_id, weekday, windows)


def weekly(session: Session, coach_id: int) -> dict[int, list[tuple[int, int]]]:
    rows = session.exec(
        select(HoursRow)
        .where(HoursRow.coach_id == coach_id)
        .order_by(HoursRow.start_minute)
    ).all()
    out: dict[int, list[tuple[int, int]]] = {d: [] for d in range(7)}
    for row in rows:
        out[row.weekday].append((row.start_minute, row.end_minute))
    return out


def set_override(
    session: Session, coach_id: int, day: dt.date, windows: list[tuple[int, int]]
) -> None:
    """Replace the weekly hours on `day`; an empty list makes it a day off."""
    windows = _check_windows(windows)
    clear_override(session, coach_id, day)
    if not windows:
        session.add(DateOverride(coach_id=coach_id, day=day))
    for start, end in windows:
        session.add(
            DateOverride(coach_id=coach_id, day=day, start_minute=start, end_minute=end)
        )
    session.flush()
    changes.announce(session, coach_id)


def clear_override(session: Session, coach_id: int, day: dt.date) -> None:
    session.exec(
        sa.delete(DateOverride).where(
            DateOverride.coach_id == coach_id, DateOverride.day == day
        )
    )
    changes.announce(session, coach_id)


def overrides(
    session: Session, coach_id: int, from_day: dt.date | None = None
) -> dict[dt.date, list[tuple[int, int]]]:
    query = select(DateOverride).where(DateOverride.coach_id == coach_id)
    if from_day is not None:
        query = query.where(DateOverride.day >= from_day)
    out: dict[dt.date, list[tuple[int, int]]] = {}
    for row in session.exec(query.order_by(DateOverride.day)).all():
        windows = out.setdefault(row.day, [])
        if row.start_minute is not None and row.end_minute is not None:
            windows.append((row.start_minute, row.end_minute))
    return out


def working_hours(session: Session, coach: Coach) -> WorkingHours:
    assert coach.id is not None

    def as_times(windows: list[tuple[int, int]]) -> list[tuple[dt.time, dt.time]]:
        return [(_minute_to_time(s), _minute_to_time(e)) for s, e in windows]

    return WorkingHours(
        coach.timezone,
        weekly={d: as_times(w) for d, w in weekly(session, coach.id).items() if w},
        overrides={d: as_times(w) for d, w in overrides(session, coach.id).items()},
    )
