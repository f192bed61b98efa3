"""Webhook endpoint on the Reflex backend: ``POST /webhooks/<provider>``.

One route for every provider with push notifications. The provider's spec
reads the request (``spec.push.parse``: headers, query, body; no database);
this module then, for each notification:

1. finds the channel (``WatchChannel``) by our channel id, else by the
   provider's id for it (``resource_id``), else — for a channel whose
   creation is still being answered — by its secret among the channels of
   that provider not yet confirmed; unknown → 404;
2. checks the secret the provider echoes against the channel's with
   ``hmac.compare_digest`` (and the provider's id, once known) → 403 on any
   mismatch; nothing is written and no sync is asked for;
3. a change → ``request_sync(connection_id)``; lifecycle messages: "renew"
   makes the channel due for renewal and syncs (the engine makes a new one,
   then stops this one),
   "removed" forgets it and syncs (the engine makes a new one), "missed"
   syncs. The sync itself runs in this process's ``sync_loop``, never in
   the request. A connection backing off after a connection-wide failure
   (rate limit) is not woken early: the provider's ``Retry-After`` wins.

Handshakes (Graph's validation token) and malformed requests are answered
as the spec says, before any of this. Notifications are hints, not data:
polling stays the backstop.

Mounting: ``with_webhooks`` is an ``api_transformer`` for ``rx.App``: it
puts the route in front of Reflex's own backend app. The public address of
that backend goes into ``COACH_APP_WEBHOOK_BASE_URL``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from coach_app.calendars.registry import UnknownProvider, spec_for
from coach_app.calendars.spec import Notification
from coach_app.db import session_scope
from coach_app.models import CalendarConnection, WatchChannel, utcnow
from coach_app.sync.channels import renew_soon
from coach_app.sync.scheduler import request_sync

log = logging.getLogger(__name__)

PATH = "/webhooks/{provider}"
MAX_BODY = 1_000_000  # bytes; Graph batches notifications, Google sends none


@dataclass(frozen=True)
class _Verdict:
    status: int
    connection_id: int | None = None  # set: sync this connection


def _channel(session: Session, key: str, note: Notification) -> WatchChannel | None:
    ours = select(WatchChannel).join(
        CalendarConnection, CalendarConnection.id == WatchChannel.connection_id
    )
    ours = ours.where(CalendarConnection.provider == key)
    if note.channel_id:
        return session.exec(
            ours.where(WatchChannel.channel_id == note.channel_id)
        ).first()
    if note.resource_id:
        found = session.exec(
            ours.where(WatchChannel.resource_id == note.resource_id)
        ).first()
        if found is not None:
            return found
    pending = session.exec(ours.where(WatchChannel.resource_id == "")).all()
    given = note.token.encode()
    return next(
        (c for c in pending if hmac.compare_digest(given, c.token.encode())), None
    )


def _judge(key: str, note: Notification) -> _Verdict:
    """Authenticate one notification and decide (one short transaction)."""
    with session_scope() as session:
        channel = _channel(session, key, note)
        if channel is None:
            return _Verdict(404)
        if not hmac.compare_digest(note.token.encode(), channel.token.encode()):
            return _Verdict(403)
        if note.resource_id:
            if channel.resource_id and not hmac.compare_digest(
                note.resource_id.encode(), channel.resource_id.encode()
            ):
                return _Verdict(403)
            if not channel.resource_id:
                channel.resource_id = note.resource_id[:300]
                session.add(channel)
        if note.lifecycle == "renew":
            # Due for renewal but still alive: the engine makes a new channel
            # and then stops this one (an expired one would only be forgotten).
            channel.expires_at = renew_soon(channel.expires_at, utcnow())
            session.add(channel)
        elif note.lifecycle == "removed":
            session.exec(sa.delete(WatchChannel).where(WatchChannel.id == channel.id))  # type: ignore[arg-type]
        elif not note.changed and not note.lifecycle:
            return _Verdict(200)  # the channel works; nothing changed
        connection = session.get(CalendarConnection, channel.connection_id)
        if connection is None:
            return _Verdict(200)
        backing_off = (
            connection.sync_failures > 0
            and connection.next_sync_at is not None
            and connection.next_sync_at > utcnow()
        )
        return _Verdict(200, None if backing_off else channel.connection_id)


def _judge_all(key: str, notes: list[Notification]) -> list[_Verdict]:
    return [_judge(key, note) for note in notes]


async def webhook(request: Request) -> Response:
    """``POST /webhooks/<provider>``: see the module docstring."""
    key = request.path_params["provider"]
    try:
        spec = spec_for(key)
    except UnknownProvider:
        return Response(status_code=404)
    if spec.push is None:
        return Response(status_code=404)
    body = await request.body()
    if len(body) > MAX_BODY:
        return Response(status_code=413)
    reply = spec.push.parse(request.headers, request.query_params, body)
    if reply.answer is not None:
        status, content_type, text = reply.answer
        return Response(text, status_code=status, media_type=content_type)
    verdicts = await asyncio.to_thread(_judge_all, key, list(reply.notifications))
    refused = [v.status for v in verdicts if v.status != 200]
    for verdict in verdicts:
        if verdict.connection_id is not None:
            request_sync(verdict.connection_id)
    if refused:
        log.warning("refused %s notification(s): %s", key, refused)
        return Response(status_code=max(refused))
    return Response(status_code=reply.status)


def routes() -> list[BaseRoute]:
    """The webhook route, for any Starlette app."""
    return [Route(PATH, webhook, methods=["POST"])]


def with_webhooks(app: ASGIApp) -> ASGIApp:
    """``rx.App(api_transformer=with_webhooks)``: the webhook route first,
    everything else to Reflex's backend ``app``."""
    return Starlette(routes=[*routes(), Mount("", app=app)])
