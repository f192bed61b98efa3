"""Google push notifications (``events.watch``) as the app receives them.

Google POSTs an empty body whose headers say what happened: the first
message of a channel has ``X-Goog-Resource-State: sync`` (nothing changed
yet), later ones ``exists``. The app must check ``X-Goog-Channel-Token``
against the secret it chose for that channel on every call, then pull the
calendar with its sync token; notifications are a hint, not data, and are
not guaranteed, so polling stays as the backstop. Channels are never
renewed: create a new one before ``expiration`` and stop the old one.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class WatchChannel:
    """A channel as ``events.watch`` created it; store all of it."""

    id: str
    resource_id: str
    resource_uri: str | None
    token: str
    expiration: datetime | None
    calendar_id: str


@dataclass(frozen=True)
class PushNotification:
    channel_id: str
    token: str | None
    resource_id: str
    resource_uri: str | None
    resource_state: str  # "sync", "exists" or "not_exists"
    message_number: int | None
    expiration: datetime | None

    @property
    def is_sync(self) -> bool:
        """The handshake sent when the channel starts: nothing to pull yet."""
        return self.resource_state == "sync"


def parse_notification(headers: Mapping[str, str]) -> PushNotification | None:
    """The notification in a webhook request's headers, or None if it is not one.

    ``headers`` may be any case-insensitive mapping (Starlette, httpx) or a
    plain dict with Google's header names.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    channel_id = lowered.get("x-goog-channel-id")
    resource_id = lowered.get("x-goog-resource-id")
    state = lowered.get("x-goog-resource-state")
    if not channel_id or not resource_id or not state:
        return None
    number = lowered.get("x-goog-message-number")
    expiration = None
    if lowered.get("x-goog-channel-expiration"):
        try:
            expiration = parsedate_to_datetime(lowered["x-goog-channel-expiration"])
        except (TypeError, ValueError):
            expiration = None
    return PushNotification(
        channel_id=channel_id,
        token=lowered.get("x-goog-channel-token"),
        resource_id=resource_id,
        resource_uri=lowered.get("x-goog-resource-uri"),
        resource_state=state,
        message_number=int(number) if number and number.isdigit() else None,
        expiration=expiration,
    )


def is_authentic(notification: PushNotification, channel: WatchChannel) -> bool:
    """True when the notification is for ``channel`` and carries its secret token."""
    return (
        notification.channel_id == channel.id
        and notification.resource_id == channel.resource_id
        and notification.token is not None
        and hmac.compare_digest(notification.token.encode(), channel.token.encode())
    )
