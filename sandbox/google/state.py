"""All state of the Google sandbox, and the Python controls tests use.

One re-entrant lock guards everything: the HTTP handlers (running on the
server's event loop) and the test thread call these methods directly; none
of them does I/O under the lock. Push notifications are handed to
``notifier`` (the server's delivery thread) and sent outside the lock.

Test controls (plain methods, not HTTP):

* accounts: ``add_user``, ``add_client``, ``add_calendar``, ``share_calendar``,
  ``issue_tokens`` (skip the consent page);
* "the coach did this in Google": ``add_event``, ``patch_event``,
  ``move_event``, ``delete_event``, ``move_instance``, ``cancel_instance``;
  read back with ``get_event`` and ``events``;
* failures: ``invalidate_sync_tokens``, ``revoke``, ``expire_access_tokens``,
  ``inject_fault`` / ``clear_faults`` (``rate_limit``: 403 usageLimits with
  ``reason``; ``too_many_requests``: 429; ``server_error``: ``status``, 503
  backendError by default; ``slow``; ``drop``; under ``/calendar/v3`` unless
  ``path_prefix`` says otherwise);
* observation: ``request_log()`` (every HTTP request), ``delivery_log()``
  (every webhook call and its outcome), ``active_channels()``.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from sandbox.common.controls import SandboxControls
from sandbox.common.faults import (
    Fault,
    FaultInjector,
    FaultKind,
    RequestLog,
    RequestRecord,
)
from sandbox.common.oauth import (
    AccessToken,
    AuthCode,
    Grant,
    IssuedTokens,
    OAuthClient,
    OAuthResult,
    PendingAuthorization,
    User,
)
from sandbox.google import errors
from sandbox.google.authority import (
    CALENDAR,
    CALENDAR_READONLY,
    CALENDARLIST,
    CALENDARLIST_READONLY,
    CALENDARS,
    CALENDARS_READONLY,
    EVENTS,
    EVENTS_FREEBUSY,
    EVENTS_READONLY,
    FREEBUSY,
    GoogleAuthority,
)
from sandbox.google.errors import ApiError
from sandbox.google.events import (
    EVENT_ID_RE,
    Calendar,
    StoredEvent,
    deep_merge,
    expand_series,
    find_slot,
    fmt_in,
    fmt_stamp,
    fmt_utc,
    interval,
    overlaps,
    parse_rfc3339,
    render,
    series_in_window,
    sort_key,
    split_instance_id,
    validate_body,
    virtual_instance,
    writable_part,
)
from sandbox.google.recurrence import RecurrenceError, zone

# -- scopes (Google's own list lives with its OAuth server) ---------------

DEFAULT_SCOPES = (CALENDAR_READONLY, EVENTS)

NEED_CALENDAR_LIST = frozenset(
    {CALENDAR, CALENDAR_READONLY, CALENDARLIST, CALENDARLIST_READONLY}
)
NEED_CALENDARS = frozenset({CALENDAR, CALENDAR_READONLY, CALENDARS, CALENDARS_READONLY})
NEED_READ_EVENTS = frozenset({CALENDAR, CALENDAR_READONLY, EVENTS, EVENTS_READONLY})
NEED_WRITE_EVENTS = frozenset({CALENDAR, EVENTS})
NEED_FREEBUSY = frozenset({CALENDAR, CALENDAR_READONLY, FREEBUSY, EVENTS_FREEBUSY})

DEFAULT_CLIENT_ID = "coach-app-sandbox.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"

DEFAULT_CHANNEL_TTL = timedelta(days=7)
MAX_CHANNEL_TTL = timedelta(days=30)
ROLE_RANK = {"freeBusyReader": 0, "reader": 1, "writer": 2, "owner": 3}
FORBIDDEN_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
_BASE32HEX = "0123456789abcdefghijklmnopqrstuv"

# Re-exported for code that imported them from here.
__all__ = [
    "AccessToken",
    "AuthCode",
    "Channel",
    "Delivery",
    "Fault",
    "FaultKind",
    "GoogleSandboxState",
    "Grant",
    "IssuedTokens",
    "Notification",
    "OAuthClient",
    "OAuthResult",
    "PendingAuthorization",
    "RequestRecord",
    "User",
    "instance_id",
]

# -- records -----------------------------------------------------------------


@dataclass
class Channel:
    id: str
    resource_id: str
    resource_uri: str
    calendar_id: str
    email: str
    client_id: str
    address: str
    token: str | None
    expiration_ms: int
    number: int = 0
    active: bool = True


@dataclass(frozen=True)
class Notification:
    """One webhook call to make (built under the lock, sent outside it)."""

    channel_id: str
    address: str
    headers: dict[str, str]
    message_number: int
    resource_state: str


@dataclass
class Delivery:
    channel_id: str
    message_number: int
    resource_state: str
    status_code: int | None
    error: str | None
    headers: dict[str, str]


@dataclass
class _Page:
    email: str
    scope_key: str  # calendar id, or "calendarList"
    items: list[dict[str, Any]]
    tail: dict[str, Any]  # nextSyncToken etc. for the last page
    head: dict[str, Any]  # the envelope fields of every page


# -- the state ---------------------------------------------------------------


class GoogleSandboxState(SandboxControls):
    """Everything the sandbox knows. Thread-safe; see the module docstring."""

    default_client = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    fault_path_prefix = "/calendar/v3"
    fault_reason = "rateLimitExceeded"

    def __init__(self, base_url: str = "http://127.0.0.1") -> None:
        self.base_url = base_url
        self._lock = threading.RLock()
        self.authority = GoogleAuthority(lock=self._lock)
        self.fault_injector = FaultInjector(lock=self._lock)
        self.requests = RequestLog(lock=self._lock)
        self.calendars: dict[str, Calendar] = {}
        self.channels: dict[str, Channel] = {}
        self.deliveries: list[Delivery] = []
        self.notifier: Callable[[Notification], None] | None = None
        # Google requires an HTTPS webhook with a valid certificate; loopback
        # tests cannot have one, so the sandbox accepts http unless told not to.
        self.require_https_webhooks = False
        self._sync_tokens: dict[str, tuple[str, int]] = {}
        self._pages: dict[str, _Page] = {}
        self._etag_counter = int(time.time() * 1000) * 1000

    # OAuth records live in the shared authority; these are views of them.
    @property
    def clients(self) -> dict[str, OAuthClient]:
        return self.authority.clients

    @property
    def access_tokens(self) -> dict[str, AccessToken]:
        return self.authority.access_tokens

    # ------------------------------------------------------------------ time

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    def _next_etag(self) -> str:
        self._etag_counter += 1
        return f'"{self._etag_counter}"'

    # ------------------------------------------------------- controls: setup

    def add_user(
        self, email: str, name: str | None = None, *, time_zone: str = "UTC"
    ) -> str:
        """A Google account with its primary calendar (id = email); returns it."""
        with self._lock:
            email = email.lower()
            self.users[email] = User(email, name or email.split("@")[0].title())
            if email not in self.calendars:
                self._new_calendar(email, email, email, time_zone)
            return email

    def add_calendar(
        self,
        owner: str,
        summary: str,
        *,
        calendar_id: str | None = None,
        time_zone: str | None = None,
        description: str = "",
        background_color: str = "#9fe1e7",
    ) -> str:
        """A secondary calendar owned by ``owner``; returns its id."""
        with self._lock:
            owner = owner.lower()
            if owner not in self.users:
                raise KeyError(f"unknown sandbox user {owner}")
            cal_id = (
                calendar_id or f"c_{secrets.token_hex(16)}@group.calendar.google.com"
            )
            tz = time_zone or self.calendars[owner].time_zone
            cal = self._new_calendar(cal_id, summary, owner, tz)
            cal.description = description
            cal.background_color = background_color
            return cal_id

    def share_calendar(self, calendar_id: str, email: str, role: str) -> None:
        """Give ``email`` ``role`` (owner, writer, reader, freeBusyReader)."""
        if role not in ROLE_RANK:
            raise ValueError(f"unknown access role {role}")
        with self._lock:
            self.calendars[calendar_id].acl[email.lower()] = role

    def remove_calendar(self, calendar_id: str) -> None:
        with self._lock:
            self.calendars.pop(calendar_id, None)
            for key in [k for k, v in self._sync_tokens.items() if v[0] == calendar_id]:
                del self._sync_tokens[key]

    def issue_tokens(
        self,
        email: str,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        offline: bool = True,
    ) -> IssuedTokens:
        """Tokens as if ``email`` had consented (skips the browser part)."""
        return self.authority.issue_tokens(
            email, client_id=client_id, scopes=scopes, offline=offline
        )

    # ---------------------------------------------- controls: "in Google"

    def add_event(self, calendar_id: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """Insert an event as the calendar's owner would in Google's UI.

        ``event`` is an Event resource (``start``/``end`` may hold
        ``datetime``/``date`` objects as a convenience). Returns it rendered.
        """
        with self._lock:
            cal = self.calendars[calendar_id]
            stored = self._insert(cal, _jsonable(dict(event)), actor=cal.owner)
            return self._render(stored.data, cal, cal.owner)

    def patch_event(
        self, calendar_id: str, event_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change fields of an event (or of one instance of a series)."""
        with self._lock:
            cal = self.calendars[calendar_id]
            data = self._write(
                cal, event_id, _jsonable(dict(changes)), patch=True, if_match=None
            )
            return self._render(data, cal, cal.owner)

    def move_event(
        self,
        calendar_id: str,
        event_id: str,
        start: datetime | date,
        end: datetime | date,
    ) -> dict[str, Any]:
        """Move an event (or one instance, by its instance id)."""
        return self.patch_event(
            calendar_id, event_id, {"start": _when(start), "end": _when(end)}
        )

    def move_instance(
        self,
        calendar_id: str,
        master_id: str,
        original_start: datetime | date,
        start: datetime | date,
        end: datetime | date,
    ) -> dict[str, Any]:
        """Move one instance of a series: Google stores an exception."""
        return self.move_event(
            calendar_id, instance_id(master_id, original_start), start, end
        )

    def cancel_instance(
        self, calendar_id: str, master_id: str, original_start: datetime | date
    ) -> None:
        """Delete one instance of a series: Google stores a cancelled exception."""
        self.delete_event(calendar_id, instance_id(master_id, original_start))

    def delete_event(self, calendar_id: str, event_id: str) -> None:
        with self._lock:
            self._delete(self.calendars[calendar_id], event_id, if_match=None)

    def get_event(self, calendar_id: str, event_id: str) -> dict[str, Any] | None:
        """The event as its owner sees it (deleted ones have status cancelled)."""
        with self._lock:
            cal = self.calendars[calendar_id]
            try:
                data = self._resolve(cal, event_id)
            except ApiError:
                return None
            return self._render(data, cal, cal.owner)

    def events(
        self, calendar_id: str, *, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """Stored events (masters, singles, exceptions) as their owner sees them."""
        with self._lock:
            cal = self.calendars[calendar_id]
            return [
                self._render(e.data, cal, cal.owner)
                for e in cal.events.values()
                if include_deleted or not e.cancelled
            ]

    # ------------------------------------------------- controls: failures

    def invalidate_sync_tokens(self, calendar_id: str | None = None) -> None:
        """Every sync token (of one calendar, or all) now answers 410 Gone."""
        with self._lock:
            for key, (cal_id, _) in list(self._sync_tokens.items()):
                if calendar_id is None or cal_id == calendar_id:
                    del self._sync_tokens[key]

    def revoke(self, token: str | None = None, *, email: str | None = None) -> int:
        """Revoke the grant of a refresh/access token, or all grants of a user.

        Afterwards its access tokens get 401 and a refresh gets ``invalid_grant``.
        Returns how many grants were revoked.
        """
        return self.authority.revoke(token, email=email)

    def take_fault(self, path: str, method: str = "GET") -> Fault | None:
        return self.fault_injector.take(path, method)

    def delivery_log(self) -> list[Delivery]:
        """A copy of every webhook delivery attempted so far."""
        with self._lock:
            return list(self.deliveries)

    def record_request(self, method: str, path: str, query: str) -> None:
        self.requests.record(method, path, query)

    def record_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)

    def active_channels(self, calendar_id: str | None = None) -> list[Channel]:
        with self._lock:
            now_ms = int(time.time() * 1000)
            return [
                copy.copy(c)
                for c in self.channels.values()
                if c.active
                and c.expiration_ms > now_ms
                and (calendar_id is None or c.calendar_id == calendar_id)
            ]

    # ========================================================= API: access

    def authenticate(self, authorization: str | None) -> AccessToken:
        """The access token of an ``Authorization: Bearer`` header, or 401."""
        with self._lock:
            if not authorization:
                raise errors.unauthorized(missing=True)
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise errors.unauthorized()
            access = self.authority.lookup_access(value.strip())
            if access is None:
                raise errors.unauthorized()
            return access

    @staticmethod
    def require(access: AccessToken, allowed: frozenset[str]) -> None:
        if not allowed & set(access.scopes):
            raise errors.insufficient_scopes()

    def _calendar_for(
        self, email: str, ref: str, *, write: bool = False, events: bool = True
    ) -> tuple[Calendar, str]:
        cal = self.calendars.get(email if ref == "primary" else ref)
        role = cal.acl.get(email) if cal is not None else None
        if cal is None or role is None:
            raise errors.not_found()
        if events and role == "freeBusyReader":
            raise ApiError(403, "forbidden", "Forbidden")
        if write and ROLE_RANK[role] < ROLE_RANK["writer"]:
            raise errors.writer_required()
        return cal, role

    # ================================================== API: calendar list

    def calendar_list(
        self, access: AccessToken, params: Mapping[str, str]
    ) -> dict[str, Any]:
        with self._lock:
            self.require(access, NEED_CALENDAR_LIST)
            if params.get("syncToken"):
                raise errors.bad_request(
                    "syncToken is not supported for calendarList by the sandbox.",
                    param="syncToken",
                )
            size = _max_results(params, default=100, cap=250)
            email = access.email
            if params.get("pageToken"):
                return self._next_page(params["pageToken"], email, "calendarList", size)
            floor = params.get("minAccessRole")
            if floor is not None and floor not in ROLE_RANK:
                raise errors.bad_request("Invalid Value", param="minAccessRole")
            show_hidden = params.get("showHidden") == "true"
            entries = [
                self._list_entry(cal, email)
                for cal in self.calendars.values()
                if email in cal.acl
                and (floor is None or ROLE_RANK[cal.acl[email]] >= ROLE_RANK[floor])
                and (show_hidden or email not in cal.hidden_for)
            ]
            entries.sort(key=lambda e: not e.get("primary", False))
            head = {"kind": "calendar#calendarList", "etag": self._next_etag()}
            return self._paginate(email, "calendarList", entries, size, head, {})

    def calendar_list_entry(self, access: AccessToken, ref: str) -> dict[str, Any]:
        with self._lock:
            self.require(access, NEED_CALENDAR_LIST)
            cal, _ = self._calendar_for(access.email, ref, events=False)
            return self._list_entry(cal, access.email)

    def calendar_get(self, access: AccessToken, ref: str) -> dict[str, Any]:
        with self._lock:
            self.require(access, NEED_CALENDARS)
            cal, _ = self._calendar_for(access.email, ref, events=False)
            out: dict[str, Any] = {
                "kind": "calendar#calendar",
                "etag": cal.etag,
                "id": cal.id,
                "summary": cal.summary,
                "timeZone": cal.time_zone,
                "conferenceProperties": {
                    "allowedConferenceSolutionTypes": ["hangoutsMeet"]
                },
            }
            if cal.description:
                out["description"] = cal.description
            return out

    def _list_entry(self, cal: Calendar, email: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "kind": "calendar#calendarListEntry",
            "etag": cal.etag,
            "id": cal.id,
            "summary": cal.summary,
            "timeZone": cal.time_zone,
            "colorId": cal.color_id,
            "backgroundColor": cal.background_color,
            "foregroundColor": cal.foreground_color,
            "selected": True,
            "accessRole": cal.acl[email],
            "defaultReminders": [],
            "conferenceProperties": {
                "allowedConferenceSolutionTypes": ["hangoutsMeet"]
            },
        }
        if cal.description:
            entry["description"] = cal.description
        if email in cal.hidden_for:
            entry["hidden"] = True
        if cal.id == email:
            entry["primary"] = True
        return entry

    # ========================================================== API: events

    def list_events(
        self,
        access: AccessToken,
        ref: str,
        params: Mapping[str, str],
        multi: Mapping[str, list[str]],
    ) -> dict[str, Any]:
        """``events.list``; ``multi`` holds repeated parameters (extended properties)."""
        with self._lock:
            self.require(access, NEED_READ_EVENTS)
            cal, role = self._calendar_for(access.email, ref)
            size = _max_results(params, default=250, cap=2500)
            if params.get("pageToken"):
                return self._next_page(params["pageToken"], access.email, cal.id, size)
            out_zone = _out_zone(params)
            single = params.get("singleEvents") == "true"
            sync_token = params.get("syncToken")
            if sync_token:
                for name in FORBIDDEN_WITH_SYNC_TOKEN:
                    if params.get(name) or multi.get(name):
                        raise errors.bad_request(
                            f"The {name} parameter cannot be combined with syncToken.",
                            param=name,
                        )
                known = self._sync_tokens.get(sync_token)
                if known is None or known[0] != cal.id:
                    raise errors.full_sync_required()
                items = self._changed_since(cal, known[1], single)
            else:
                items = self._full_listing(cal, params, multi, single)
            rendered = [
                render(
                    data,
                    cal,
                    viewer=access.email,
                    base_url=self.base_url,
                    zone=out_zone,
                    minimal_if_cancelled=True,
                )
                for data in items
            ]
            head = {
                "kind": "calendar#events",
                "etag": cal.etag,
                "summary": cal.summary,
                "updated": fmt_stamp(self.now()),
                "timeZone": cal.time_zone,
                "accessRole": role,
                "defaultReminders": [],
            }
            if cal.description:
                head["description"] = cal.description
            token = "CP" + secrets.token_urlsafe(24)
            self._sync_tokens[token] = (cal.id, cal.seq)
            return self._paginate(
                access.email, cal.id, rendered, size, head, {"nextSyncToken": token}
            )

    def _full_listing(
        self,
        cal: Calendar,
        params: Mapping[str, str],
        multi: Mapping[str, list[str]],
        single: bool,
    ) -> list[dict[str, Any]]:
        lo = (
            parse_rfc3339(params["timeMin"], "timeMin")
            if params.get("timeMin")
            else None
        )
        hi = (
            parse_rfc3339(params["timeMax"], "timeMax")
            if params.get("timeMax")
            else None
        )
        if lo is not None and hi is not None and hi <= lo:
            raise ApiError(
                400,
                "timeRangeEmpty",
                "The specified time range is empty.",
                domain="calendar",
                location_type="parameter",
                location="timeMax",
            )
        updated_min = (
            parse_rfc3339(params["updatedMin"], "updatedMin")
            if params.get("updatedMin")
            else None
        )
        order_by = params.get("orderBy")
        if order_by not in (None, "startTime", "updated") or (
            order_by == "startTime" and not single
        ):
            raise errors.bad_request(
                "The requested ordering is not available for the particular query.",
                param="orderBy",
            )
        # Deleted entries: with showDeleted, and always when updatedMin is given.
        deleted_too = params.get("showDeleted") == "true" or updated_min is not None
        ical_uid = params.get("iCalUID")
        now = self.now()
        out: list[dict[str, Any]] = []
        for ev in cal.events.values():
            data = ev.data
            if ical_uid and data.get("iCalUID") != ical_uid:
                continue
            if updated_min is not None and _stamp(data["updated"]) < updated_min:
                continue
            if ev.master_id:
                master = cal.events.get(ev.master_id)
                master_alive = master is not None and not master.cancelled
                if single and master_alive and master is not None and master.is_series:
                    continue  # produced by expand_series below
                if ev.cancelled:
                    # Cancelled instances of a live series are listed even
                    # without showDeleted when singleEvents is false (Google).
                    if not deleted_too and (single or not master_alive):
                        continue
                    start = interval(data, cal)[0]
                    if not overlaps((start, start), lo, hi):
                        continue
                elif not overlaps(interval(data, cal), lo, hi):
                    continue
                out.append(data)
            elif ev.is_series:
                if ev.cancelled:
                    if deleted_too:
                        out.append(data)
                    continue
                if single:
                    out.extend(
                        expand_series(
                            ev, cal, lo, hi, now=now, show_deleted=deleted_too
                        )
                    )
                elif series_in_window(ev, cal, lo, hi, now):
                    out.append(data)
            else:
                if ev.cancelled and not deleted_too:
                    continue
                if overlaps(interval(data, cal), lo, hi):
                    out.append(data)
        out = [d for d in out if _matches(d, params.get("q"), multi)]
        if order_by == "startTime":
            out.sort(key=lambda d: sort_key(d, cal))
        elif order_by == "updated":
            out.sort(key=lambda d: d["updated"])
        return out

    def _changed_since(
        self, cal: Calendar, seq: int, single: bool
    ) -> list[dict[str, Any]]:
        now = self.now()
        out: dict[str, dict[str, Any]] = {}
        for ev in sorted(cal.events.values(), key=lambda e: e.seq):
            if ev.seq <= seq:
                continue
            if single and ev.is_series and not ev.cancelled:
                for data in expand_series(
                    ev, cal, None, None, now=now, show_deleted=True
                ):
                    out.pop(data["id"], None)
                    out[data["id"]] = data
            else:
                out.pop(ev.id, None)
                out[ev.id] = ev.data
        return list(out.values())

    def get_event_api(
        self, access: AccessToken, ref: str, event_id: str, params: Mapping[str, str]
    ) -> dict[str, Any]:
        with self._lock:
            self.require(access, NEED_READ_EVENTS)
            cal, _ = self._calendar_for(access.email, ref)
            data = self._resolve(cal, event_id)
            return render(
                data,
                cal,
                viewer=access.email,
                base_url=self.base_url,
                zone=_out_zone(params),
            )

    def instances_api(
        self, access: AccessToken, ref: str, event_id: str, params: Mapping[str, str]
    ) -> dict[str, Any]:
        with self._lock:
            self.require(access, NEED_READ_EVENTS)
            cal, role = self._calendar_for(access.email, ref)
            master = cal.events.get(event_id)
            if master is None or not master.is_series:
                raise errors.not_found()
            if master.cancelled:
                raise errors.gone_deleted()
            size = _max_results(params, default=250, cap=2500)
            if params.get("pageToken"):
                return self._next_page(params["pageToken"], access.email, cal.id, size)
            lo = (
                parse_rfc3339(params["timeMin"], "timeMin")
                if params.get("timeMin")
                else None
            )
            hi = (
                parse_rfc3339(params["timeMax"], "timeMax")
                if params.get("timeMax")
                else None
            )
            items = expand_series(
                master,
                cal,
                lo,
                hi,
                now=self.now(),
                show_deleted=params.get("showDeleted") == "true",
            )
            items.sort(key=lambda d: sort_key(d, cal))
            rendered = [
                render(
                    d,
                    cal,
                    viewer=access.email,
                    base_url=self.base_url,
                    zone=_out_zone(params),
                    minimal_if_cancelled=True,
                )
                for d in items
            ]
            head = {
                "kind": "calendar#events",
                "etag": master.data["etag"],
                "summary": cal.summary,
                "updated": fmt_stamp(self.now()),
                "timeZone": cal.time_zone,
                "accessRole": role,
                "defaultReminders": [],
            }
            return self._paginate(access.email, cal.id, rendered, size, head, {})

    def insert_event_api(
        self, access: AccessToken, ref: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            self.require(access, NEED_WRITE_EVENTS)
            cal, _ = self._calendar_for(access.email, ref, write=True)
            stored = self._insert(cal, body, actor=access.email)
            return render(stored.data, cal, viewer=access.email, base_url=self.base_url)

    def write_event_api(
        self,
        access: AccessToken,
        ref: str,
        event_id: str,
        body: dict[str, Any],
        *,
        patch: bool,
        if_match: str | None,
    ) -> dict[str, Any]:
        with self._lock:
            self.require(access, NEED_WRITE_EVENTS)
            cal, _ = self._calendar_for(access.email, ref, write=True)
            data = self._write(cal, event_id, body, patch=patch, if_match=if_match)
            return render(data, cal, viewer=access.email, base_url=self.base_url)

    def delete_event_api(
        self, access: AccessToken, ref: str, event_id: str, *, if_match: str | None
    ) -> None:
        with self._lock:
            self.require(access, NEED_WRITE_EVENTS)
            cal, _ = self._calendar_for(access.email, ref, write=True)
            self._delete(cal, event_id, if_match=if_match)

    # -- the write core (shared by the API and the controls) -----------------

    def _insert(
        self, cal: Calendar, body: dict[str, Any], *, actor: str
    ) -> StoredEvent:
        event_id = body.get("id")
        if event_id is not None:
            if not isinstance(event_id, str) or not EVENT_ID_RE.fullmatch(event_id):
                raise errors.bad_request("Invalid resource id value.")
            if event_id in cal.events or self._virtual(cal, event_id) is not None:
                raise errors.duplicate()
        else:
            event_id = "".join(secrets.choice(_BASE32HEX) for _ in range(26))
        data, _, _ = validate_body(body, exception=False)
        stamp = fmt_stamp(self.now())
        ical_uid = body.get("iCalUID")
        data.update(
            id=event_id,
            iCalUID=ical_uid
            if isinstance(ical_uid, str) and ical_uid
            else f"{event_id}@google.com",
            created=stamp,
            updated=stamp,
            etag=self._next_etag(),
            sequence=int(body.get("sequence") or 0),
            creator={"email": actor},
            organizer=self._organizer(cal),
        )
        stored = StoredEvent(data, 0)
        self._store(cal, stored)
        return stored

    def _write(
        self,
        cal: Calendar,
        event_id: str,
        body: dict[str, Any],
        *,
        patch: bool,
        if_match: str | None,
    ) -> dict[str, Any]:
        base = self._resolve(cal, event_id)
        _check_if_match(if_match, base["etag"])
        exception = bool(base.get("recurringEventId"))
        merged = deep_merge(writable_part(base), body) if patch else dict(body)
        data, _, _ = validate_body(merged, exception=exception)
        significant = any(
            data.get(k) != base.get(k) for k in ("start", "end", "recurrence")
        )
        for key in (
            "id",
            "iCalUID",
            "created",
            "creator",
            "organizer",
            "recurringEventId",
            "originalStartTime",
        ):
            if key in base:
                data[key] = copy.deepcopy(base[key])
        data["sequence"] = int(base.get("sequence", 0)) + (1 if significant else 0)
        data["updated"] = fmt_stamp(self.now())
        data["etag"] = self._next_etag()
        stored = StoredEvent(data, 0)
        self._store(cal, stored)
        if base.get("recurrence") and data.get("recurrence") != base.get("recurrence"):
            self._drop_unreachable_exceptions(cal, stored)
        return data

    def _delete(self, cal: Calendar, event_id: str, *, if_match: str | None) -> None:
        stored = cal.events.get(event_id)
        if stored is not None:
            if stored.cancelled:
                raise errors.gone_deleted()
            _check_if_match(if_match, stored.data["etag"])
            self._cancel(cal, stored.data)
            if stored.is_series:
                for exc in cal.exceptions_of(stored.id):
                    if not exc.cancelled:
                        self._cancel(cal, exc.data)
            return
        data = self._resolve(cal, event_id)  # a generated instance
        _check_if_match(if_match, data["etag"])
        self._cancel(cal, data)

    def _cancel(self, cal: Calendar, data: dict[str, Any]) -> None:
        tomb = copy.deepcopy(data)
        tomb["status"] = "cancelled"
        tomb["updated"] = fmt_stamp(self.now())
        tomb["etag"] = self._next_etag()
        self._store(cal, StoredEvent(tomb, 0))

    def _drop_unreachable_exceptions(self, cal: Calendar, master: StoredEvent) -> None:
        """A changed rule orphans exceptions of instances that no longer exist;
        Google removes them with the change."""
        now = self.now()
        for exc in cal.exceptions_of(master.id):
            suffix = split_instance_id(exc.id)
            if (
                suffix
                and not exc.cancelled
                and find_slot(master.data, cal, suffix[1], now=now) is None
            ):
                self._cancel(cal, exc.data)

    def _store(self, cal: Calendar, stored: StoredEvent) -> None:
        cal.seq += 1
        stored.seq = cal.seq
        cal.events.pop(stored.id, None)
        cal.events[stored.id] = stored
        cal.etag = self._next_etag()
        self._calendar_changed(cal)

    def _resolve(self, cal: Calendar, event_id: str) -> dict[str, Any]:
        stored = cal.events.get(event_id)
        if stored is not None:
            return stored.data
        data = self._virtual(cal, event_id)
        if data is None:
            raise errors.not_found()
        return data

    def _virtual(self, cal: Calendar, event_id: str) -> dict[str, Any] | None:
        parts = split_instance_id(event_id)
        if parts is None:
            return None
        master = cal.events.get(parts[0])
        if master is None or master.cancelled or not master.is_series:
            return None
        slot = find_slot(master.data, cal, parts[1], now=self.now())
        return None if slot is None else virtual_instance(master.data, cal, slot)

    def _organizer(self, cal: Calendar) -> dict[str, Any]:
        if cal.id in self.users:
            user = self.users[cal.id]
            return {"email": user.email, "displayName": user.name}
        return {"email": cal.id, "displayName": cal.summary}

    def _render(
        self, data: dict[str, Any], cal: Calendar, viewer: str
    ) -> dict[str, Any]:
        return render(data, cal, viewer=viewer, base_url=self.base_url)

    # ================================================== API: push channels

    def watch(
        self, access: AccessToken, ref: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        with self._lock:
            self.require(access, NEED_READ_EVENTS)
            cal, _ = self._calendar_for(access.email, ref)
            channel_id = body.get("id")
            if not isinstance(channel_id, str) or not channel_id:
                raise ApiError(
                    400,
                    "required",
                    "Required",
                    location_type="parameter",
                    location="id",
                )
            if body.get("type") not in ("web_hook", "webhook"):
                raise errors.bad_request("Invalid Value", param="type")
            address = body.get("address")
            if not isinstance(address, str) or not address:
                raise ApiError(
                    400,
                    "required",
                    "Required",
                    location_type="parameter",
                    location="address",
                )
            scheme = urlsplit(address).scheme
            if scheme not in ("http", "https") or (
                self.require_https_webhooks and scheme != "https"
            ):
                raise ApiError(
                    400,
                    "push.webhookUrlNotHttps",
                    f"WebHook callback must be HTTPS: {address}",
                    domain="push",
                )
            if channel_id in self.channels and self.channels[channel_id].active:
                raise ApiError(
                    400,
                    "channelIdNotUnique",
                    f"Channel id {channel_id} not unique",
                    domain="push",
                )
            now_ms = int(time.time() * 1000)
            expiration = now_ms + int(DEFAULT_CHANNEL_TTL.total_seconds() * 1000)
            if body.get("expiration") is not None:
                try:
                    wanted = int(body["expiration"])
                except (TypeError, ValueError) as exc:
                    raise errors.bad_request(
                        "Invalid Value", param="expiration"
                    ) from exc
                if wanted <= now_ms:
                    raise errors.bad_request("Invalid Value", param="expiration")
                expiration = min(
                    wanted, now_ms + int(MAX_CHANNEL_TTL.total_seconds() * 1000)
                )
            token = body.get("token")
            channel = Channel(
                id=channel_id,
                resource_id=cal.resource_id,
                resource_uri=f"{self.base_url}/calendar/v3/calendars/"
                f"{quote(cal.id, safe='')}/events?alt=json",
                calendar_id=cal.id,
                email=access.email,
                client_id=access.client_id,
                address=address,
                token=str(token) if token is not None else None,
                expiration_ms=expiration,
            )
            self.channels[channel_id] = channel
            self._emit(channel, "sync")
            out: dict[str, Any] = {
                "kind": "api#channel",
                "id": channel.id,
                "resourceId": channel.resource_id,
                "resourceUri": channel.resource_uri,
                "expiration": str(channel.expiration_ms),
            }
            if channel.token is not None:
                out["token"] = channel.token
            return out

    def stop_channel(self, access: AccessToken, body: dict[str, Any]) -> None:
        with self._lock:
            channel = self.channels.get(str(body.get("id", "")))
            if (
                channel is None
                or not channel.active
                or channel.resource_id != body.get("resourceId")
                or channel.client_id != access.client_id
            ):
                raise ApiError(
                    404,
                    "notFound",
                    f"Channel '{body.get('id')}' not found for project.",
                )
            channel.active = False

    def _calendar_changed(self, cal: Calendar) -> None:
        now_ms = int(time.time() * 1000)
        for channel in self.channels.values():
            if not channel.active or channel.calendar_id != cal.id:
                continue
            if channel.expiration_ms <= now_ms:
                channel.active = False
                continue
            self._emit(channel, "exists")

    def _emit(self, channel: Channel, state: str) -> None:
        channel.number += 1
        expiration = datetime.fromtimestamp(channel.expiration_ms / 1000, UTC)
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": format_datetime(expiration, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": channel.resource_uri,
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(channel.number),
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        if self.notifier is not None:
            self.notifier(
                Notification(
                    channel.id, channel.address, headers, channel.number, state
                )
            )

    # ======================================================== API: freeBusy

    def free_busy(self, access: AccessToken, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.require(access, NEED_FREEBUSY)
            if not body.get("timeMin") or not body.get("timeMax"):
                raise ApiError(400, "required", "Missing timeMin or timeMax.")
            lo = parse_rfc3339(body["timeMin"], "timeMin")
            hi = parse_rfc3339(body["timeMax"], "timeMax")
            if hi <= lo:
                raise ApiError(
                    400,
                    "timeRangeEmpty",
                    "The specified time range is empty.",
                    domain="calendar",
                    location_type="parameter",
                    location="timeMax",
                )
            out_zone = ZoneInfo("UTC")
            if body.get("timeZone"):
                try:
                    out_zone = zone(body["timeZone"])
                except RecurrenceError as exc:
                    raise errors.bad_request("Invalid Value", param="timeZone") from exc
            calendars: dict[str, Any] = {}
            for item in body.get("items") or []:
                ref = str(item.get("id", ""))
                try:
                    cal, _ = self._calendar_for(access.email, ref, events=False)
                except ApiError:
                    calendars[ref] = {
                        "errors": [{"domain": "global", "reason": "notFound"}],
                        "busy": [],
                    }
                    continue
                spans = self._busy_spans(cal, lo, hi)
                calendars[ref] = {
                    "busy": [
                        {"start": _fmt_zone(s, out_zone), "end": _fmt_zone(e, out_zone)}
                        for s, e in spans
                    ]
                }
            return {
                "kind": "calendar#freeBusy",
                "timeMin": fmt_utc(lo),
                "timeMax": fmt_utc(hi),
                "calendars": calendars,
            }

    def _busy_spans(
        self, cal: Calendar, lo: datetime, hi: datetime
    ) -> list[tuple[datetime, datetime]]:
        """Busy time: opaque, not cancelled, not declined by the calendar's owner."""
        params = {
            "singleEvents": "true",
            "timeMin": fmt_utc(lo),
            "timeMax": fmt_utc(hi),
        }
        spans: list[tuple[datetime, datetime]] = []
        for data in self._full_listing(cal, params, {}, True):
            if (
                data.get("status") == "cancelled"
                or data.get("transparency") == "transparent"
            ):
                continue
            if any(
                a.get("email", "").lower() == cal.owner
                and a.get("responseStatus") == "declined"
                for a in data.get("attendees") or []
            ):
                continue
            start, end = interval(data, cal)
            spans.append((max(start, lo), min(end, hi)))
        merged: list[tuple[datetime, datetime]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return [(s, e) for s, e in merged if e > s]

    # =============================================================== paging

    def _paginate(
        self,
        email: str,
        scope_key: str,
        items: list[dict[str, Any]],
        size: int,
        head: dict[str, Any],
        tail: dict[str, Any],
    ) -> dict[str, Any]:
        page = _Page(email, scope_key, items, tail, head)
        return self._emit_page(page, size)

    def _next_page(
        self, token: str, email: str, scope_key: str, size: int
    ) -> dict[str, Any]:
        page = self._pages.pop(token, None)
        if page is None or page.email != email or page.scope_key != scope_key:
            raise errors.bad_request("Invalid page token.", param="pageToken")
        return self._emit_page(page, size)

    def _emit_page(self, page: _Page, size: int) -> dict[str, Any]:
        out = dict(page.head)
        out["items"] = page.items[:size]
        rest = page.items[size:]
        if rest:
            token = secrets.token_urlsafe(18)
            self._pages[token] = replace(page, items=rest)
            out["nextPageToken"] = token
        else:
            out.update(page.tail)
        return out

    # ============================================================ internals

    def _new_calendar(self, cal_id: str, summary: str, owner: str, tz: str) -> Calendar:
        zone(tz)  # validate
        cal = Calendar(
            id=cal_id,
            summary=summary,
            owner=owner,
            time_zone=tz,
            resource_id="".join(secrets.choice(_BASE32HEX) for _ in range(27)),
            acl={owner: "owner"},
            etag=self._next_etag(),
        )
        self.calendars[cal_id] = cal
        return cal


# -- helpers -----------------------------------------------------------------


def instance_id(master_id: str, original_start: datetime | date) -> str:
    """The id Google gives one instance of a series."""
    if isinstance(original_start, datetime):
        if original_start.tzinfo is None:
            raise ValueError("original_start must be timezone-aware")
        return (
            f"{master_id}_{original_start.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
        )
    return f"{master_id}_{original_start.strftime('%Y%m%d')}"


def _when(value: datetime | date) -> dict[str, Any]:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes must be timezone-aware")
        out: dict[str, Any] = {"dateTime": value.isoformat(), "date": None}
        key = getattr(value.tzinfo, "key", None)
        if key:
            out["timeZone"] = key
        return out
    return {"date": value.isoformat(), "dateTime": None}


def _jsonable(event: dict[str, Any]) -> dict[str, Any]:
    """Accept ``datetime``/``date`` objects for start/end in test controls."""
    for name in ("start", "end"):
        value = event.get(name)
        if isinstance(value, datetime | date):
            event[name] = _when(value)
    return event


def _check_if_match(if_match: str | None, etag: str) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    candidates = [c.strip().removeprefix("W/") for c in if_match.split(",")]
    if etag not in candidates:
        raise errors.condition_not_met()


def _max_results(params: Mapping[str, str], *, default: int, cap: int) -> int:
    raw = params.get("maxResults")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise errors.bad_request("Invalid Value", param="maxResults") from exc
    if value < 1:
        raise errors.bad_request("Invalid Value", param="maxResults")
    return min(value, cap)


def _out_zone(params: Mapping[str, str]) -> ZoneInfo | None:
    if not params.get("timeZone"):
        return None
    try:
        return zone(params["timeZone"])
    except RecurrenceError as exc:
        raise errors.bad_request("Invalid Value", param="timeZone") from exc


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _fmt_zone(moment: datetime, out_zone: ZoneInfo) -> str:
    return fmt_in(moment, out_zone)


def _matches(
    data: dict[str, Any], q: str | None, multi: Mapping[str, list[str]]
) -> bool:
    if q:
        text = " ".join(
            str(data.get(k, "")) for k in ("summary", "description", "location")
        ).lower()
        if any(word not in text for word in q.lower().split()):
            return False
    props = data.get("extendedProperties") or {}
    for param, scope in (
        ("privateExtendedProperty", "private"),
        ("sharedExtendedProperty", "shared"),
    ):
        for constraint in multi.get(param, []):
            key, _, value = constraint.partition("=")
            if (props.get(scope) or {}).get(key) != value:
                return False
    return True
