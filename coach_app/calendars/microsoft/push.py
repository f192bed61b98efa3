"""Graph change notifications as the app receives them (pure helpers).

* Validation: when a subscription is created Graph POSTs
  ``notificationUrl?validationToken=…``; the answer must be 200,
  ``text/plain`` and the decoded token, within 10 seconds
  (``validation_answer``).
* Notifications: a JSON body ``{"value": [...]}`` with ``subscriptionId``,
  ``clientState`` (the secret we chose), ``changeType`` and ``resourceData``
  — or, for lifecycle notifications, ``lifecycleEvent``
  (``reauthorizationRequired``, ``subscriptionRemoved``, ``missed``).
  Check ``clientState`` on every one (``is_authentic``), answer 2xx within
  3 seconds, and sync afterwards: notifications are hints, polling stays.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class GraphSubscription:
    """A subscription as ``POST /subscriptions`` made it; store all of it.

    ``id`` and ``resource_id`` are both Graph's subscription id (Graph
    chooses it; ``resource_id`` is the name the engine's channel rows use).
    """

    id: str
    resource_id: str
    token: str  # our clientState
    expiration: datetime | None
    calendar_id: str


@dataclass(frozen=True)
class GraphNotification:
    subscription_id: str
    client_state: str | None
    change_type: str | None  # created | updated | deleted
    lifecycle_event: (
        str | None
    )  # reauthorizationRequired | subscriptionRemoved | missed
    resource: str | None
    resource_id: str | None  # the event's id


def validation_answer(query: Mapping[str, str]) -> tuple[int, str, str] | None:
    """``(200, "text/plain", token)`` for a validation request, else None.

    ``query`` is the request's decoded query parameters.
    """
    token = query.get("validationToken")
    if token is None:
        return None
    return 200, "text/plain; charset=utf-8", token


def parse_notifications(body: bytes) -> list[GraphNotification] | None:
    """The notifications in a webhook body; None if it is not one."""
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return None
    items = data.get("value") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        if not isinstance(item, dict) or not item.get("subscriptionId"):
            return None
        resource_data = item.get("resourceData") or {}
        out.append(
            GraphNotification(
                subscription_id=str(item["subscriptionId"]),
                client_state=_text(item.get("clientState")),
                change_type=_text(item.get("changeType")),
                lifecycle_event=_text(item.get("lifecycleEvent")),
                resource=_text(item.get("resource")),
                resource_id=_text(resource_data.get("id"))
                if isinstance(resource_data, dict)
                else None,
            )
        )
    return out


def is_authentic(
    notification: GraphNotification, subscription: GraphSubscription
) -> bool:
    """For ``subscription`` and carrying its ``clientState``."""
    return (
        notification.subscription_id == subscription.id
        and notification.client_state is not None
        and hmac.compare_digest(
            notification.client_state.encode(), subscription.token.encode()
        )
    )


def _text(value: object) -> str | None:
    return str(value) if value is not None else None
