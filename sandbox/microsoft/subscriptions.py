"""Change notifications (subscription resource, change-notifications-
delivery-webhooks, change-notifications-lifecycle-events).

* ``POST /subscriptions`` needs ``changeType`` (created, updated, deleted),
  ``notificationUrl``, ``resource`` (``me/events``,
  ``me/calendars/{id}/events`` or the ``users/{id}/…`` forms) and
  ``expirationDateTime`` — in the future and at most
  ``max_minutes`` (4,230 for Outlook events) ahead. Before it is created,
  Graph POSTs ``notificationUrl?validationToken=…`` (and the same to
  ``lifecycleNotificationUrl``): the endpoint must answer within 10 s with
  200, ``text/plain`` and the decoded token, or the request fails with 400
  ``ValidationError``. ``PATCH`` renews (same limits) and clears a pending
  reauthorization; ``POST …/reauthorize`` only clears it; ``DELETE`` stops.
* A change in a subscribed calendar POSTs ``{"value": [{subscriptionId,
  subscriptionExpirationDateTime, changeType, resource, resourceData:
  {@odata.type, @odata.id, @odata.etag, id}, clientState, tenantId}]}`` to
  ``notificationUrl`` at once (from the delivery thread). Each delivery is
  recorded with its answer and time; Graph wants a 2xx within 3 s.
* Lifecycle notifications go to ``lifecycleNotificationUrl`` on demand
  (``send_lifecycle``): ``reauthorizationRequired`` (the subscription is
  marked until renewed or reauthorized), ``subscriptionRemoved`` (it is
  removed), ``missed``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from sandbox.common.oauth import AccessToken
from sandbox.common.push import PushMessage, PushResult
from sandbox.microsoft import errors
from sandbox.microsoft.events import StoredEvent
from sandbox.microsoft.store import Calendar, Store
from sandbox.microsoft.timezones import fmt_stamp, parse_local

MAX_SUBSCRIPTION_MINUTES = 4230
VALIDATION_TIMEOUT = 10.0
CHANGE_TYPES = ("created", "updated", "deleted")
LifecycleEvent = Literal["reauthorizationRequired", "subscriptionRemoved", "missed"]


@dataclass
class Subscription:
    id: str
    email: str
    client_id: str
    resource: str
    calendar_id: str | None  # None: every calendar of the mailbox
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    created: datetime
    reauthorization_required: bool = False
    active: bool = True


@dataclass(frozen=True)
class Delivery:
    """One webhook call the sandbox made and how it was answered."""

    kind: Literal["validation", "change", "lifecycle"]
    subscription_id: str | None
    url: str
    what: str  # the changeType, the lifecycleEvent, or "validation"
    resource_id: str | None
    body: dict[str, Any] | None
    status_code: int | None
    error: str | None
    elapsed: float
    at: float

    @property
    def ok(self) -> bool:
        """A 2xx within Graph's limit (3 s; 10 s for a validation)."""
        limit = VALIDATION_TIMEOUT if self.kind == "validation" else 3.0
        return (
            self.status_code is not None
            and 200 <= self.status_code < 300
            and self.elapsed <= limit
        )


class Subscriptions:
    def __init__(self, store: Store, base_url: str) -> None:
        self.store = store
        self.base_url = base_url
        self.by_id: dict[str, Subscription] = {}
        self.deliveries: list[Delivery] = []
        self.notifier: Callable[[PushMessage], None] | None = None
        self.max_minutes = MAX_SUBSCRIPTION_MINUTES
        self.validation_timeout = VALIDATION_TIMEOUT
        self.require_https = False

    # -- the API ------------------------------------------------------------------------

    def check(
        self, access: AccessToken, body: dict[str, Any]
    ) -> tuple[str | None, frozenset[str], datetime]:
        """Validate a creation request: (calendar id or None, types, expiry)."""
        for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if not body.get(name):
                raise errors.bad_request(
                    f"Invalid request: the property '{name}' is required.",
                    "InvalidRequest",
                )
        types = frozenset(t.strip() for t in str(body["changeType"]).split(","))
        if not types <= set(CHANGE_TYPES):
            raise errors.bad_request(
                f"Invalid changeType '{body['changeType']}'.", "InvalidRequest"
            )
        for name in ("notificationUrl", "lifecycleNotificationUrl"):
            url = body.get(name)
            if url is None:
                continue
            scheme = str(url).split(":", 1)[0].lower()
            if scheme not in ("http", "https") or (
                self.require_https and scheme != "https"
            ):
                raise errors.bad_request(
                    f"Invalid '{name}': it must be an https URL.", "InvalidRequest"
                )
        state = body.get("clientState")
        if state is not None and (not isinstance(state, str) or len(state) > 128):
            raise errors.bad_request(
                "clientState must be a string of at most 128 characters.",
                "InvalidRequest",
            )
        calendar_id = self._resource(access, str(body["resource"]))
        return calendar_id, types, self._expiration(body["expirationDateTime"])

    def create(
        self,
        access: AccessToken,
        body: dict[str, Any],
        calendar_id: str | None,
        types: frozenset[str],
        expiration: datetime,
    ) -> dict[str, Any]:
        sub = Subscription(
            id=str(uuid.uuid4()),
            email=access.email,
            client_id=access.client_id,
            resource=str(body["resource"]),
            calendar_id=calendar_id,
            change_types=types,
            notification_url=str(body["notificationUrl"]),
            lifecycle_url=body.get("lifecycleNotificationUrl"),
            client_state=body.get("clientState"),
            expiration=expiration,
            created=datetime.now(UTC),
        )
        self.by_id[sub.id] = sub
        return self.render(sub)

    def get(self, access: AccessToken, sub_id: str) -> Subscription:
        sub = self.by_id.get(sub_id)
        if (
            sub is None
            or not self._live(sub)
            or sub.client_id != access.client_id
            or sub.email != access.email
        ):
            raise errors.GraphError(
                404, "ResourceNotFound", f"The object '{sub_id}' doesn't exist."
            )
        return sub

    def listing(self, access: AccessToken) -> list[dict[str, Any]]:
        return [
            self.render(s)
            for s in self.by_id.values()
            if self._live(s)
            and s.client_id == access.client_id
            and s.email == access.email
        ]

    def renew(
        self, access: AccessToken, sub_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        sub = self.get(access, sub_id)
        if "expirationDateTime" in body:
            sub.expiration = self._expiration(body["expirationDateTime"])
        if body.get("notificationUrl"):
            sub.notification_url = str(body["notificationUrl"])
        sub.reauthorization_required = False
        return self.render(sub)

    def render(self, sub: Subscription) -> dict[str, Any]:
        return {
            "@odata.context": f"{self.base_url}/v1.0/$metadata#subscriptions/$entity",
            "id": sub.id,
            "resource": sub.resource,
            "applicationId": sub.client_id,
            "changeType": ",".join(t for t in CHANGE_TYPES if t in sub.change_types),
            "clientState": sub.client_state,
            "notificationUrl": sub.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": sub.lifecycle_url,
            "expirationDateTime": fmt_stamp(sub.expiration),
            "creatorId": self.store.mailboxes[sub.email].object_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }

    @staticmethod
    def validation_token() -> str:
        """An opaque token that needs URL-decoding, like Graph's."""
        return (
            "Validation: Testing client application reachability for "
            f"subscription Request-Id: {uuid.uuid4()}"
        )

    @staticmethod
    def validation_url(url: str, token: str) -> str:
        joiner = "&" if "?" in url else "?"
        return f"{url}{joiner}validationToken={quote(token, safe='')}"

    # -- deliveries ------------------------------------------------------------------

    def notify(self, cal: Calendar, ev: StoredEvent, change: str) -> None:
        """Queue a change notification for every subscription that covers it."""
        box = self.store.mailboxes.get(cal.email)
        if box is None:
            return
        resource = f"Users/{box.object_id}/Events/{ev.rest_id}"
        for sub in self.by_id.values():
            if (
                not self._live(sub)
                or sub.email != cal.email
                or change not in sub.change_types
                or (sub.calendar_id is not None and sub.calendar_id != cal.id)
            ):
                continue
            item = {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": fmt_stamp(sub.expiration),
                "changeType": change,
                "resource": resource,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": resource,
                    "@odata.etag": f'W/"{ev.change_key}"',
                    "id": ev.rest_id,
                },
                "clientState": sub.client_state,
                "tenantId": box.tenant_id,
            }
            self._push(
                sub.notification_url,
                {"value": [item]},
                ("change", sub.id, change, ev.rest_id),
            )

    def lifecycle(self, sub_id: str, event: LifecycleEvent) -> bool:
        sub = self.by_id[sub_id]
        if event == "reauthorizationRequired":
            sub.reauthorization_required = True
        elif event == "subscriptionRemoved":
            sub.active = False
        if not sub.lifecycle_url:
            return False
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": fmt_stamp(sub.expiration),
            "tenantId": self.store.mailboxes[sub.email].tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        self._push(
            sub.lifecycle_url, {"value": [item]}, ("lifecycle", sub.id, event, None)
        )
        return True

    def record(self, result: PushResult) -> None:
        """The delivery thread's report of one POST."""
        (kind, sub_id, what, resource_id), body = result.message.meta
        self.deliveries.append(
            Delivery(
                kind,
                sub_id,
                result.message.address,
                what,
                resource_id,
                body,
                result.status_code,
                result.error,
                result.elapsed,
                result.at,
            )
        )

    def record_validation(self, url: str, result: PushResult) -> None:
        self.deliveries.append(
            Delivery(
                "validation",
                None,
                url,
                "validation",
                None,
                None,
                result.status_code,
                result.error,
                result.elapsed,
                result.at,
            )
        )

    def _push(self, url: str, payload: dict[str, Any], meta: tuple[Any, ...]) -> None:
        if self.notifier is not None:
            self.notifier(
                PushMessage(
                    url,
                    {"Content-Type": "application/json; charset=utf-8"},
                    json.dumps(payload).encode("utf-8"),
                    (meta, payload),
                )
            )

    # -- checks --------------------------------------------------------------------------

    @staticmethod
    def _live(sub: Subscription) -> bool:
        return sub.active and sub.expiration > datetime.now(UTC)

    def _resource(self, access: AccessToken, resource: str) -> str | None:
        parts = [p for p in resource.strip("/").split("/") if p]
        box = self.store.mailboxes[access.email]
        if (
            parts[:1] == ["users"]
            and len(parts) > 1
            and parts[1].lower() in (access.email, box.object_id.lower())
        ):
            parts = ["me", *parts[2:]]
        if [p.lower() for p in parts] == ["me", "events"]:
            return None
        if (
            len(parts) == 4
            and parts[0] == "me"
            and parts[1].lower() == "calendars"
            and parts[3].lower() == "events"
        ):
            return self.store.calendar_of(access.email, parts[2]).id
        raise errors.bad_request(
            f"Resource '{resource}' is not supported for change notifications.",
            "InvalidRequest",
        )

    def _expiration(self, value: Any) -> datetime:
        try:
            moment = parse_local(str(value), "expirationDateTime")
        except errors.GraphError as exc:
            raise errors.bad_request(
                "expirationDateTime is not a valid date.", "InvalidRequest"
            ) from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        if moment <= now:
            raise errors.bad_request(
                "Subscription expiration must be in the future.", "InvalidRequest"
            )
        if moment > now + timedelta(minutes=self.max_minutes):
            raise errors.bad_request(
                f"Subscription expiration can only be {self.max_minutes} minutes "
                "in the future.",
                "InvalidRequest",
            )
        return moment.astimezone(UTC)
