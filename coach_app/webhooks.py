"""Webhook endpoints on the Reflex backend: ``POST /webhooks/google``.

Google's push notifications carry only headers (``X-Goog-Channel-ID``,
``X-Goog-Channel-Token``, ``X-Goog-Resource-ID``, ``X-Goog-Resource-State``
…) and must be answered quickly with 2xx. The endpoint:

1. reads the headers (``parse_notification``); not a notification → 400;
2. finds the channel by ``X-Goog-Channel-ID`` (``WatchChannel``); unknown
   (never ours, or stopped and forgotten) → 404;
3. checks ``X-Goog-Channel-Token`` against the channel's secret with
   ``hmac.compare_digest`` and the resource id against the stored one →
   403 on any mismatch; nothing is written and no sync is asked for;
4. ``sync`` (the channel's first message): 200, nothing to do;
   ``exists``/``not_exists``: ``request_sync(connection_id)`` and 200 at
   once — the sync itself runs in this process's ``sync_loop``, never in
   the request. A connection backing off after a connection-wide failure
   (rate limit) is not woken early: Google's ``Retry-After`` wins, and the
   scheduled sync picks the change up incrementally.

A channel row still without ``resource_id`` (the app crashed before
``watch`` answered, see ``sync.channels``) takes it from its first
authentic notification, so the channel can be stopped later.

Mounting: ``with_webhooks`` is an ``api_transformer`` for ``rx.App``: it
puts these routes in front of Reflex's own backend app. The public address
of that backend goes into ``COACH_APP_WEBHOOK_BASE_URL``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass

from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from coach_app.calendars.google.push import PushNotification, parse_notification
from coach_app.db import session_scope
from coach_app.models import CalendarConnection, WatchChannel, utcnow
from coach_app.sync.scheduler import request_sync

log = logging.getLogger(__name__)

GOOGLE_PATH = "/webhooks/google"
_CHANGED = frozenset({"exists", "not_exists"})


@dataclass(frozen=True)
class _Verdict:
    status: int
    connection_id: int | None = None  # set: sync this connection


def _judge(notification: PushNotification) -> _Verdict:
    """Authenticate the notification and decide (one short transaction)."""
    with session_scope() as session:
        channel = session.exec(
            select(WatchChannel).where(
                WatchChannel.channel_id == notification.channel_id
            )
        ).first()
        if channel is None:
            return _Verdict(404)
        given = (notification.token or "").encode()
        if not hmac.compare_digest(given, channel.token.encode()):
            return _Verdict(403)
        if channel.resource_id and not hmac.compare_digest(
            notification.resource_id.encode(), channel.resource_id.encode()
        ):
            return _Verdict(403)
        if not channel.resource_id:
            channel.resource_id = notification.resource_id[:300]
            session.add(channel)
        if notification.resource_state not in _CHANGED:
            return _Verdict(200)  # "sync": the channel works, nothing changed
        connection = session.get(CalendarConnection, channel.connection_id)
        if connection is None:
            return _Verdict(200)
        backing_off = (
            connection.sync_failures > 0
            and connection.next_sync_at is not None
            and connection.next_sync_at > utcnow()
        )
        return _Verdict(200, None if backing_off else channel.connection_id)


async def google_webhook(request: Request) -> Response:
    """``POST /webhooks/google``: see the module docstring."""
    notification = parse_notification(request.headers)
    if notification is None:
        return Response(status_code=400)
    verdict = await asyncio.to_thread(_judge, notification)
    if verdict.status != 200:
        log.warning(
            "refused Google notification for channel %r: %s",
            notification.channel_id[:80],
            verdict.status,
        )
    if verdict.connection_id is not None:
        request_sync(verdict.connection_id)
    return Response(status_code=verdict.status)


def routes() -> list[BaseRoute]:
    """The webhook routes, for any Starlette app."""
    return [Route(GOOGLE_PATH, google_webhook, methods=["POST"])]


def with_webhooks(app: ASGIApp) -> ASGIApp:
    """``rx.App(api_transformer=with_webhooks)``: the webhook routes first,
    everything else to Reflex's backend ``app``."""
    return Starlette(routes=[*routes(), Mount("", app=app)])
