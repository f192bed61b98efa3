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
3. In one transaction: replace each changed event's rows (one per
   occurrence, cancelled occurrences dropped), delete the deleted ones,
   hand events carrying our key and deleted ids to ``reconcile.handle``, and
   only then store the new cursor. A crash before the commit re-reads the
   same changes next time.

A full listing reports no deletions: local ids (pulled events and our pushed
events) missing from it are deleted (``sync_helpers.reconcile``). If the
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
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, col, select

from coach_app.calendars.base import CalendarProvider, ChangeSet, RemoteEvent
from coach_app.calendars.dense import Block
from coach_app.calendars.errors import CursorInvalid, MalformedEvent
from coach_app.calendars.ical import BusyTime, CondensedSeries, Occurrence, busy_time
from coach_app.calendars.sync_helpers import WipeRefused, reconcile
from coach_app.db import session_scope
from coach_app.models import (
    CalendarConnection,
    CoachNotice,
    ExternalEvent,
    PushedEvent,
    SubCalendar,
    SyncCursor,
)
from coach_app.sync import reconcile as pushed_events
from coach_app.sync.snapshot import ConnectionSnapshot, SubSnapshot

log = logging.getLogger(__name__)

FULL_RESYNC_AFTER = dt.timedelta(hours=24)
WIPE_CONFIRM_AFTER = dt.timedelta(hours=1)
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
    error: str | None = None  # plain words; local data was kept
    stale: bool = False  # a switch changed meanwhile: result dropped


@dataclass
class _Prepared:
    expanded: dict[str, tuple[RemoteEvent, BusyTime]] = field(default_factory=dict)
    malformed: dict[str, str] = field(default_factory=dict)
    ours: list[RemoteEvent] = field(default_factory=list)


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
) -> PullOutcome:
    """Pull ``sub`` and store the result; provider errors propagate."""
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
    return await asyncio.to_thread(
        apply_changes, url, snap, sub, state.cursor, changes, prepared, now
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
        skipped = _load_skipped(cursor_row.skipped)

        wiped = False
        if changes.full:
            wiped = bool(cursor_row.empty_since) and not changes.changed
            try:
                deleted = _deleted_by_listing(session, sub.id, changes, cursor_row, now)
            except WipeRefused:
                cursor_row.empty_since = cursor_row.empty_since or now
                session.add(cursor_row)
                outcome.error = (
                    f"“{sub.name}” came back empty although Coach App knows "
                    "events in it, so they were kept. If you emptied it on "
                    "purpose, this clears itself within the hour."
                )
                return outcome
            listed = {event.id for event in changes.changed}
            skipped = {k: v for k, v in skipped.items() if k in listed}
        else:
            deleted = list(changes.deleted)
        cursor_row.empty_since = None

        if stores_now:
            seen_before = _condensed_versions(session, sub.id, prepared.expanded)
            _delete_rows(session, sub.id, list(prepared.expanded))
            _add_rows(session, snap, sub.id, prepared.expanded, now)
            _notify_condensed(session, snap, sub, prepared.expanded, seen_before, now)
            for remote_id in prepared.expanded:
                skipped.pop(remote_id, None)
            skipped.update(prepared.malformed)
            outcome.events_changed = bool(prepared.expanded)
        else:
            skipped = {}
        if deleted:
            gone = _delete_rows(session, sub.id, deleted)
            outcome.events_changed = outcome.events_changed or gone > 0
            for remote_id in deleted:
                skipped.pop(remote_id, None)

        handled = pushed_events.handle(
            session, connection, sub_row, prepared.ours, deleted, now, wiped=wiped
        )
        outcome.appointments_changed = handled.appointments_changed
        outcome.notices = handled.notices

        cursor_row.cursor = changes.cursor or ""
        cursor_row.updated_at = now
        cursor_row.stored = stores_now
        if changes.full:
            cursor_row.full_sync_at = now
        cursor_row.skipped = json.dumps(skipped, sort_keys=True) if skipped else ""
        session.add(cursor_row)
    return outcome


def _deleted_by_listing(
    session: Session,
    sub_id: int,
    listing: ChangeSet,
    cursor_row: SyncCursor,
    now: dt.datetime,
) -> list[str]:
    local = set(
        session.exec(
            select(ExternalEvent.remote_id)
            .where(ExternalEvent.sub_calendar_id == sub_id)
            .distinct()
        ).all()
    )
    local.update(
        session.exec(
            select(PushedEvent.remote_id).where(
                PushedEvent.sub_calendar_id == sub_id, PushedEvent.remote_id != ""
            )
        ).all()
    )
    confirmed = (
        cursor_row.empty_since is not None
        and now - cursor_row.empty_since >= WIPE_CONFIRM_AFTER
    )
    return reconcile(local, listing, allow_wipe=confirmed)


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
                        f"“{name[:200]}” in “{sub.name}” repeats {series.every}, "
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
