"""Working off a connection's ``PushOutbox``: the app's appointments into the
push calendar.

Outbox rows are triggers; the appointment's *current* state decides what
is written (confirmed → present with the current version, cancelled →
absent). So rows are handled per appointment, in one go, and a stale
"upsert" can never resurrect a cancelled appointment.

Crash safety (neither lost nor duplicated):

1. A ``PushedEvent`` row holding the deterministic key is committed before
   the first create is sent.
2. The create asks the provider for that key; if an earlier attempt reached
   the server but its reply (or our commit) was lost, the provider answers
   with the existing event instead of making a second one. Because that
   event may hold an older version, a create retried this way is followed
   by an update.
3. Remote id, etag, version and content hash are committed together with
   the outbox rows' ``done_at`` after the server answered. A crash in
   between leaves the rows due: the retry repeats steps 2–3 (or the next
   pull adopts the event by its key first, see ``reconcile``).

Writes use optimistic concurrency: ``PreconditionFailed`` → read the current
etag and write again (the app is the source of truth); ``NotFound`` on
update → create again; on delete ``NotFound`` means done.

Failures: the rows' ``attempts`` +1, ``next_attempt_at`` = now + 30 s · 2^(n−1)
capped at 1 h (at least ``RateLimited.retry_after``), ``last_error`` in plain
words. They are retried for as long as they fail (a row costs one request
an hour at worst). ``AuthError`` is not the rows' fault and is left to the
engine; ``Transient``/``RateLimited`` stop this round (the server is in
trouble), other errors only fail their own appointment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, select

from coach_app.calendars.base import CalendarProvider, OutgoingEvent
from coach_app.calendars.errors import (
    AuthError,
    NotFound,
    PreconditionFailed,
    ProviderError,
    RateLimited,
    Transient,
)
from coach_app.db import session_scope
from coach_app.models import (
    Appointment,
    PushedEvent,
    PushOutbox,
    utcnow,
)
from coach_app.sync.content import event_hash, event_key, outgoing_event
from coach_app.sync.snapshot import ConnectionSnapshot

log = logging.getLogger(__name__)

BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)
BATCH = 200  # outbox rows per sync; the scheduler comes back for more


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failure."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


@dataclass(frozen=True)
class _Job:
    appointment_id: int
    row_ids: tuple[int, ...]
    attempts: int
    version: int
    present: bool
    pushed_id: int | None
    remote_id: str
    etag: str
    event: OutgoingEvent | None
    retried_create: bool  # a create may already have reached the server


@dataclass
class PushOutcome:
    pushed: int = 0
    # Remote ids of events new on the server (their echo must be consumed).
    created: list[str] = field(default_factory=list)
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    retry_after: float | None = None


async def push_due(
    url: str | None,
    snap: ConnectionSnapshot,
    provider: CalendarProvider,
    clock: Callable[[], dt.datetime] = utcnow,
    checkpoint: Callable[[], Awaitable[None]] | None = None,
) -> PushOutcome:
    """Push the connection's due outbox rows. ``checkpoint`` runs between
    appointments (the engine renews its lease there). ``AuthError``
    propagates."""
    outcome = PushOutcome()
    push_sub = snap.push_sub
    if not snap.connection.push_enabled:
        return outcome
    jobs = await asyncio.to_thread(_load_jobs, url, snap, clock())
    for job in jobs:
        if checkpoint is not None:
            await checkpoint()
        if push_sub is None:
            await asyncio.to_thread(_finish, url, job, None, None, clock())
            continue
        try:
            result = await _apply(provider, push_sub.remote_id, job)
        except AuthError:
            raise
        except ProviderError as exc:
            message = (
                f"An appointment could not be written to “{push_sub.name}”: "
                f"{exc.user_message}"
            )
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            await asyncio.to_thread(_failed, url, job, message, retry_after, clock())
            log.warning("push of appointment %s failed: %s", job.appointment_id, exc)
            outcome.failed += 1
            outcome.errors.append(message)
            if isinstance(exc, RateLimited | Transient):
                outcome.retry_after = retry_after
                break
            continue
        except Exception:  # a bug or bad data: recorded, retried, logged
            log.exception("push of appointment %s failed", job.appointment_id)
            message = (
                f"An appointment could not be written to “{push_sub.name}”. "
                "We will try again."
            )
            await asyncio.to_thread(_failed, url, job, message, None, clock())
            outcome.failed += 1
            outcome.errors.append(message)
            continue
        await asyncio.to_thread(_finish, url, job, *result, clock())
        outcome.pushed += 1
        if result[0] is not None and result[0] != job.remote_id:
            outcome.created.append(result[0])
    return outcome


def _load_jobs(
    url: str | None, snap: ConnectionSnapshot, now: dt.datetime
) -> list[_Job]:
    push_sub = snap.push_sub
    with session_scope(url) as session:
        rows = session.exec(
            select(PushOutbox)
            .where(
                PushOutbox.connection_id == snap.id,
                PushOutbox.done_at.is_(None),  # type: ignore[union-attr]
                PushOutbox.next_attempt_at <= now,
            )
            .order_by(PushOutbox.id)  # type: ignore[arg-type]
            .limit(BATCH)
        ).all()
        grouped: dict[int, list[PushOutbox]] = {}
        for row in rows:
            grouped.setdefault(row.appointment_id, []).append(row)
        return [
            _job(session, appointment_id, group, push_sub.id if push_sub else None)
            for appointment_id, group in grouped.items()
        ]


def _job(
    session: Session, appointment_id: int, rows: list[PushOutbox], sub_id: int | None
) -> _Job:
    appointment = session.get(Appointment, appointment_id)
    present = appointment is not None and appointment.status == "confirmed"
    pushed = (
        session.exec(
            select(PushedEvent).where(
                PushedEvent.appointment_id == appointment_id,
                PushedEvent.sub_calendar_id == sub_id,
            )
        ).first()
        if sub_id is not None
        else None
    )
    retried_create = False
    if present and sub_id is not None:
        if pushed is None:
            # The intent, committed before the create is sent (step 1).
            pushed = PushedEvent(
                appointment_id=appointment_id,
                sub_calendar_id=sub_id,
                key=event_key(appointment_id),
            )
            session.add(pushed)
            session.flush()
        else:
            retried_create = not pushed.remote_id
    event = (
        outgoing_event(session, appointment, pushed.key)
        if present and appointment is not None and pushed is not None
        else None
    )
    return _Job(
        appointment_id=appointment_id,
        row_ids=tuple(r.id for r in rows if r.id is not None),
        attempts=max(r.attempts for r in rows),
        version=appointment.version if appointment else 0,
        present=present,
        pushed_id=pushed.id if pushed else None,
        remote_id=pushed.remote_id if pushed else "",
        etag=pushed.etag if pushed else "",
        event=event,
        retried_create=retried_create,
    )


class _EventGone(Exception):
    """The event to update no longer exists on the server."""


async def _apply(
    provider: CalendarProvider, calendar: str, job: _Job
) -> tuple[str | None, str | None]:
    """Make the server match the app; returns (remote id, etag), or
    (None, None) when the event is now absent."""
    if not job.present:
        if job.remote_id:
            await _delete(provider, calendar, job.remote_id, job.etag)
        return None, None
    event = job.event
    assert event is not None
    if job.remote_id:
        try:
            return job.remote_id, await _update(
                provider, calendar, job.remote_id, event, job.etag
            )
        except _EventGone:
            pass  # deleted meanwhile: create it again
    remote_id, etag = await provider.create(calendar, event, event.key)
    if job.retried_create:
        # The provider may have answered with the event an earlier, crashed
        # attempt made, holding an older version: write the current one.
        try:
            etag = await _update(provider, calendar, remote_id, event, etag or "")
        except _EventGone:
            remote_id, etag = await provider.create(calendar, event, event.key)
    return remote_id, etag


async def _update(
    provider: CalendarProvider,
    calendar: str,
    remote_id: str,
    event: OutgoingEvent,
    etag: str,
) -> str | None:
    """Update with ``etag``, once more with the server's current etag if it
    changed meanwhile (the app wins)."""
    if etag:
        try:
            return await provider.update(calendar, remote_id, event, etag)
        except PreconditionFailed:
            pass
        except NotFound as exc:
            raise _EventGone() from exc
    current = await provider.get(calendar, remote_id)
    if current is None:
        raise _EventGone()
    try:
        # No etag in the reply: "If-Match: *" still refuses to create.
        return await provider.update(calendar, remote_id, event, current.etag or "*")
    except NotFound as exc:
        raise _EventGone() from exc


async def _delete(
    provider: CalendarProvider, calendar: str, remote_id: str, etag: str
) -> None:
    try:
        await provider.delete(calendar, remote_id, etag or None)
        return
    except NotFound:
        return
    except PreconditionFailed:
        pass
    current = await provider.get(calendar, remote_id)
    if current is None:
        return
    try:
        await provider.delete(calendar, remote_id, current.etag)
    except NotFound:
        return


def _finish(
    url: str | None,
    job: _Job,
    remote_id: str | None,
    etag: str | None,
    now: dt.datetime,
) -> None:
    with session_scope(url) as session:
        pushed = session.get(PushedEvent, job.pushed_id) if job.pushed_id else None
        if pushed is not None:
            if remote_id is None:
                session.delete(pushed)
            else:
                assert job.event is not None
                pushed.remote_id = remote_id
                pushed.etag = (etag or "")[:300]
                pushed.pushed_version = job.version
                pushed.content_hash = event_hash(job.event)
                session.add(pushed)
        _mark_rows(session, job, done_at=now, last_error="")


def _failed(
    url: str | None,
    job: _Job,
    message: str,
    retry_after: float | None,
    now: dt.datetime,
) -> None:
    attempts = job.attempts + 1
    delay = backoff(attempts)
    if retry_after is not None:
        delay = max(delay, dt.timedelta(seconds=retry_after))
    with session_scope(url) as session:
        _mark_rows(
            session,
            job,
            attempts=attempts,
            next_attempt_at=now + delay,
            last_error=message[:2000],
        )


def _mark_rows(session: Session, job: _Job, **values: object) -> None:
    session.exec(
        sa.update(PushOutbox)
        .where(
            PushOutbox.id.in_(job.row_ids),  # type: ignore[union-attr]
            PushOutbox.done_at.is_(None),  # type: ignore[union-attr]
        )
        .values(**values)
    )
