"""Push-notification channels: the provider tells us when a calendar changed.

Google's ``events.watch`` (the only provider here that has it) POSTs to a
public address whenever a watched calendar changes; ``coach_app.webhooks``
turns that into ``request_sync``. Notifications are hints, not data, and are
not guaranteed, so polling stays as the backstop: a connection without
channels (no public address configured, a failed ``watch``) syncs exactly as
before, only later.

Choices:

* Which calendars: every sub-calendar the engine syncs (``subs_to_sync``:
  the pull calendars while pulling is on, and always the push calendar,
  whose external deletions and moves must be seen). Channels of calendars
  no longer synced are stopped.
* Where: ``COACH_APP_WEBHOOK_BASE_URL`` (e.g. ``https://coach.example.com``,
  the public address of the Reflex backend; Google demands HTTPS) +
  ``/webhooks/<provider>``. Unset: no channels, and any left over are
  stopped. A changed address renews every channel.
* When: during ``sync_connection`` (``maintain_channels``, after pull and
  push, by the lease holder only, so one worker manages a connection's
  channels at a time). A missing channel is created; one is renewed when
  less than ``RENEW_BEFORE`` (6 h, longer than the engine's longest back-off
  of 1 h) — or half its lifetime, if Google granted less than 12 h — is
  left. The engine's clock decides, so tests can travel in time.
* How: Google never renews a channel, so renewal is "create a new one, then
  stop the old" (``channels.stop``), never the other way round: there is no
  gap without notifications. If the new one cannot be made, the old one is
  kept until it expires.
* Crash safety: the row (with the channel id and secret token the app
  chose) is committed *before* ``watch`` is called, so a notification that
  arrives while ``watch`` is still being answered (Google sends ``sync``
  at once) is recognised. A crash between leaves a row without
  ``resource_id``; the webhook fills it in from the first authentic
  notification, so the channel can be stopped later; a row still without it
  after ``PENDING_GRACE`` is dropped (that channel, if it exists, expires
  by itself).
* Failures of ``watch``/``stop`` are logged and never change the
  connection's status: the coach cannot act on them, and polling covers.
  ``RateLimited``/``Transient``/``AuthError`` end this round's channel work.

``stop_channels(connection_id)`` is for Disconnect: call it *before* the
connection row and its tokens are deleted (and before the grant is revoked).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa
from sqlmodel import select

from coach_app.calendars.errors import (
    AuthError,
    ProviderError,
    RateLimited,
    Transient,
)
from coach_app.db import session_scope
from coach_app.models import CalendarConnection, WatchChannel
from coach_app.sync.providers import provider_for
from coach_app.sync.snapshot import ConnectionSnapshot

log = logging.getLogger(__name__)

WEBHOOK_BASE_ENV = "COACH_APP_WEBHOOK_BASE_URL"
WEBHOOK_PATH = "/webhooks/{provider}"
CHANNEL_TTL = dt.timedelta(days=7)
RENEW_BEFORE = dt.timedelta(hours=6)
RENEW_AT_LEAST = dt.timedelta(minutes=10)
PENDING_GRACE = dt.timedelta(minutes=10)
_STOP_ROUND = (RateLimited, Transient, AuthError)


@runtime_checkable
class SupportsWatch(Protocol):
    """A provider with push channels (``GoogleProvider``)."""

    async def watch(
        self,
        calendar: str,
        address: str,
        token: str,
        ttl: dt.timedelta | float = ...,
        *,
        channel_id: str | None = None,
    ) -> Any:
        """Start a channel; the result has ``resource_id`` and ``expiration``."""
        ...

    async def stop_channel(self, channel_id: str, resource_id: str) -> None: ...


def webhook_base_url() -> str:
    """``COACH_APP_WEBHOOK_BASE_URL`` without a trailing slash ("" = off)."""
    return os.environ.get(WEBHOOK_BASE_ENV, "").strip().rstrip("/")


def webhook_address(provider_kind: str) -> str:
    """Where ``provider_kind``'s notifications go ("" when not configured)."""
    base = webhook_base_url()
    return base + WEBHOOK_PATH.format(provider=provider_kind) if base else ""


def renewal_due(
    expires_at: dt.datetime, created_at: dt.datetime, now: dt.datetime
) -> bool:
    """Less than ``RENEW_BEFORE`` (or half the channel's lifetime, but never
    less than ``RENEW_AT_LEAST``) is left."""
    lifetime = max(expires_at - created_at, dt.timedelta(0))
    margin = max(min(RENEW_BEFORE, lifetime / 2), RENEW_AT_LEAST)
    return now >= expires_at - margin


def renew_soon(expires_at: dt.datetime, now: dt.datetime) -> dt.datetime:
    """The expiry that makes a live channel due for renewal at the next sync
    (the provider asked for it): a new one is made, then this one stopped."""
    return min(expires_at, now + RENEW_AT_LEAST / 2)


@dataclass
class ChannelOutcome:
    created: list[str] = field(default_factory=list)  # channel ids
    stopped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # log lines


@dataclass(frozen=True)
class _Row:
    id: int
    sub_calendar_id: int
    channel_id: str
    resource_id: str
    address: str
    expires_at: dt.datetime
    created_at: dt.datetime


async def maintain_channels(
    url: str | None,
    snap: ConnectionSnapshot,
    provider: object,
    now: dt.datetime,
) -> ChannelOutcome:
    """Create missing channels, renew expiring ones, stop unwanted ones.

    Never raises ``ProviderError`` (see the module docstring).
    """
    outcome = ChannelOutcome()
    rows = await asyncio.to_thread(_load_rows, url, snap.id)
    if not isinstance(provider, SupportsWatch):
        if rows:  # e.g. the provider kind changed: nothing can stop them
            await asyncio.to_thread(_delete_rows, url, [r.id for r in rows])
        return outcome
    address = webhook_address(snap.connection.provider)
    wanted = {sub.id: sub for sub in snap.subs_to_sync()} if address else {}

    keep: set[int] = set()
    to_create = []
    for sub_id, sub in wanted.items():
        current = [
            r
            for r in rows
            if r.sub_calendar_id == sub_id
            and r.resource_id
            and r.address == address
            and not renewal_due(r.expires_at, r.created_at, now)
        ]
        if current:
            keep.add(max(current, key=lambda r: r.expires_at).id)
        else:
            to_create.append(sub)

    made: set[int] = set()  # sub-calendars that got a new channel
    stopped_round = False
    for sub in to_create:
        channel_id = uuid.uuid4().hex
        token = secrets.token_urlsafe(32)
        row_id = await asyncio.to_thread(
            _insert_pending, url, snap.id, sub.id, channel_id, token, address, now
        )
        try:
            channel = await provider.watch(
                sub.remote_id, address, token, CHANNEL_TTL, channel_id=channel_id
            )
        except ProviderError as exc:
            await asyncio.to_thread(_delete_rows, url, [row_id])
            outcome.failed.append(f"watch {sub.remote_id}: {exc}")
            log.warning("connection %s: no channel for %s: %s", snap.id, sub.name, exc)
            if isinstance(exc, _STOP_ROUND):
                stopped_round = True
                break
            continue
        expires = channel.expiration or (now + CHANNEL_TTL)
        await asyncio.to_thread(
            _activate, url, row_id, str(channel.resource_id), expires
        )
        made.add(sub.id)
        keep.add(row_id)
        outcome.created.append(channel_id)

    for row in rows:
        if row.id in keep or stopped_round:
            continue
        expired = row.expires_at <= now
        unreplaced = row.sub_calendar_id in wanted and row.sub_calendar_id not in made
        if unreplaced and not expired and row.resource_id and row.address == address:
            continue  # its replacement could not be made: keep it while it lives
        if not row.resource_id:
            if now - row.created_at < PENDING_GRACE and not expired:
                continue  # its watch may still be answered, or named by Google
            await asyncio.to_thread(_delete_rows, url, [row.id])
            continue
        if not expired:
            try:
                await provider.stop_channel(row.channel_id, row.resource_id)
            except ProviderError as exc:
                outcome.failed.append(f"stop {row.channel_id}: {exc}")
                log.warning("connection %s: channel not stopped: %s", snap.id, exc)
                if isinstance(exc, _STOP_ROUND):
                    break
                continue
            outcome.stopped.append(row.channel_id)
        await asyncio.to_thread(_delete_rows, url, [row.id])
    return outcome


async def stop_channels(connection_id: int, *, url: str | None = None) -> int:
    """Stop every channel of a connection and forget them (Disconnect).

    Best effort: a channel the provider refuses to stop (revoked grant,
    network) is forgotten anyway and expires by itself; its notifications
    then find no channel and are answered 404. Returns how many channels
    the provider confirmed stopped. Call it before deleting the connection.
    A sync running at that very moment may still open a channel: it is
    removed with the connection (ON DELETE CASCADE) and expires by itself.
    """
    connection, rows = await asyncio.to_thread(_load_connection, url, connection_id)
    if not rows:
        return 0
    stopped = 0
    provider = None
    try:
        if connection is not None:
            try:
                provider = provider_for(connection, url=url)
            except ProviderError as exc:
                log.info("connection %s: channels not stopped: %s", connection_id, exc)
        if isinstance(provider, SupportsWatch):
            for row in rows:
                if not row.resource_id:
                    continue
                try:
                    await provider.stop_channel(row.channel_id, row.resource_id)
                except ProviderError as exc:
                    log.info("channel %s not stopped: %s", row.channel_id, exc)
                    if isinstance(exc, _STOP_ROUND):
                        break
                    continue
                stopped += 1
    finally:
        if provider is not None:
            try:
                await provider.aclose()
            except Exception:
                log.warning("closing the provider of %s failed", connection_id)
        await asyncio.to_thread(_delete_rows, url, [r.id for r in rows])
    return stopped


# --- database steps (each its own short transaction) -----------------------------


def _rows(session: Any, connection_id: int) -> list[_Row]:
    found = session.exec(
        select(WatchChannel)
        .where(WatchChannel.connection_id == connection_id)
        .order_by(WatchChannel.id)  # type: ignore[arg-type]
    ).all()
    return [
        _Row(
            id=r.id,
            sub_calendar_id=r.sub_calendar_id,
            channel_id=r.channel_id,
            resource_id=r.resource_id,
            address=r.address,
            expires_at=r.expires_at,
            created_at=r.created_at,
        )
        for r in found
    ]


def _load_rows(url: str | None, connection_id: int) -> list[_Row]:
    with session_scope(url) as session:
        return _rows(session, connection_id)


def _load_connection(
    url: str | None, connection_id: int
) -> tuple[CalendarConnection | None, list[_Row]]:
    with session_scope(url) as session:
        connection = session.get(CalendarConnection, connection_id)
        if connection is not None:
            session.expunge(connection)
        return connection, _rows(session, connection_id)


def _insert_pending(
    url: str | None,
    connection_id: int,
    sub_id: int,
    channel_id: str,
    token: str,
    address: str,
    now: dt.datetime,
) -> int:
    with session_scope(url) as session:
        row = WatchChannel(
            connection_id=connection_id,
            sub_calendar_id=sub_id,
            channel_id=channel_id,
            token=token,
            address=address,
            expires_at=now + CHANNEL_TTL,
            created_at=now,
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def _activate(
    url: str | None, row_id: int, resource_id: str, expires_at: dt.datetime
) -> None:
    with session_scope(url) as session:
        session.exec(
            sa.update(WatchChannel)
            .where(WatchChannel.id == row_id)  # type: ignore[arg-type]
            .values(resource_id=resource_id, expires_at=expires_at)
        )


def _delete_rows(url: str | None, row_ids: list[int]) -> None:
    if not row_ids:
        return
    with session_scope(url) as session:
        session.exec(
            sa.delete(WatchChannel).where(
                WatchChannel.id.in_(row_ids)  # type: ignore[union-attr]
            )
        )
