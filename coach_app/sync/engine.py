"""One sync of one calendar connection: lease, pull, reconcile, push, status.

``sync_connection`` is provider-neutral: the provider comes from
``providers.provider_for`` and only the shared error classes are caught.

Lease. A conditional ``UPDATE … SET lease_owner, lease_until WHERE id = ? AND
(lease_until IS NULL OR lease_until <= now)`` claims the connection; only the
caller that sees rowcount 1 syncs, any other (thread, process, machine)
skips. On PostgreSQL the second UPDATE waits for the first to commit and
then finds the lease taken; on SQLite writers are serialised by BEGIN
IMMEDIATE. The lease lasts ``LEASE`` (5 min) and is renewed before every
calendar and every pushed appointment, so a slow sync keeps it and a crashed
worker's lease simply runs out. Status is written only by the lease holder.

Phases: pull every relevant calendar (reconciling our pushed events in the
push calendar's pull), push the due outbox, and, if events were created,
pull the push calendar once more to consume their echo (see ``_run``); if
that echo queued push work (it found one of our events changed or deleted
outside), push again, so one sync converges (at most ``PUSH_ROUNDS``);
finally create, renew or stop the connection's push-notification channels
(``channels.maintain_channels``: a cheap check of their expiry, network
only when one is missing or due).
Transactions are short and never span network I/O: snapshot → (network) →
write per calendar → (network) → write per pushed appointment → finish.

Outcome (``CalendarConnection.status`` / ``last_error``, in plain words):

- ``"ok"``: everything synced. ``last_error`` may still say that some
  entries could not be read and were skipped (a warning, not a failure).
- ``"error"``: the server could not be reached or slowed us down
  (``Transient``/``RateLimited``: the whole sync stops), or one calendar or
  appointment failed (the rest went on). Nothing local is removed, so
  booking keeps working on the last known busy times. Connection-wide
  failures back off: the next sync comes after interval · 2^failures (max
  1 h, at least ``retry_after``).
- ``"reconnect"``: ``AuthError`` (password revoked, app-specific password
  invalidated, secret no longer decrypts). The coach is emailed once
  (``reconnect_notified``, cleared when a later sync reaches the server);
  retries back off the same way so a revoked password is not hammered.

``COACH_APP_SYNC_INTERVAL`` (seconds, default 60) is the normal interval.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, col, select

from coach_app import changes
from coach_app.calendars.errors import (
    AuthError,
    NotCalendarServer,
    ProviderError,
    RateLimited,
    Transient,
    UrlNotAllowed,
)
from coach_app.calendars.registry import UnknownProvider, service_label
from coach_app.db import session_scope
from coach_app.models import CalendarConnection, SubCalendar, SyncCursor, utcnow
from coach_app.notify import messages
from coach_app.notify.outbox import enqueue_message
from coach_app.sync import channels, snapshot
from coach_app.sync.providers import provider_for
from coach_app.sync.pull import PullOutcome, pull_calendar
from coach_app.sync.push import PushOutcome, push_due
from coach_app.sync.snapshot import ConnectionSnapshot

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)
PUSH_ROUNDS = 3  # push, read the echo, push what the echo queued (bounded)
MAX_BACKOFF = dt.timedelta(hours=1)
INTERVAL_ENV = "COACH_APP_SYNC_INTERVAL"
DEFAULT_INTERVAL = 60.0
UNEXPECTED = "Something went wrong while syncing this calendar. We will try again."

# Errors about the server or the account as a whole: the sync stops there.
_CONNECTION_ERRORS = (
    AuthError,
    RateLimited,
    Transient,
    UrlNotAllowed,
    NotCalendarServer,
    UnknownProvider,
)


def sync_interval() -> dt.timedelta:
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_INTERVAL
    except ValueError:
        seconds = DEFAULT_INTERVAL
    return dt.timedelta(seconds=max(seconds, 1.0))


def default_owner() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class SyncResult:
    connection_id: int
    ran: bool  # False: another worker holds the lease
    status: str = ""
    error: str = ""
    events_changed: bool = False
    appointments_changed: bool = False
    pushed: int = 0
    push_failures: int = 0
    notices: int = 0


class LeaseLost(Exception):
    """Our lease ran out and another worker took the connection over."""


@dataclass
class _Report:
    auth_error: AuthError | None = None
    connection_error: ProviderError | None = None
    unexpected: bool = False
    lease_lost: bool = False
    retry_after: float | None = None
    errors: list[str] = field(default_factory=list)
    reached_server: bool = False
    events_changed: bool = False
    appointments_changed: bool = False
    notices: int = 0
    pushed: int = 0
    push_failures: int = 0

    def add_pull(self, outcome: PullOutcome) -> None:
        self.reached_server = True
        self.events_changed |= outcome.events_changed
        self.appointments_changed |= outcome.appointments_changed
        self.notices += outcome.notices
        if outcome.error:
            self.errors.append(outcome.error)

    def add_push(self, outcome: PushOutcome) -> None:
        self.pushed += outcome.pushed
        self.push_failures += outcome.failed
        self.reached_server |= outcome.pushed > 0
        self.errors.extend(dict.fromkeys(outcome.errors))  # once each
        if outcome.retry_after is not None:
            self.retry_after = outcome.retry_after


async def sync_connection(
    connection_id: int,
    *,
    url: str | None = None,
    now: dt.datetime | None = None,
    owner: str | None = None,
) -> SyncResult:
    """Sync one connection if no one else is; see the module docstring."""
    clock: Callable[[], dt.datetime] = (lambda: now) if now is not None else utcnow
    owner = (owner or default_owner())[:64]
    claimed = await asyncio.to_thread(_claim, url, connection_id, owner, clock())
    if not claimed:
        return SyncResult(connection_id, ran=False)
    try:
        report, snap = await _run(url, connection_id, owner, clock)
    except BaseException:
        # A cancelled task or a dying worker: give the lease back if we can;
        # otherwise it runs out by itself.
        try:
            await asyncio.to_thread(_release, url, connection_id, owner)
        except BaseException:
            log.warning("could not release the lease of connection %s", connection_id)
        raise
    if snap is None:
        await asyncio.to_thread(_release, url, connection_id, owner)
        return SyncResult(connection_id, ran=True)
    result = await asyncio.to_thread(_finish, url, snap, owner, report, clock())
    if result.events_changed or result.appointments_changed:
        changes.coach_changed(snap.coach_id)  # live pages, push wake-up
    return result


async def _run(
    url: str | None,
    connection_id: int,
    owner: str,
    clock: Callable[[], dt.datetime],
) -> tuple[_Report, ConnectionSnapshot | None]:
    report = _Report()
    snap = await asyncio.to_thread(_load_snapshot, url, connection_id)
    if snap is None:
        return report, None

    async def checkpoint() -> None:
        if not await asyncio.to_thread(_renew, url, connection_id, owner, clock()):
            raise LeaseLost()

    provider = None
    try:
        provider = provider_for(snap.connection, url=url)
        for sub in snap.subs_to_sync():
            await checkpoint()
            try:
                outcome = await pull_calendar(url, snap, sub, provider, clock())
            except _CONNECTION_ERRORS:
                raise
            except ProviderError as exc:
                log.warning("pull of %s failed: %s", sub.remote_id, exc)
                report.errors.append(f"“{sub.name}”: {exc.user_message}")
                continue
            report.add_pull(outcome)
        push_sub = snap.push_sub
        for _ in range(PUSH_ROUNDS):
            pushed = await push_due(url, snap, provider, clock, checkpoint)
            report.add_push(pushed)
            if not (pushed.created and push_sub is not None):
                break
            # Consume the echo of our creates now. Incremental sync reports
            # nothing for an item created *and* deleted after the cursor
            # (RFC 6578 allows it; Xandikos does it), so if the cursor stayed
            # before our create, a later external deletion would go unseen.
            # An event created and deleted before this pull is reported by
            # neither, so creates the echo does not mention are looked up.
            await checkpoint()
            echo = await pull_calendar(
                url, snap, push_sub, provider, clock(), expect=pushed.created
            )
            report.add_pull(echo)
            if not (echo.repushes or echo.appointments_changed):
                break
            # The echo found our events changed outside (a full listing may
            # reveal a deletion): what it queued is pushed in this sync too.
        # Push-notification channels (Google): created, renewed or stopped
        # here, by the lease holder; failures only cost the early wake-up.
        await checkpoint()
        await channels.maintain_channels(url, snap, provider, clock())
    except AuthError as exc:
        log.info("connection %s: credentials rejected: %s", connection_id, exc)
        report.auth_error = exc
    except _CONNECTION_ERRORS as exc:
        log.info("connection %s: sync failed: %s", connection_id, exc)
        report.connection_error = exc
        if isinstance(exc, RateLimited):
            report.retry_after = exc.retry_after
    except LeaseLost:
        log.warning("connection %s: lease lost mid-sync", connection_id)
        report.lease_lost = True
    except Exception:
        log.exception("connection %s: sync failed", connection_id)
        report.unexpected = True
    finally:
        if provider is not None:
            try:
                await provider.aclose()
            except Exception:
                log.warning("closing the provider of %s failed", connection_id)
    return report, snap


# --- database steps (each its own short transaction) -----------------------------


def _claim(url: str | None, connection_id: int, owner: str, now: dt.datetime) -> bool:
    c = CalendarConnection.__table__.c  # type: ignore[attr-defined]
    with session_scope(url) as session:
        claimed = session.exec(
            sa.update(CalendarConnection)
            .where(
                c.id == connection_id,
                sa.or_(c.lease_until.is_(None), c.lease_until <= now),
            )
            .values(lease_owner=owner, lease_until=now + LEASE)
        )
        return claimed.rowcount == 1


def _renew(url: str | None, connection_id: int, owner: str, now: dt.datetime) -> bool:
    c = CalendarConnection.__table__.c  # type: ignore[attr-defined]
    with session_scope(url) as session:
        renewed = session.exec(
            sa.update(CalendarConnection)
            .where(c.id == connection_id, c.lease_owner == owner)
            .values(lease_until=now + LEASE)
        )
        return renewed.rowcount == 1


def _release(url: str | None, connection_id: int, owner: str) -> None:
    c = CalendarConnection.__table__.c  # type: ignore[attr-defined]
    with session_scope(url) as session:
        session.exec(
            sa.update(CalendarConnection)
            .where(c.id == connection_id, c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


def _load_snapshot(url: str | None, connection_id: int) -> ConnectionSnapshot | None:
    with session_scope(url) as session:
        return snapshot.load(session, connection_id)


def _finish(
    url: str | None,
    snap: ConnectionSnapshot,
    owner: str,
    report: _Report,
    now: dt.datetime,
) -> SyncResult:
    with session_scope(url) as session:
        connection = session.get(CalendarConnection, snap.id)
        if connection is None or connection.lease_owner != owner:
            return SyncResult(snap.id, ran=True, status="", error="lease lost")
        failures = connection.sync_failures
        if report.auth_error is not None:
            status, error = "reconnect", report.auth_error.user_message
            failures += 1
            if not connection.reconnect_notified:
                _email_reconnect(session, snap, connection, error, now)
                connection.reconnect_notified = True
        elif report.connection_error is not None or report.unexpected:
            status = "error"
            error = (
                report.connection_error.user_message
                if report.connection_error is not None
                else UNEXPECTED
            )
            failures += 1
        else:
            failures = 0
            status = "error" if report.errors else "ok"
            notes = list(report.errors)
            skipped = _skipped_note(session, snap.id)
            if skipped:
                notes.append(skipped)
            error = " ".join(notes)
            if report.reached_server:
                connection.reconnect_notified = False
        connection.status = status
        connection.last_error = error[:2000]
        connection.last_sync_at = now
        connection.sync_failures = failures
        connection.next_sync_at = now + _delay(failures, report.retry_after)
        connection.lease_owner = None
        connection.lease_until = None
        session.add(connection)
    return SyncResult(
        snap.id,
        ran=True,
        status=status,
        error=error,
        events_changed=report.events_changed,
        appointments_changed=report.appointments_changed,
        pushed=report.pushed,
        push_failures=report.push_failures,
        notices=report.notices,
    )


def _delay(failures: int, retry_after: float | None) -> dt.timedelta:
    interval = sync_interval()
    delay = interval if failures == 0 else min(interval * 2**failures, MAX_BACKOFF)
    if retry_after is not None:
        delay = max(delay, dt.timedelta(seconds=retry_after))
    return delay


def _email_reconnect(
    session: Session,
    snap: ConnectionSnapshot,
    connection: CalendarConnection,
    error: str,
    now: dt.datetime,
) -> None:
    enqueue_message(
        session,
        dedupe_key=f"calendar-connection-{snap.id}:reconnect:{now:%Y%m%dT%H%M%S.%f}",
        to=snap.coach_email,
        message=messages.reconnect_calendar_to_coach(
            coach_name=snap.coach_name,
            service=service_label(connection.provider),
            account_label=connection.account_label,
            error=error,
        ),
    )


def skipped_entries(session: Session, connection_id: int) -> list[str]:
    """Labels of the unreadable entries of the connection's stored calendars."""
    connection = session.get(CalendarConnection, connection_id)
    if connection is None or not connection.pull_enabled:
        return []
    texts = session.exec(
        select(SyncCursor.skipped)
        .join(SubCalendar, col(SubCalendar.id) == SyncCursor.sub_calendar_id)
        .where(
            SubCalendar.connection_id == connection_id,
            SubCalendar.pull.is_(True),  # type: ignore[attr-defined]
            SyncCursor.skipped != "",
        )
    ).all()
    labels: list[str] = []
    for text in texts:
        try:
            labels.extend(sorted(json.loads(text).values()))
        except (ValueError, AttributeError):
            continue
    return labels


def _skipped_note(session: Session, connection_id: int) -> str:
    labels = skipped_entries(session, connection_id)
    if not labels:
        return ""
    shown = ", ".join(labels[:5]) + (", …" if len(labels) > 5 else "")
    if len(labels) == 1:
        return f"1 calendar entry could not be read and was skipped: {shown}"
    return f"{len(labels)} calendar entries could not be read and were skipped: {shown}"
