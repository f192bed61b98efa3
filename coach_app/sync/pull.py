"""Pulling one sub-calendar into ``ExternalEvent`` rows.

Steps (network first, then one short write transaction):

1. Ask for ``changes(calendar, cursor)``. A full listing (``list_all``) is
   used instead when there is no cursor, when the server rejects it
   (``CursorInvalid``), when storing starts (``SyncCursor.stored`` False),
   or when the last full listing is older than ``FULL_RESYNC_AFTER`` (24 h).
   The daily rule exists because recurring events are expanded over
   ``[now − 1 day, now + horizon]`` and an unchanged series is never sent
   again incrementally: the daily full listing slides that window forward.
   It also applies to the push calendar, as a backstop that reconciles our
   pushed events against a complete listing. The horizon is the longest
   booking horizon of the coach's active appointment types (90 days
   without any) plus ``HORIZON_MARGIN`` (3 days: the slot search reaches 2
   days past the horizon, and the window must still cover it 24 h later).
2. Expand each changed event (outside the transaction: parsing is CPU work)
   in the coach's zone. An entry that cannot be read (``MalformedEvent``, or
   any other failure while expanding it) is skipped, remembered in
   ``SyncCursor.skipped`` and reported on the connection, by name, until it
   changes or goes; the rest syncs. A series repeating within a day
   (``FREQ=SECONDLY`` …) is not expanded instance by instance but condensed
   into merged busy blocks (``calendars.dense``): a few rows whose
   ``occurrence`` starts with ``~``, the same slots blocked, and a notice to
   the coach the first time it is seen (or after it changes).
3. In one transaction: read the local copy (``Local``), let ``decide``
   (pure, ``sync/decide.py``) turn it and the changes into a plan, and
   apply it — replace each changed event's rows (one per occurrence,
   cancelled occurrences dropped; blocks for a condensed series), delete
   the deleted ones, react to our pushed events (``reconcile.apply``), and
   only then store the new cursor. A crash before the commit re-reads the
   same changes next time.

A full listing reports no deletions: local ids (pulled events and our pushed
events) missing from it are deleted (``sync_helpers.reconcile``). An empty
full listing stores no cursor: the next pull lists in full again (as cheap
for an empty calendar), so a server that wrongly answered "empty" for a
calendar we hold nothing of cannot hide its events behind the cursor. If the
listing is empty while we hold events (``WipeRefused``) nothing is deleted,
the cursor is not advanced and the error is reported; only when listings are
still empty ``WIPE_CONFIRM_AFTER`` (1 h) later are the deletions applied —
and then our pushed appointments are put back, never cancelled: a server
fault must not cancel every appointment and email every client.

Which calendars: events are stored only for sub-calendars ticked for pull
while the connection's pull switch is on. The push calendar is always
synced (its own cursor) so external deletions and moves of our events are
seen, but its other events are stored only if it is also a pull calendar.

Switches flipped during a sync win: the write step re-reads the switch, the
tick and the cursor, and drops its result (``stale``) if the cursor was reset
meanwhile (``on_pull_switch``) or storing was switched on after the listing
began; the next sync starts over.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, col, select

from coach_app.calendars.base import CalendarProvider, ChangeSet, RemoteEvent
from coach_app.calendars.dense import Block
from coach_app.calendars.errors import CursorInvalid, MalformedEvent
from coach_app.calendars.ical import BusyTime, CondensedSeries, Occurrence, busy_time
from coach_app.calendars.registry import service_label
from coach_app.db import session_scope
from coach_app.models import (
    Appointment,
    CalendarConnection,
    CoachNotice,
    ExternalEvent,
    PushedEvent,
    SubCalendar,
    SyncCursor,
)
from coach_app.sync import reconcile
from coach_app.sync.content import appointment_id_from_key
from coach_app.sync.decide import (
    AppointmentState,
    DeleteEvents,
    HoldEmptyListing,
    Local,
    Plan,
    Pulled,
    PushedState,
    ReplaceEvents,
    SaveCursor,
    decide,
)
from coach_app.sync.snapshot import ConnectionSnapshot, SubSnapshot

log = logging.getLogger(__name__)

FULL_RESYNC_AFTER = dt.timedelta(hours=24)
PAST_WINDOW = dt.timedelta(days=1)
HORIZON_MARGIN = dt.timedelta(days=3)
_CHUNK = 500  # ids per IN (...) list
BLOCK_PREFIX = "~"  # ExternalEvent.occurrence of a condensed series' block


@dataclass
class PullOutcome:
    sub_calendar_id: int
    full: bool = False
    events_changed: bool = False
    appointments_changed: bool = False
    notices: int = 0
    repushes: int = 0  # push work queued for our pushed events
    error: str | None = None  # plain words; local data was kept
    stale: bool = False  # a switch changed meanwhile: result dropped


@dataclass
class _Prepared:
    expanded: dict[str, tuple[RemoteEvent, BusyTime]] = field(default_factory=dict)
    malformed: dict[str, str] = field(default_factory=dict)
    ours: list[RemoteEvent] = field(default_factory=list)
    gone: tuple[str, ...] = ()


def expansion_window(
    snap: ConnectionSnapshot, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    return (
        now - PAST_WINDOW,
        now + dt.timedelta(days=snap.horizon_days) + HORIZON_MARGIN,
    )


@dataclass(frozen=True)
class _CursorState:
    cursor: str  # "" = none
    full_sync_at: dt.datetime | None
    stored: bool


def _read_cursor(url: str | None, sub_id: int) -> _CursorState:
    with session_scope(url) as session:
        row = session.exec(
            select(SyncCursor).where(SyncCursor.sub_calendar_id == sub_id)
        ).first()
        if row is None:
            return _CursorState("", None, False)
        return _CursorState(row.cursor, row.full_sync_at, row.stored)


async def pull_calendar(
    url: str | None,
    snap: ConnectionSnapshot,
    sub: SubSnapshot,
    provider: CalendarProvider,
    now: dt.datetime,
    expect: Collection[str] = (),
) -> PullOutcome:
    """Pull ``sub`` and store the result; provider errors propagate.

    ``expect``: remote ids of events just created in ``sub``. A listing
    that does not mention one of them may have missed it because it was
    created and deleted after the cursor (RFC 6578 and Graph delta allow
    that; EWS does it), or a full listing may have come back empty because
    the coach deleted it: each is looked up, and one that is gone counts as
    deleted (even from an empty listing, which is otherwise held).
    """
    state = await asyncio.to_thread(_read_cursor, url, sub.id)
    stores = snap.stores_events(sub)
    full_due = (stores and not state.stored) or (
        (stores or sub.push)
        and (
            state.full_sync_at is None or now - state.full_sync_at >= FULL_RESYNC_AFTER
        )
    )
    changes: ChangeSet | None = None
    if state.cursor and not full_due:
        try:
            changes = await provider.changes(sub.remote_id, state.cursor)
        except CursorInvalid as exc:
            log.info("%s: cursor rejected, listing in full (%s)", sub.remote_id, exc)
    if changes is None:
        changes = await provider.list_all(sub.remote_id)
    prepared = await asyncio.to_thread(_prepare, snap, stores, changes, now)
    prepared.gone = await _gone(provider, sub.remote_id, changes, expect)
    return await asyncio.to_thread(
        apply_changes, url, snap, sub, state.cursor, changes, prepared, now
    )


async def _gone(
    provider: CalendarProvider,
    calendar: str,
    changes: ChangeSet,
    expect: Collection[str],
) -> tuple[str, ...]:
    """Those of ``expect`` the listing does not mention and a lookup does
    not find."""
    if not expect:
        return ()
    mentioned = {event.id for event in changes.changed} | set(changes.deleted)
    return tuple(
        [
            remote_id
            for remote_id in dict.fromkeys(expect)
            if remote_id not in mentioned
            and await provider.get(calendar, remote_id) is None
        ]
    )


def _prepare(
    snap: ConnectionSnapshot, stores: bool, changes: ChangeSet, now: dt.datetime
) -> _Prepared:
    prepared = _Prepared()
    start, end = expansion_window(snap, now)
    for event in changes.changed:
        if event.coach_key:
            prepared.ours.append(event)
            continue
        if not stores:
            continue
        try:
            found = busy_time(
                event.raw, start, end, snap.coach_timezone, snap.attendee_email
            )
        except MalformedEvent as exc:
            label = event.summary or exc.uid or event.uid or event.id
            prepared.malformed[event.id] = label
            log.warning("skipped unreadable event %s: %s", event.id, exc)
            continue
        except Exception:
            # Whatever one entry does to the parser, the others still sync.
            prepared.malformed[event.id] = event.summary or event.uid or event.id
            log.exception("skipped event %s: expanding it failed", event.id)
            continue
        prepared.expanded[event.id] = (event, found)
    return prepared


def apply_changes(
    url: str | None,
    snap: ConnectionSnapshot,
    sub: SubSnapshot,
    read_cursor: str,
    changes: ChangeSet,
    prepared: _Prepared,
    now: dt.datetime,
) -> PullOutcome:
    outcome = PullOutcome(sub.id, full=changes.full)
    with session_scope(url) as session:
        connection = session.get(CalendarConnection, snap.id)
        sub_row = session.get(SubCalendar, sub.id)
        cursor_row = session.exec(
            select(SyncCursor).where(SyncCursor.sub_calendar_id == sub.id)
        ).first()
        stores_now = bool(connection and sub_row and connection.pull_enabled)
        stores_now = stores_now and bool(sub_row and sub_row.pull)
        if (
            connection is None
            or sub_row is None
            # reset meanwhile (pull switched back on, calendar re-ticked)
            or (cursor_row.cursor if cursor_row else "") != read_cursor
            # storing switched on meanwhile: this result was not expanded,
            # or it is incremental over events never stored
            or (stores_now and not snap.stores_events(sub))
            or (
                stores_now
                and not changes.full
                and not (cursor_row and cursor_row.stored)
            )
        ):
            outcome.stale = True
            return outcome
        if cursor_row is None:
            cursor_row = SyncCursor(sub_calendar_id=sub.id, updated_at=now)
        local = _local(session, snap, sub, connection, sub_row, cursor_row, prepared)
        pulled = Pulled(
            changes=changes,
            expanded=tuple(prepared.expanded),
            malformed=prepared.malformed,
            ours=tuple(prepared.ours),
            gone=prepared.gone,
        )
        plan = decide(local, pulled, now)
        _apply(session, plan, snap, sub, connection, sub_row, cursor_row, prepared, now)
        outcome.events_changed = plan.events_changed
        outcome.appointments_changed = plan.appointments_changed
        outcome.notices = plan.notices
        outcome.repushes = plan.repushes
        outcome.error = plan.error
    return outcome


def _local(
    session: Session,
    snap: ConnectionSnapshot,
    sub: SubSnapshot,
    connection: CalendarConnection,
    sub_row: SubCalendar,
    cursor_row: SyncCursor,
    prepared: _Prepared,
) -> Local:
    """What ``decide`` needs of the local copy, read in the write transaction."""
    event_ids = frozenset(
        session.exec(
            select(ExternalEvent.remote_id)
            .where(ExternalEvent.sub_calendar_id == sub.id)
            .distinct()
        ).all()
    )
    rows = session.exec(
        select(PushedEvent).where(PushedEvent.sub_calendar_id == sub.id)
    ).all()
    pushed = tuple(
        PushedState(p.id, p.appointment_id, p.key, p.remote_id, p.etag, p.content_hash)
        for p in rows
    )
    wanted = {p.appointment_id for p in pushed}
    wanted.update(
        i
        for i in (appointment_id_from_key(e.coach_key) for e in prepared.ours)
        if i is not None
    )
    found = (
        session.exec(
            select(Appointment).where(Appointment.id.in_(sorted(wanted)))  # type: ignore[union-attr]
        ).all()
        if wanted
        else []
    )
    return Local(
        name=sub.name,
        coach_id=snap.coach_id,
        stores=bool(connection.pull_enabled and sub_row.pull),
        push_calendar=sub_row.push,
        push_enabled=connection.push_enabled,
        cancellation_notification=connection.cancellation_notification,
        event_ids=event_ids,
        pushed=pushed,
        appointments={
            a.id: AppointmentState(a.id, a.coach_id, a.status == "confirmed", a.end)
            for a in found
            if a.id is not None
        },
        skipped=_load_skipped(cursor_row.skipped),
        empty_since=cursor_row.empty_since,
    )


def _apply(
    session: Session,
    plan: Plan,
    snap: ConnectionSnapshot,
    sub: SubSnapshot,
    connection: CalendarConnection,
    sub_row: SubCalendar,
    cursor_row: SyncCursor,
    prepared: _Prepared,
    now: dt.datetime,
) -> None:
    """Carry out ``plan`` in the pull's write transaction."""
    assert sub_row.id is not None and connection.id is not None
    for action in plan.actions:
        if isinstance(action, HoldEmptyListing):
            cursor_row.empty_since = action.since
        elif isinstance(action, ReplaceEvents):
            expanded = {i: prepared.expanded[i] for i in action.remote_ids}
            seen_before = _condensed_versions(session, sub_row.id, expanded)
            _delete_rows(session, sub_row.id, list(expanded))
            _add_rows(session, snap, sub_row.id, expanded, now)
            _notify_condensed(session, snap, sub, expanded, seen_before, now)
        elif isinstance(action, DeleteEvents):
            _delete_rows(session, sub_row.id, list(action.remote_ids))
        elif isinstance(action, SaveCursor):
            cursor_row.empty_since = None
            cursor_row.cursor = action.cursor
            cursor_row.updated_at = now
            cursor_row.stored = action.stored
            if action.full:
                cursor_row.full_sync_at = now
            skipped = dict(action.skipped)
            cursor_row.skipped = json.dumps(skipped, sort_keys=True) if skipped else ""
        else:  # our pushed events: recorded, pushed again, cancelled, noticed
            reconcile.apply(session, connection.id, sub_row, (action,), now)
    session.add(cursor_row)


def _delete_rows(session: Session, sub_id: int, remote_ids: list[str]) -> int:
    removed = 0
    for start in range(0, len(remote_ids), _CHUNK):
        result = session.exec(
            sa.delete(ExternalEvent).where(
                col(ExternalEvent.sub_calendar_id) == sub_id,
                ExternalEvent.remote_id.in_(remote_ids[start : start + _CHUNK]),  # type: ignore[attr-defined]
            )
        )
        removed += result.rowcount
    return removed


def _add_rows(
    session: Session,
    snap: ConnectionSnapshot,
    sub_id: int,
    expanded: dict[str, tuple[RemoteEvent, BusyTime]],
    now: dt.datetime,
) -> None:
    """One row per occurrence (cancelled ones are not stored) and one per
    block of a condensed series.

    One multi-row INSERT rather than an ORM object per row: a full listing
    of thousands of events then holds the write lock (and, in-process, the
    interpreter) for a fraction of the time.
    """
    values: list[dict] = []
    for event, found in expanded.values():
        seen: set[str] = set()
        rows = [
            (occ.recurrence_id or "", occ)
            for occ in found.occurrences
            if not occ.cancelled
        ]
        rows += [
            (f"{BLOCK_PREFIX}{block.start:%Y%m%dT%H%M%SZ}", _block_row(series, block))
            for series in found.condensed
            for block in series.blocks
        ]
        for occurrence, occ in rows:
            # Several VEVENTs without RECURRENCE-ID in one resource (against
            # the RFC, but seen) would collide on the unique key.
            base, n = occurrence, 1
            while occurrence in seen:
                occurrence, n = f"{base}~{n}", n + 1
            seen.add(occurrence)
            values.append(
                {
                    "coach_id": snap.coach_id,
                    "sub_calendar_id": sub_id,
                    "remote_id": event.id,
                    "occurrence": occurrence[:64],
                    "uid": (occ.uid or event.uid or "")[:1000],
                    "etag": (event.etag or "")[:300],
                    "summary": occ.summary[:500],
                    "start": occ.start,
                    "end": occ.end,
                    "all_day": occ.all_day,
                    "busy": occ.busy,
                    "updated_at": now,
                }
            )
    session.flush()
    if values:
        session.execute(sa.insert(ExternalEvent.__table__), values)  # type: ignore[attr-defined]


def _block_row(series: CondensedSeries, block: Block) -> Occurrence:
    return Occurrence(
        uid=series.uid,
        recurrence_id=None,
        start=block.start,
        end=block.end,
        all_day=False,
        busy=series.busy,
        summary=series.summary,
    )


def _condensed_versions(
    session: Session,
    sub_id: int,
    expanded: dict[str, tuple[RemoteEvent, BusyTime]],
) -> set[tuple[str, str]]:
    """``(remote id, etag)`` of the condensed series already stored."""
    ids = [rid for rid, (_, found) in expanded.items() if found.condensed]
    known: set[tuple[str, str]] = set()
    for start in range(0, len(ids), _CHUNK):
        known.update(
            session.exec(
                select(ExternalEvent.remote_id, ExternalEvent.etag)
                .where(
                    ExternalEvent.sub_calendar_id == sub_id,
                    ExternalEvent.remote_id.in_(ids[start : start + _CHUNK]),  # type: ignore[attr-defined]
                    ExternalEvent.occurrence.startswith(BLOCK_PREFIX),
                )
                .distinct()
            ).all()
        )
    return known


def _notify_condensed(
    session: Session,
    snap: ConnectionSnapshot,
    sub: SubSnapshot,
    expanded: dict[str, tuple[RemoteEvent, BusyTime]],
    seen_before: set[tuple[str, str]],
    now: dt.datetime,
) -> None:
    """Tell the coach once about a series kept as blocks (again if it changes)."""
    service = service_label(snap.connection.provider)
    for remote_id, (event, found) in expanded.items():
        if (remote_id, (event.etag or "")[:300]) in seen_before:
            continue
        for series in found.condensed:
            if not series.every or not series.blocks:
                continue  # nothing to tell, or nothing stored to recognise it by
            name = series.summary or "An event"
            how = (
                "so Coach App keeps the whole stretch it covers as busy"
                if series.approximate
                else "so Coach App keeps its busy time as merged blocks"
            )
            session.add(
                CoachNotice(
                    coach_id=snap.coach_id,
                    message=(
                        f"“{name[:200]}” in your {service} calendar “{sub.name}” "
                        f"repeats {series.every}, "
                        f"{how}; your calendar shows one entry per block."
                    ),
                    created_at=now,
                )
            )


def _load_skipped(text: str) -> dict[str, str]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
