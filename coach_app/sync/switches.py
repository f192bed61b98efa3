"""What the coach's switches and a new connection set in motion.

Each function runs inside the caller's transaction (the one that saves the
switch or the connection) and sets the flag itself; the sync it asks for is
requested only once that transaction commits.

- **Pull** off: pulled events are removed at once. On: every cursor is
  reset, so the next sync is a full listing.
- **Push** on: upcoming appointments are queued so the push calendar
  catches up. Off: nothing is removed from the calendar; queued work waits.
- A new connection: upcoming appointments go to its push calendar too.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session, select

from coach_app.db import after_commit
from coach_app.models import (
    Appointment,
    CalendarConnection,
    ExternalEvent,
    SubCalendar,
    SyncCursor,
    utcnow,
)
from coach_app.sync.reconcile import ensure_push
from coach_app.sync.scheduler import request_sync


def on_pull_switch(session: Session, connection_id: int, enabled: bool) -> None:
    """The coach flipped **Pull Events to Coach Calendar**."""
    connection = session.get(CalendarConnection, connection_id)
    if connection is None:
        return
    connection.pull_enabled = enabled
    connection.next_sync_at = None
    session.add(connection)
    subs = select(SubCalendar.id).where(SubCalendar.connection_id == connection_id)
    if enabled:
        session.exec(
            sa.delete(SyncCursor).where(
                SyncCursor.sub_calendar_id.in_(subs)  # type: ignore[attr-defined]
            )
        )
    else:
        session.exec(
            sa.delete(ExternalEvent).where(
                ExternalEvent.sub_calendar_id.in_(subs)  # type: ignore[attr-defined]
            )
        )
    session.flush()
    sync_after_commit(session, connection_id)


def on_push_switch(session: Session, connection_id: int, enabled: bool) -> None:
    """The coach flipped **Push Events to Connected Calendar**."""
    connection = session.get(CalendarConnection, connection_id)
    if connection is None:
        return
    connection.push_enabled = enabled
    session.add(connection)
    if enabled:
        push_existing_appointments(session, connection_id)
    session.flush()


def push_existing_appointments(
    session: Session, connection_id: int, now: dt.datetime | None = None
) -> int:
    """Queue every upcoming confirmed appointment of the coach for this
    connection; returns how many were queued."""
    now = now or utcnow()
    connection = session.get(CalendarConnection, connection_id)
    if connection is None:
        return 0
    ids = session.exec(
        select(Appointment.id).where(
            Appointment.coach_id == connection.coach_id,
            Appointment.status == "confirmed",
            Appointment.end > now,
        )
    ).all()
    for appointment_id in ids:
        assert appointment_id is not None
        ensure_push(session, appointment_id, connection_id, "upsert", now)
    session.flush()
    return len(ids)


def sync_after_commit(session: Session, connection_id: int) -> None:
    """Sync the connection as soon as the caller's transaction commits."""
    after_commit(
        session, (__name__, connection_id), lambda: request_sync(connection_id)
    )
