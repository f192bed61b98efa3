"""The Google Calendar provider (API v3) over ``httpx.AsyncClient``.

Why not google-api-python-client: it is synchronous (httplib2), and we need
exact control of ``If-Match``, of paging and of how many requests a pull
costs. The sandbox's shape tests drive it with Google's own client instead.

Choices:

* Ids: a calendar's id is Google's calendar id; an event's id is the id of a
  single event or of a series master (modified instances travel inside the
  master's iCalendar text, see ``convert``).
* Pull: ``changes(cal, None)`` and ``list_all`` list with
  ``singleEvents=false`` (masters + exceptions; series are expanded by
  ``ical.expand``, not by Google) following ``nextPageToken`` to the
  ``nextSyncToken`` on the last page. ``changes(cal, token)`` passes the
  ``syncToken``; entries with ``status: "cancelled"`` are deletions, and a
  changed series (master or any instance) is re-read whole with one
  ``iCalUID`` listing so its RemoteEvent stays complete. 410 → ``CursorInvalid``.
* Push: a deterministic id from the key (``convert.event_id_for_key``);
  insert → 409 means a retry after a lost answer, so the existing event is
  fetched and returned if it carries our key. Google keeps deleted events'
  ids forever (a re-insert is 409 too): such a tombstone of ours is restored
  with a conditional PUT, which is how the engine "pushes again" an
  appointment deleted in Google. ``update`` is a full PUT (the app is the
  source of truth) with ``If-Match``; ``delete`` sends ``If-Match`` when given.
* ``get`` returns None for a missing or deleted (cancelled) event.
* Writes pass ``sendUpdates=none``: pushing an appointment never mails
  anyone from Google (the app sends its own emails).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from coach_app.calendars.base import (
    Account,
    CalendarRef,
    ChangeSet,
    ClosesOnExit,
    OutgoingEvent,
    RemoteEvent,
    SubCalendar,
    calendar_id,
)
from coach_app.calendars.errors import (
    CursorInvalid,
    NotFound,
    PreconditionFailed,
    Transient,
)
from coach_app.calendars.google.config import RECONNECT_MESSAGE, api_base_from_env
from coach_app.calendars.google.convert import (
    event_body,
    event_id_for_key,
    group,
    key_of,
    remote_event,
)
from coach_app.calendars.google.http import GoogleHttp, RequestHook, error_reasons
from coach_app.calendars.google.push import WatchChannel
from coach_app.calendars.oauth import AccessTokenSource, StaticToken

log = logging.getLogger(__name__)

_WRITE_ROLES = frozenset({"owner", "writer"})
_MAX_PAGES = 2000
DEFAULT_CHANNEL_TTL = timedelta(days=7)


class GoogleProvider(ClosesOnExit):
    """``CalendarProvider`` for Google Calendar. Use as ``async with`` or ``aclose``."""

    def __init__(
        self,
        access_token_source: AccessTokenSource | str,
        *,
        api_base: str | None = None,
        page_size: int = 250,
        timeout: float = 30.0,
        request_deadline_s: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        """``access_token_source``: a ``TokenSource`` (refreshes) or a bare access
        token; ``api_base`` None reads ``COACH_APP_GOOGLE_API_BASE``;
        ``page_size`` is ``maxResults`` (Google allows up to 2500);
        ``timeout`` bounds each network operation, ``request_deadline_s`` each
        whole request (None: ``COACH_APP_REQUEST_DEADLINE``)."""
        tokens = (
            StaticToken(access_token_source, reconnect_message=RECONNECT_MESSAGE)
            if isinstance(access_token_source, str)
            else access_token_source
        )
        self.api_base = (api_base or api_base_from_env()).rstrip("/")
        self.page_size = max(1, min(page_size, 2500))
        self._http = GoogleHttp(
            tokens,
            api_base=self.api_base,
            timeout=timeout,
            request_deadline_s=request_deadline_s,
            transport=transport,
            on_request=on_request,
        )
        self._zones: dict[str, str] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- discovery -------------------------------------------------------

    async def discover(self) -> Account:
        """The account behind the token: its primary calendar's id is its email."""
        primary = await self._json("GET", "/calendars/primary")
        email = str(primary["id"])
        if primary.get("timeZone"):
            self._zones[email] = str(primary["timeZone"])
        return Account(
            provider="google",
            principal_url=email,
            home_url=self.api_base,
            display_name=str(primary.get("summary") or email),
            server="google",
            login=email,
        )

    async def list_calendars(self) -> list[SubCalendar]:
        """The coach's calendars (primary first, then by name); owner/writer
        ones can be pushed to, free/busy-only ones are left out."""
        entries: list[dict[str, Any]] = []
        page_token: str | None = None
        for _ in range(_MAX_PAGES):
            params: dict[str, str | int] = {"maxResults": 250}
            if page_token:
                params["pageToken"] = page_token
            body = await self._json("GET", "/users/me/calendarList", params=params)
            entries.extend(body.get("items") or [])
            page_token = body.get("nextPageToken")
            if not page_token:
                break
        calendars = []
        for entry in entries:
            # freeBusyReader calendars expose no events to list: nothing to pull.
            if entry.get("deleted") or entry.get("accessRole") == "freeBusyReader":
                continue
            if entry.get("timeZone"):
                self._zones[str(entry["id"])] = str(entry["timeZone"])
            calendars.append(
                (
                    not entry.get("primary", False),
                    str(
                        entry.get("summaryOverride") or entry.get("summary") or ""
                    ).casefold(),
                    SubCalendar(
                        id=str(entry["id"]),
                        name=str(
                            entry.get("summaryOverride")
                            or entry.get("summary")
                            or entry["id"]
                        ),
                        color=entry.get("backgroundColor"),
                        can_write=entry.get("accessRole") in _WRITE_ROLES,
                        ctag=entry.get("etag"),
                    ),
                )
            )
        return [cal for _, _, cal in sorted(calendars, key=lambda c: (c[0], c[1]))]

    # -- pulling ----------------------------------------------------------

    async def changes(self, calendar: CalendarRef, cursor: str | None) -> ChangeSet:
        if cursor is None:
            return await self.list_all(calendar)
        cal = calendar_id(calendar)
        items, token, zone = await self._list(cal, {"syncToken": cursor})
        changed: dict[str, RemoteEvent] = {}
        deleted: set[str] = set()
        series: dict[str, str | None] = {}  # master id → iCalUID if known
        for item in items:
            item_id = str(item["id"])
            master_id = item.get("recurringEventId")
            if master_id:
                master_id = str(master_id)
                series[master_id] = series.get(master_id) or item.get("iCalUID")
            elif item.get("status") == "cancelled":
                deleted.add(item_id)
                changed.pop(item_id, None)
                series.pop(item_id, None)
            elif item.get("recurrence"):
                series[item_id] = item.get("iCalUID") or series.get(item_id)
            else:
                changed[item_id] = remote_event(item, (), zone)
                deleted.discard(item_id)
        for master_id, uid in series.items():
            if master_id in deleted:
                continue
            events, gone = await self._read_series(cal, master_id, uid, zone)
            for event in events:
                changed[event.id] = event
            deleted.update(gone)
        deleted -= set(changed)
        return ChangeSet(
            changed=[changed[k] for k in sorted(changed)],
            deleted=sorted(deleted),
            cursor=token or cursor,
            full=False,
        )

    async def list_all(self, calendar: CalendarRef) -> ChangeSet:
        cal = calendar_id(calendar)
        items, token, zone = await self._list(cal, {"singleEvents": "false"})
        return ChangeSet(
            changed=group(items, zone), deleted=[], cursor=token, full=True
        )

    async def _list(
        self, cal: str, params: dict[str, str]
    ) -> tuple[list[dict[str, Any]], str | None, str | None]:
        """All pages of ``events.list``: items, ``nextSyncToken``, calendar zone."""
        items: list[dict[str, Any]] = []
        page_token: str | None = None
        path = f"/calendars/{_q(cal)}/events"
        for _ in range(_MAX_PAGES):
            query: dict[str, str | int] = {**params, "maxResults": self.page_size}
            if page_token:
                query["pageToken"] = page_token
            response = await self._http.request("GET", path, params=query)
            if (
                response.status_code == 410
                and "syncToken" in params
                and "deleted" not in error_reasons(response)
            ):
                raise CursorInvalid(f"GET {path}: sync token rejected (410)")
            self._http.raise_for_status(response)
            body = response.json()
            if body.get("timeZone"):
                self._zones[cal] = str(body["timeZone"])
            items.extend(body.get("items") or [])
            page_token = body.get("nextPageToken")
            if not page_token:
                return items, body.get("nextSyncToken"), self._zones.get(cal)
        raise Transient(f"GET {path}: more than {_MAX_PAGES} pages")

    async def _read_series(
        self, cal: str, master_id: str, uid: str | None, zone: str | None
    ) -> tuple[list[RemoteEvent], set[str]]:
        """A series with all its exceptions, re-read after any part changed.

        Returns the RemoteEvents (the series, or orphan instances when the
        master is not in this calendar) and the ids that are gone.
        """
        if uid is None:
            master = await self._get_item(cal, master_id)
            if master is None or master.get("status") == "cancelled":
                return [], {master_id}
            uid = str(master.get("iCalUID") or "")
        items, _, zone = await self._list(
            cal, {"iCalUID": uid, "showDeleted": "true", "singleEvents": "false"}
        )
        master_item = next((i for i in items if str(i["id"]) == master_id), None)
        instances = [i for i in items if str(i.get("recurringEventId")) == master_id]
        if master_item is None or master_item.get("status") == "cancelled":
            orphans = [
                remote_event(i, (), zone)
                for i in instances
                if i.get("status") != "cancelled"
            ]
            gone = {master_id} | {
                str(i["id"]) for i in instances if i.get("status") == "cancelled"
            }
            return orphans, gone
        return [remote_event(master_item, instances, zone)], set()

    # -- single events ------------------------------------------------------

    async def get(self, calendar: CalendarRef, id: str) -> RemoteEvent | None:
        cal = calendar_id(calendar)
        item = await self._get_item(cal, id)
        if item is None or item.get("status") == "cancelled":
            return None
        zone = self._zones.get(cal)
        if item.get("recurrence"):
            events, _ = await self._read_series(cal, id, item.get("iCalUID"), zone)
            return next((e for e in events if e.id == id), None)
        return remote_event(item, (), zone)

    async def _get_item(self, cal: str, id: str) -> dict[str, Any] | None:
        response = await self._http.request("GET", _event_path(cal, id))
        if response.status_code in (404, 410):
            return None
        self._http.raise_for_status(response)
        return dict(response.json())

    async def create(
        self, calendar: CalendarRef, event: OutgoingEvent, key: str
    ) -> tuple[str, str | None]:
        cal = calendar_id(calendar)
        if event.key != key:
            event = OutgoingEvent(
                key=key,
                summary=event.summary,
                start=event.start,
                end=event.end,
                description=event.description,
                location=event.location,
            )
        event_id = event_id_for_key(key)
        body = {"id": event_id, **event_body(event)}
        response = await self._http.request(
            "POST",
            f"/calendars/{_q(cal)}/events",
            params={"sendUpdates": "none"},
            json=body,
        )
        if response.status_code == 409:
            # A retry after a lost answer, or our own deleted event (Google
            # never frees a deleted id): take it over only if it is ours.
            existing = await self._get_item(cal, event_id)
            if existing is None or key_of(existing) != key:
                raise PreconditionFailed(f"event id {event_id} exists and is not ours")
            if existing.get("status") != "cancelled":
                return event_id, existing.get("etag")
            return event_id, await self._put(cal, event_id, event, existing.get("etag"))
        self._http.raise_for_status(response)
        data = response.json()
        return str(data["id"]), data.get("etag")

    async def update(
        self, calendar: CalendarRef, id: str, event: OutgoingEvent, etag: str
    ) -> str | None:
        return await self._put(calendar_id(calendar), id, event, etag)

    async def _put(
        self, cal: str, id: str, event: OutgoingEvent, etag: str | None
    ) -> str | None:
        headers = {"If-Match": etag} if etag else {}
        response = await self._http.request(
            "PUT",
            _event_path(cal, id),
            params={"sendUpdates": "none"},
            json=event_body(event),
            headers=headers,
        )
        self._http.raise_for_status(response)
        return response.json().get("etag")

    async def delete(self, calendar: CalendarRef, id: str, etag: str | None) -> None:
        headers = {"If-Match": etag} if etag else {}
        response = await self._http.request(
            "DELETE",
            _event_path(calendar_id(calendar), id),
            params={"sendUpdates": "none"},
            headers=headers,
        )
        self._http.raise_for_status(response)

    # -- push notifications ---------------------------------------------------

    async def watch(
        self,
        calendar: CalendarRef,
        address: str,
        token: str,
        ttl: timedelta | float = DEFAULT_CHANNEL_TTL,
        *,
        channel_id: str | None = None,
    ) -> WatchChannel:
        """Ask Google to POST to ``address`` on every change of ``calendar``.

        ``token`` is the per-channel secret Google echoes in
        ``X-Goog-Channel-Token``; ``ttl`` (seconds or a timedelta) is a wish:
        Google may shorten it, so keep the returned ``expiration``.
        """
        cal = calendar_id(calendar)
        seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
        expires = datetime.now(UTC) + timedelta(seconds=seconds)
        body = {
            "id": channel_id or str(uuid.uuid4()),
            "type": "web_hook",
            "address": address,
            "token": token,
            "expiration": str(int(expires.timestamp() * 1000)),
        }
        data = await self._json("POST", f"/calendars/{_q(cal)}/events/watch", json=body)
        expiration = (
            datetime.fromtimestamp(int(data["expiration"]) / 1000, UTC)
            if data.get("expiration")
            else None
        )
        return WatchChannel(
            id=str(data["id"]),
            resource_id=str(data["resourceId"]),
            resource_uri=data.get("resourceUri"),
            token=token,
            expiration=expiration,
            calendar_id=cal,
        )

    async def stop_channel(self, channel_id: str, resource_id: str) -> None:
        """Stop a channel; one that is already gone (404) counts as stopped."""
        try:
            await self._json(
                "POST",
                "/channels/stop",
                json={"id": channel_id, "resourceId": resource_id},
                expect_body=False,
            )
        except NotFound:
            log.info("channel %s was already stopped or expired", channel_id)

    # -- helpers ----------------------------------------------------------------

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        json: Any = None,
        expect_body: bool = True,
    ) -> dict[str, Any]:
        response = await self._http.request(method, path, params=params, json=json)
        self._http.raise_for_status(response)
        if not expect_body or not response.content:
            return {}
        return dict(response.json())


def _q(value: str) -> str:
    """Percent-encode an id for a path segment (calendar ids hold ``@``, ``#``)."""
    return quote(value, safe="")


def _event_path(cal: str, event_id: str) -> str:
    return f"/calendars/{_q(cal)}/events/{_q(event_id)}"
