"""All state of the Microsoft sandbox, and the Python controls tests use.

One re-entrant lock (``state.lock``) guards everything: the authority, the
fault injector, the request log, the store, delta rounds and
subscriptions. HTTP handlers (on the server's event loop) and the test
thread call in directly; nothing does I/O under the lock: webhook
deliveries go to the delivery thread and the subscription validation
handshake is awaited outside it.

Test controls (plain methods, not HTTP):

* accounts: ``add_account`` (work or personal), ``add_calendar`` (read-only
  with ``can_edit=False``), ``remove_calendar``, ``add_client``,
  ``issue_tokens``;
* "the coach did this in Outlook": ``add_event``, ``update_event``,
  ``move_event``, ``delete_event``, ``update_occurrence``,
  ``move_occurrence``, ``cancel_occurrence``, ``move_to_calendar``; read
  back with ``get_event``, ``events``, ``occurrences``, ``occurrence_id``;
* time: ``advance_clock`` (what stamps events);
* failures: ``revoke`` (with a reason), ``expire_access_tokens``,
  ``evict_delta_tokens``, ``inject_replays``, ``inject_fault`` /
  ``clear_faults`` (``rate_limit`` and ``too_many_requests``: 429
  ``ApplicationThrottled``; ``server_error``: ``status``, 503
  ``serviceNotAvailable`` by default; both with ``Retry-After`` when
  ``retry_after`` is given; ``slow``; ``drop``; under ``/v1.0`` unless
  ``path_prefix`` says otherwise, e.g. ``/organizations/oauth2/v2.0/token``),
  the throttling limits (``throttle_concurrency``,
  ``throttle_requests_per_10_minutes``);
* subscriptions: ``subscriptions()``, ``send_lifecycle``,
  ``max_subscription_minutes``;
* observation: ``request_log()``, ``delivery_log()``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sandbox.common.controls import SandboxControls
from sandbox.common.faults import (
    FaultInjector,
    RequestLog,
)
from sandbox.common.oauth import AccessToken, IssuedTokens
from sandbox.microsoft import errors
from sandbox.microsoft.authority import (
    CONSUMERS_TENANT_ID,
    PERSONAL,
    WORK,
    MicrosoftAuthority,
    short_scope,
)
from sandbox.microsoft.delta import DeltaTracker
from sandbox.microsoft.events import View, occurrence_id, validate_write
from sandbox.microsoft.store import Store
from sandbox.microsoft.subscriptions import (
    Delivery,
    LifecycleEvent,
    Subscription,
    Subscriptions,
)

DEFAULT_CLIENT_ID = "3f6d2f0c-8b3e-4c57-9d2a-c0acc0acc0ac"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"
DEFAULT_SCOPES = ("offline_access", "User.Read", "Calendars.ReadWrite")
READ_SCOPES = frozenset(
    {
        "Calendars.Read",
        "Calendars.ReadBasic",
        "Calendars.ReadWrite",
        "Calendars.Read.Shared",
        "Calendars.ReadWrite.Shared",
    }
)
WRITE_SCOPES = frozenset({"Calendars.ReadWrite", "Calendars.ReadWrite.Shared"})
USER_SCOPES = frozenset({"User.Read", "User.ReadBasic.All", "User.Read.All"})
CONTROL_VIEW = View(immutable=True, expand_ext=())


class MicrosoftSandboxState(SandboxControls):
    """Everything the sandbox knows. Thread-safe; see the module docstring."""

    default_client = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    fault_path_prefix = "/v1.0"

    def __init__(self, base_url: str = "http://127.0.0.1") -> None:
        self.base_url = base_url
        self.lock = threading.RLock()
        self.authority = MicrosoftAuthority(lock=self.lock)
        self.fault_injector = FaultInjector(lock=self.lock)
        self.requests = RequestLog(lock=self.lock)
        self.store = Store(base_url)
        self.delta = DeltaTracker(self.store, base_url)
        self.subs = Subscriptions(self.store, base_url)
        self.store.on_change = self.subs.notify
        # Outlook's documented limits per app and mailbox; None switches off.
        self.throttle_concurrency: int | None = 4
        self.throttle_requests_per_10_minutes: int | None = 10_000
        self._in_flight: dict[tuple[str, str], int] = {}
        self._recent: dict[tuple[str, str], deque[float]] = {}

    # -- views and knobs ----------------------------------------------------------------

    @property
    def max_subscription_minutes(self) -> int:
        return self.subs.max_minutes

    @max_subscription_minutes.setter
    def max_subscription_minutes(self, value: int) -> None:
        self.subs.max_minutes = value

    @property
    def max_delta_tokens_per_calendar(self) -> int:
        return self.delta.max_tokens

    @max_delta_tokens_per_calendar.setter
    def max_delta_tokens_per_calendar(self, value: int) -> None:
        self.delta.max_tokens = value

    # ============================================================ controls: setup

    def add_account(
        self,
        email: str,
        name: str | None = None,
        *,
        kind: Literal["work", "personal"] = WORK,
        time_zone: str = "UTC",
    ) -> str:
        """A work or school (Office 365) or personal (Outlook.com) account with
        its default calendar ("Calendar"); returns the email."""
        with self.lock:
            tenant = (
                self.authority.work_tenant_id if kind == WORK else CONSUMERS_TENANT_ID
            )
            user = self.authority.add_user(email, name, kind=kind, tenant_id=tenant)
            user.kind, user.tenant_id = kind, tenant
            if name:
                user.name = name
            self.store.add_mailbox(user, personal=kind == PERSONAL, time_zone=time_zone)
            return user.email

    def add_calendar(
        self,
        email: str,
        name: str,
        *,
        can_edit: bool = True,
        color: str = "auto",
        hex_color: str = "",
        owner: tuple[str, str] | None = None,
    ) -> str:
        """Another calendar in ``email``'s list; ``can_edit=False`` is a
        read-only one, ``owner`` (name, address) who shared it. Returns its id."""
        with self.lock:
            return self.store.new_calendar(
                email.lower(),
                name,
                can_edit=can_edit,
                color=color,
                hex_color=hex_color,
                owner=owner,
            ).id

    def remove_calendar(self, calendar_id: str) -> None:
        """The owner deleted a (non-default) calendar and its events."""
        with self.lock:
            self.store.remove_calendar(calendar_id)

    def mailboxes_default(self, email: str) -> str:
        """The id of ``email``'s default calendar."""
        with self.lock:
            return self.store.mailboxes[email.lower()].default_calendar

    def calendar_ids(self, email: str) -> list[str]:
        """``email``'s calendars, in the order ``/me/calendars`` lists them."""
        with self.lock:
            return list(self.store.mailboxes[email.lower()].calendars)

    def issue_tokens(
        self,
        email: str,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        tenant: str | None = None,
    ) -> IssuedTokens:
        """Tokens as if ``email`` had consented (skips the browser part)."""
        return self.authority.issue_tokens(
            email,
            client_id=client_id,
            scopes=scopes,
            offline="offline_access" in scopes,
            tenant=tenant,
        )

    # ====================================================== controls: "in Outlook"

    def add_event(self, calendar_id: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """Add an event as its owner would in Outlook; returns it rendered with
        immutable ids. ``start``/``end`` may be aware ``datetime`` or ``date``
        values; ``isCancelled``, ``responseStatus``, ``isOrganizer`` and
        ``originalStartTimeZone`` may be set too."""
        with self.lock:
            body = control_body(event)
            original_zone = body.pop("originalStartTimeZone", None)
            stored = self.store.insert(
                self.store.calendars[calendar_id], body, control=True
            )
            if original_zone:
                stored.start_zone = stored.end_zone = str(original_zone)
            return self.store.render(stored, None, CONTROL_VIEW)

    def update_event(self, event_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change an event, a whole series, or one occurrence (by its id)."""
        with self.lock:
            stored, original = self.store.resolve_any(event_id)
            fields = validate_write(control_body(changes), creating=False, control=True)
            self.store.patch(stored, original, fields, None, control=True)
            return self.store.render(stored, original, CONTROL_VIEW)

    def move_event(
        self, event_id: str, start: datetime | date, end: datetime | date
    ) -> dict[str, Any]:
        return self.update_event(event_id, {"start": start, "end": end})

    def delete_event(self, event_id: str) -> None:
        """Delete an event, a whole series, or one occurrence."""
        with self.lock:
            stored, original = self.store.resolve_any(event_id)
            self.store.delete(stored, original, None)

    def occurrence_id(self, series_id: str, original_start: datetime) -> str:
        """The immutable id of the occurrence of ``series_id`` that originally
        starts at ``original_start``."""
        with self.lock:
            stored, _ = self.store.resolve_any(series_id)
            return occurrence_id(stored.key, original_start.astimezone(UTC))

    def update_occurrence(
        self, series_id: str, original_start: datetime, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self.update_event(self.occurrence_id(series_id, original_start), changes)

    def move_occurrence(
        self, series_id: str, original_start: datetime, start: datetime, end: datetime
    ) -> dict[str, Any]:
        return self.update_occurrence(
            series_id, original_start, {"start": start, "end": end}
        )

    def cancel_occurrence(self, series_id: str, original_start: datetime) -> None:
        self.delete_event(self.occurrence_id(series_id, original_start))

    def move_to_calendar(self, event_id: str, calendar_id: str) -> dict[str, Any]:
        """Move an event or series to another calendar of the same mailbox."""
        with self.lock:
            stored, original = self.store.resolve_any(event_id)
            if original is not None:
                raise ValueError("move the series, not one occurrence")
            moved = self.store.relocate(stored, self.store.calendars[calendar_id])
            return self.store.render(moved, None, CONTROL_VIEW)

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """The event or occurrence as its owner sees it; None if deleted."""
        with self.lock:
            try:
                stored, original = self.store.resolve_any(event_id)
            except errors.GraphError:
                return None
            return self.store.render(stored, original, CONTROL_VIEW)

    def events(self, calendar_id: str) -> list[dict[str, Any]]:
        """Singles and series masters of a calendar (not deleted)."""
        with self.lock:
            cal = self.store.calendars[calendar_id]
            return [
                self.store.render(ev, None, CONTROL_VIEW)
                for ev in cal.events.values()
                if not ev.deleted
            ]

    def occurrences(
        self, calendar_id: str, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """What ``calendarView`` lists for ``[start, end)``."""
        with self.lock:
            cal = self.store.calendars[calendar_id]
            return [
                self.store.render(cal.events[k], o, CONTROL_VIEW)
                for k, o in self.store.view_items(cal, start, end)
            ]

    # ====================================================== controls: failures

    def revoke(
        self,
        token: str | None = None,
        *,
        email: str | None = None,
        reason: str = "password_changed",
    ) -> int:
        """Revoke grants: access tokens get 401, a refresh gets ``invalid_grant``
        with the code of ``reason`` (``inactive`` → AADSTS700082,
        ``password_changed`` → 50173, ``mfa_required`` → 50076,
        ``consent_revoked`` → 65001)."""
        return self.authority.revoke(token, email=email, reason=reason)

    def advance_clock(self, delta: timedelta) -> None:
        """Move the clock that stamps events (``createdDateTime``,
        ``lastModifiedDateTime``) forward: "this happened later"."""
        with self.lock:
            self.store.clock_offset += delta

    def evict_delta_tokens(
        self,
        calendar_id: str | None = None,
        *,
        status: int = 410,
        code: str = "SyncStateNotFound",
        with_location: bool = False,
    ) -> int:
        """Every delta and skip token (of one calendar, or all) now answers
        ``status``/``code``; ``with_location`` adds the ``Location`` of a fresh
        initial request (a synchronization reset)."""
        with self.lock:
            return self.delta.evict(calendar_id, status, code, with_location)

    def inject_replays(self, calendar_id: str, count: int = 1) -> None:
        """The next incremental round of ``calendar_id`` resends ``count``
        unchanged items and one entry twice (documented replays)."""
        with self.lock:
            self.delta.add_replays(calendar_id, count)

    # ==================================================== controls: observation

    def delivery_log(self) -> list[Delivery]:
        with self.lock:
            return list(self.subs.deliveries)

    def subscriptions(self, email: str | None = None) -> list[Subscription]:
        """Active, unexpired subscriptions (copies)."""
        with self.lock:
            now = datetime.now(UTC)
            return [
                copy.copy(s)
                for s in self.subs.by_id.values()
                if s.active
                and s.expiration > now
                and (email is None or s.email == email.lower())
            ]

    def send_lifecycle(self, subscription_id: str, event: LifecycleEvent) -> bool:
        """Send a lifecycle notification (False: no lifecycleNotificationUrl)."""
        with self.lock:
            return self.subs.lifecycle(subscription_id, event)

    # ========================================================== API: access

    def authenticate(self, authorization: str | None) -> AccessToken:
        """The access token of an ``Authorization: Bearer`` header, or 401."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise errors.unauthenticated("Access token is empty.")
        with self.lock:
            access = self.authority.access_tokens.get(value.strip())
            if access is None:
                raise errors.unauthenticated(
                    "IDX14100: JWT is not well formed, there are no dots (.)."
                )
            if access.expires_at <= time.time():
                raise errors.unauthenticated(
                    "Lifetime validation failed, the token is expired."
                )
            if self.authority.lookup_access(access.token) is None:
                raise errors.unauthenticated("The token has been revoked.")
            if access.email not in self.store.mailboxes:
                raise errors.GraphError(
                    404,
                    "MailboxNotEnabledForRESTAPI",
                    "The mailbox is either inactive, soft-deleted, or is hosted "
                    "on-premise.",
                )
            return access

    @staticmethod
    def require(access: AccessToken, allowed: frozenset[str]) -> None:
        if not {short_scope(s) for s in access.scopes} & allowed:
            raise errors.access_denied()

    def admit(self, access: AccessToken) -> tuple[str, str]:
        """Throttle per app and mailbox: more than ``throttle_concurrency``
        requests at once, or ``throttle_requests_per_10_minutes`` in ten
        minutes, answer 429 ``ApplicationThrottled``. Returns the key to
        ``release`` when the request is done."""
        key = (access.client_id, access.email)
        with self.lock:
            now = time.monotonic()
            recent = self._recent.setdefault(key, deque())
            while recent and recent[0] <= now - 600:
                recent.popleft()
            limit = self.throttle_requests_per_10_minutes
            if limit is not None and len(recent) >= limit:
                raise errors.throttled(
                    max(1.0, recent[0] + 600 - now), concurrency=False
                )
            busy = self._in_flight.get(key, 0)
            if (
                self.throttle_concurrency is not None
                and busy >= self.throttle_concurrency
            ):
                raise errors.throttled(1.0)
            recent.append(now)
            self._in_flight[key] = busy + 1
            return key

    def release(self, key: tuple[str, str]) -> None:
        with self.lock:
            self._in_flight[key] = max(0, self._in_flight.get(key, 1) - 1)


def control_body(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event body from test controls: ``datetime``/``date`` start and end
    become ``dateTimeTimeZone`` values (a ``date`` makes an all-day event)."""
    body = dict(event)
    for name in ("start", "end"):
        value = body.get(name)
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("datetimes must be timezone-aware")
            zone_name = getattr(value.tzinfo, "key", None) or "UTC"
            local = value.astimezone(ZoneInfo(zone_name))
            body[name] = {
                "dateTime": local.replace(tzinfo=None).isoformat(),
                "timeZone": zone_name,
            }
        elif isinstance(value, date):
            body[name] = {
                "dateTime": f"{value.isoformat()}T00:00:00",
                "timeZone": "UTC",
            }
            body.setdefault("isAllDay", True)
    return body
