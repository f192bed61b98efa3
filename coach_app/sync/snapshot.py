"""What one sync needs to know about a connection, read in one short
transaction before any network I/O.

The snapshot is plain data; every write step re-reads the rows it changes
inside its own transaction, so a switch flipped while the sync talks to the
server is honoured (see ``pull.apply_changes``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from coach_app.models import (
    AppointmentType,
    CalendarConnection,
    Coach,
    ExternalEvent,
    SubCalendar,
    SyncCursor,
)

DEFAULT_HORIZON_DAYS = 90


@dataclass(frozen=True)
class SubSnapshot:
    id: int
    remote_id: str
    name: str
    pull: bool
    push: bool


@dataclass(frozen=True)
class ConnectionSnapshot:
    connection: CalendarConnection  # detached copy, for the provider factory
    coach_id: int
    coach_name: str
    coach_email: str
    coach_timezone: str
    horizon_days: int
    subs: tuple[SubSnapshot, ...]

    @property
    def id(self) -> int:
        assert self.connection.id is not None
        return self.connection.id

    @property
    def push_sub(self) -> SubSnapshot | None:
        return next((s for s in self.subs if s.push), None)

    def stores_events(self, sub: SubSnapshot) -> bool:
        """Are external events of ``sub`` kept (pull switch and the tick)?"""
        return self.connection.pull_enabled and sub.pull

    def subs_to_sync(self) -> list[SubSnapshot]:
        """Pull calendars while pulling is on, and always the push calendar,
        whose changes reveal external deletions and moves of our events."""
        return [s for s in self.subs if self.stores_events(s) or s.push]

    @property
    def attendee_email(self) -> str:
        """Whose PARTSTAT=DECLINED frees an event: the calendar account's
        address when its user name is one, else the coach's login email."""
        username = self.connection.username
        return username if "@" in username else self.coach_email


def horizon_days(session: Session, coach_id: int) -> int:
    longest = session.exec(
        select(sa.func.max(AppointmentType.horizon_days)).where(
            AppointmentType.coach_id == coach_id,
            AppointmentType.active.is_(True),  # type: ignore[attr-defined]
        )
    ).one()
    return int(longest) if longest else DEFAULT_HORIZON_DAYS


def load(session: Session, connection_id: int) -> ConnectionSnapshot | None:
    connection = session.get(CalendarConnection, connection_id)
    if connection is None:
        return None
    coach = session.get(Coach, connection.coach_id)
    assert coach is not None and coach.id is not None
    _drop_unwanted_events(session, connection)
    rows = session.exec(
        select(SubCalendar)
        .where(SubCalendar.connection_id == connection_id)
        .order_by(SubCalendar.id)  # type: ignore[arg-type]
    ).all()
    subs = tuple(
        SubSnapshot(
            id=sub.id,  # type: ignore[arg-type]
            remote_id=sub.remote_id,
            name=sub.name or "your calendar",
            pull=sub.pull,
            push=sub.push,
        )
        for sub in rows
    )
    session.expunge(connection)
    return ConnectionSnapshot(
        connection=connection,
        coach_id=coach.id,
        coach_name=coach.display_name,
        coach_email=coach.email,
        coach_timezone=coach.timezone or "UTC",
        horizon_days=horizon_days(session, coach.id),
        subs=subs,
    )


def _drop_unwanted_events(session: Session, connection: CalendarConnection) -> None:
    """Pulled events of calendars no longer pulled go, whichever path turned
    the switch or the tick off (``on_pull_switch`` does it at once), and the
    first pull that stores them again is a full one."""
    unwanted = select(SubCalendar.id).where(SubCalendar.connection_id == connection.id)
    if connection.pull_enabled:
        unwanted = unwanted.where(SubCalendar.pull.is_(False))  # type: ignore[attr-defined]
    session.exec(
        sa.delete(ExternalEvent).where(
            ExternalEvent.sub_calendar_id.in_(unwanted)  # type: ignore[attr-defined]
        )
    )
    session.exec(
        sa.update(SyncCursor)
        .where(
            SyncCursor.sub_calendar_id.in_(unwanted),  # type: ignore[attr-defined]
            SyncCursor.stored.is_(True),  # type: ignore[attr-defined]
        )
        .values(stored=False)
    )
