"""Connected calendars after Connect: switches, calendars, Sync now, Disconnect.

Pages validate, call one function here and render; what a change sets in
motion (a full resync when pulling is switched back on, catching up the
push calendar, stopping push channels …) happens here and in the sync
engine, never in a page. Every write announces the change after commit.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from sqlmodel import Session, col, select

from coach_app import changes
from coach_app.db import session_scope
from coach_app.models import (
    CalendarConnection,
    ExternalEvent,
    PushedEvent,
    PushOutbox,
    SubCalendar,
    SyncCursor,
)
from coach_app.services.errors import Forbidden, UserError
from coach_app.sync.disconnect import Released, release
from coach_app.sync.engine import sync_connection
from coach_app.sync.switches import on_pull_switch, on_push_switch

SWITCHES = (
    "check_conflicts",
    "push_enabled",
    "pull_enabled",
    "cancellation_notification",
)
_SWITCHED = {"pull_enabled": on_pull_switch, "push_enabled": on_push_switch}


def owned(session: Session, coach_id: int, connection_id: int) -> CalendarConnection:
    row = session.get(CalendarConnection, connection_id)
    if row is None or row.coach_id != coach_id:
        raise Forbidden()
    return row


def list_connections(
    session: Session, coach_id: int
) -> list[tuple[CalendarConnection, list[SubCalendar]]]:
    rows = session.exec(
        select(CalendarConnection)
        .where(CalendarConnection.coach_id == coach_id)
        .order_by(CalendarConnection.id)
    ).all()
    out = []
    for row in rows:
        subs = session.exec(
            select(SubCalendar)
            .where(SubCalendar.connection_id == row.id)
            .order_by(SubCalendar.name)
        ).all()
        out.append((row, list(subs)))
    return out


def first_sync_progress(session: Session, connection: CalendarConnection) -> str:
    """While a connection's first sync runs: how far it got, in plain words
    ("" once it has synced). Events are stored a calendar at a time."""
    if connection.last_sync_at is not None or connection.status != "ok":
        return ""
    imported = session.exec(
        select(sa.func.count())
        .select_from(ExternalEvent)
        .join(SubCalendar, col(SubCalendar.id) == ExternalEvent.sub_calendar_id)
        .where(col(SubCalendar.connection_id) == connection.id)
    ).one()
    if not imported:
        return "First sync in progress…"
    return f"First sync in progress: {imported:,} events imported so far…"


def set_switch(
    session: Session, coach_id: int, connection_id: int, switch: str, value: bool
) -> CalendarConnection:
    if switch not in SWITCHES:
        raise UserError("Unknown setting.")
    row = owned(session, coach_id, connection_id)
    follow_up = _SWITCHED.get(switch)
    if follow_up is not None:
        follow_up(session, connection_id, bool(value))  # sets the flag too
    else:
        setattr(row, switch, bool(value))
        session.add(row)
    session.flush()
    changes.announce(session, coach_id)
    return row


def edit_calendars(
    session: Session,
    coach_id: int,
    connection_id: int,
    pull_ids: list[int],
    push_id: int,
) -> None:
    owned(session, coach_id, connection_id)
    subs = session.exec(
        select(SubCalendar).where(SubCalendar.connection_id == connection_id)
    ).all()
    if push_id not in {s.id for s in subs}:
        raise UserError("Please choose the one calendar to push appointments to.")
    for sub in subs:
        newly_pulled = sub.id in pull_ids and not sub.pull
        sub.pull = sub.id in pull_ids
        sub.push = sub.id == push_id
        session.add(sub)
        if newly_pulled:
            session.exec(
                sa.delete(SyncCursor).where(SyncCursor.sub_calendar_id == sub.id)
            )
        if not sub.pull:
            session.exec(
                sa.delete(ExternalEvent).where(ExternalEvent.sub_calendar_id == sub.id)
            )
    session.flush()
    changes.announce(session, coach_id)


def forget(session: Session, coach_id: int, connection_id: int) -> None:
    """Forget the account here (its calendars, events, cursors, queued work)."""
    row = owned(session, coach_id, connection_id)
    sub_ids = select(SubCalendar.id).where(SubCalendar.connection_id == row.id)
    session.exec(
        sa.delete(ExternalEvent).where(ExternalEvent.sub_calendar_id.in_(sub_ids))
    )
    session.exec(sa.delete(SyncCursor).where(SyncCursor.sub_calendar_id.in_(sub_ids)))
    session.exec(sa.delete(PushedEvent).where(PushedEvent.sub_calendar_id.in_(sub_ids)))
    session.exec(sa.delete(PushOutbox).where(PushOutbox.connection_id == row.id))
    session.exec(sa.delete(SubCalendar).where(SubCalendar.connection_id == row.id))
    session.delete(row)
    session.flush()
    changes.announce(session, coach_id)


async def disconnect(
    coach_id: int, connection_id: int, *, remove_pushed: bool = False
) -> Released:
    """Disconnect: stop push channels, remove the appointments pushed to the
    external calendar if the coach asked for it, give the grant back, then
    forget the account here. Network steps are best effort."""
    await asyncio.to_thread(_check_owner, coach_id, connection_id)
    released = await release(connection_id, remove_pushed=remove_pushed)
    await asyncio.to_thread(_forget_now, coach_id, connection_id)
    return released


async def sync_now(coach_id: int, connection_id: int, patience: float = 120.0) -> None:
    """Sync now, or — if a background sync holds the lease — right after it,
    so the coach's click always ends with a sync that started after it."""
    await asyncio.to_thread(_check_owner, coach_id, connection_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    delay = 0.05
    while not (await sync_connection(connection_id)).ran and loop.time() < deadline:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


def _check_owner(coach_id: int, connection_id: int) -> None:
    with session_scope() as session:
        owned(session, coach_id, connection_id)


def _forget_now(coach_id: int, connection_id: int) -> None:
    with session_scope() as session:
        forget(session, coach_id, connection_id)
