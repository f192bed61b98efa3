"""The CalDAV provider (iCloud and any CalDAV server) over ``httpx.AsyncClient``.

Why not python-caldav: its ``objects_by_sync_token`` falls back to a full
listing on a rejected token and then reports *no deletions*, which would
silently keep cancelled busy time forever; and we need exact control of
``If-Match``/``If-None-Match`` and of how many requests a pull costs (an
incremental pull is one ``sync-collection`` plus, at most, one
``calendar-multiget`` per batch of changed events).

Ids: a calendar's id is the absolute URL of its collection (iCloud serves
calendars from another host than the one you log in to); an event's id is
its percent-decoded path on that host.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import replace
from urllib.parse import quote, urlsplit, urlunsplit

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
from coach_app.calendars.caldav import davxml, discovery
from coach_app.calendars.caldav.davxml import CALENDAR_DATA, GETETAG, clark
from coach_app.calendars.caldav.discovery import PATH_SAFE, as_collection
from coach_app.calendars.caldav.presets import GENERIC_CALDAV, CalDAVPreset
from coach_app.calendars.caldav.quirks import GENERIC, ServerQuirks, identify
from coach_app.calendars.caldav.transport import (
    ICALENDAR,
    XML,
    DavHttp,
    RequestHook,
    refused_error,
)
from coach_app.calendars.errors import (
    CursorInvalid,
    PreconditionFailed,
    ProviderError,
    Transient,
)
from coach_app.calendars.ical import build_vevent, quick_fields
from coach_app.security.urlguard import UrlRefused, check_syntax

log = logging.getLogger(__name__)

_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}")
_VALID_SYNC_TOKEN = clark("d:valid-sync-token")
_TRUNCATED = clark("d:number-of-matches-within-limits")
_NO_SYNC_SUPPORT = {clark("d:supported-report"), clark("d:sync-traversal-supported")}


class _SyncUnsupported(Exception):
    """The server has no sync-collection report: list with PROPFIND instead."""


class CalDAVProvider(ClosesOnExit):
    """``CalendarProvider`` for CalDAV. Use as ``async with`` or call ``aclose``."""

    def __init__(
        self,
        base_url: str | None = None,
        username: str = "",
        password: str = "",
        *,
        preset: CalDAVPreset = GENERIC_CALDAV,
        quirks: ServerQuirks | None = None,
        allow_hosts: Iterable[str] | None = None,
        timeout: float = 30.0,
        request_deadline_s: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        """``allow_hosts`` None reads ``COACH_APP_URL_ALLOWLIST``; ``quirks`` may be
        restored from ``Account.server`` to skip identification; ``timeout``
        bounds each network operation and ``request_deadline_s`` each whole
        request (None: ``COACH_APP_REQUEST_DEADLINE``); ``transport`` and
        ``on_request`` are for tests and measurements.

        A URL of unusable form raises ``InvalidServerAddress`` at once."""
        url = base_url or preset.preset_url()
        if not url:
            raise ValueError("a CalDAV server URL is required")
        try:
            check_syntax(url)
        except UrlRefused as exc:
            raise refused_error(exc) from exc
        self._base = as_collection(url)
        self._preset = preset
        self._username = username
        self._quirks_fixed = quirks is not None or preset.quirks is not GENERIC
        self.quirks = quirks or (
            preset.quirks if preset.quirks is not GENERIC else identify(url)
        )
        self._inline_data = self.quirks.calendar_data_in_sync_collection
        self._home: str | None = None
        self._http = DavHttp(
            username=username,
            password=password,
            auth_error_message=preset.auth_error_message,
            allow_hosts=allow_hosts,
            timeout=timeout,
            request_deadline_s=request_deadline_s,
            transport=transport,
            on_request=on_request,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- discovery -------------------------------------------------------

    async def discover(self) -> Account:
        principal = await discovery.find_principal(self._http, self._base)
        home, display_name = await discovery.find_home(self._http, principal)
        dav = await discovery.dav_header(self._http, home)
        if not self._quirks_fixed:
            self.quirks = identify(home, dav)
            self._inline_data = self.quirks.calendar_data_in_sync_collection
        self._home = home
        return Account(
            provider=self._preset.key,
            principal_url=principal,
            home_url=home,
            display_name=display_name or self._username,
            server=self.quirks.name,
            login=self._username,
        )

    async def list_calendars(self) -> list[SubCalendar]:
        home = self._home or (await self.discover()).home_url
        return await discovery.event_calendars(self._http, home)

    # -- pulling ----------------------------------------------------------

    async def changes(self, calendar: CalendarRef, cursor: str | None) -> ChangeSet:
        if cursor is None:
            return await self.list_all(calendar)
        return await self._sync(as_collection(calendar_id(calendar)), cursor)

    async def list_all(self, calendar: CalendarRef) -> ChangeSet:
        url = as_collection(calendar_id(calendar))
        try:
            return await self._sync(url, None)
        except _SyncUnsupported:
            return await self._propfind_listing(url)

    async def _sync(self, url: str, token: str | None) -> ChangeSet:
        collection_path = davxml.normalize_href(url).rstrip("/")
        pending: dict[str, tuple[str | None, str | None]] = {}  # href → (etag, data)
        deleted: set[str] = set()
        current = token
        for _ in range(self.quirks.max_sync_rounds):
            props = (
                ("d:getetag", "c:calendar-data")
                if self._inline_data
                else ("d:getetag",)
            )
            response = await self._http.request(
                "REPORT",
                url,
                body=davxml.sync_collection(current, *props),
                content_type=XML,
                depth="0",
            )
            if response.status_code != 207:
                self._raise_sync_failure(response, current)
            multistatus = self._http.multistatus(response)
            truncated = False
            for item in multistatus.responses:
                if item.href.rstrip("/") == collection_path:
                    # RFC 6578 §3.6: the server cut the answer short; ask again
                    # with the token it just gave for the rest.
                    truncated = (
                        truncated or item.status == 507 or _TRUNCATED in item.errors
                    )
                elif item.status == 404:
                    deleted.add(item.href)
                    pending.pop(item.href, None)
                else:
                    if CALENDAR_DATA in item.missing and self._inline_data:
                        log.info(
                            "%s: no calendar-data in sync-collection, using multiget",
                            url,
                        )
                        self._inline_data = False
                    deleted.discard(item.href)
                    pending[item.href] = (item.text(GETETAG), item.text(CALENDAR_DATA))
            current = multistatus.sync_token or current
            if not truncated:
                break
        else:
            raise Transient(f"{url}: sync-collection still truncated after many rounds")

        events = {
            href: _remote_event(href, etag, data)
            for href, (etag, data) in pending.items()
            if data is not None
        }
        missing = [href for href, (_, data) in pending.items() if data is None]
        fetched, gone = await self._multiget(url, missing)
        events.update(fetched)
        deleted.update(gone)
        return ChangeSet(
            changed=[events[href] for href in sorted(events)],
            deleted=sorted(deleted),
            cursor=current,
            full=token is None,
        )

    def _raise_sync_failure(self, response: httpx.Response, token: str | None) -> None:
        conditions = davxml.error_conditions(response.content)
        status = response.status_code
        if token and _VALID_SYNC_TOKEN in conditions:
            if status not in self.quirks.invalid_sync_token_statuses:
                log.warning(
                    "sync token rejected with unexpected status %s (%s)",
                    status,
                    self.quirks.name,
                )
            raise CursorInvalid(
                f"{response.request.url}: sync token rejected ({status})"
            )
        if not token and (status in (400, 405, 501) or conditions & _NO_SYNC_SUPPORT):
            raise _SyncUnsupported()
        self._http.raise_for_status(response)
        raise ProviderError(
            f"{response.request.url}: unexpected status {status} for sync-collection"
        )

    async def _propfind_listing(self, url: str) -> ChangeSet:
        response = await self._http.request(
            "PROPFIND",
            url,
            body=davxml.propfind("d:getetag"),
            content_type=XML,
            depth="1",
        )
        collection_path = davxml.normalize_href(url).rstrip("/")
        hrefs = [
            item.href
            for item in self._http.multistatus(response).responses
            if item.href.rstrip("/") != collection_path and GETETAG in item.props
        ]
        fetched, _ = await self._multiget(url, hrefs)
        return ChangeSet(
            changed=[fetched[h] for h in sorted(fetched)], cursor=None, full=True
        )

    async def _multiget(
        self, url: str, hrefs: list[str]
    ) -> tuple[dict[str, RemoteEvent], set[str]]:
        """Bodies of ``hrefs``; the second result holds hrefs gone meanwhile."""
        events: dict[str, RemoteEvent] = {}
        gone: set[str] = set()
        size = self.quirks.multiget_batch_size
        for start in range(0, len(hrefs), size):
            batch = hrefs[start : start + size]
            response = await self._http.request(
                "REPORT",
                url,
                body=davxml.calendar_multiget(
                    [quote(h, safe=PATH_SAFE) for h in batch],
                    "d:getetag",
                    "c:calendar-data",
                ),
                content_type=XML,
                depth="1",
            )
            for item in self._http.multistatus(response).responses:
                data = item.text(CALENDAR_DATA)
                if item.status == 404 or data is None:
                    gone.add(item.href)
                else:
                    events[item.href] = _remote_event(
                        item.href, item.text(GETETAG), data
                    )
        return events, gone - set(events)

    # -- writing ----------------------------------------------------------

    async def get(self, calendar: CalendarRef, id: str) -> RemoteEvent | None:
        response = await self._http.request("GET", self._resource_url(calendar, id))
        if response.status_code == 404:
            return None
        self._http.raise_for_status(response)
        return _remote_event(
            davxml.normalize_href(id), response.headers.get("ETag"), response.text
        )

    async def create(
        self, calendar: CalendarRef, event: OutgoingEvent, key: str
    ) -> tuple[str, str | None]:
        if not _KEY_RE.fullmatch(key):
            raise ValueError(f"unsafe event key {key!r}")
        if event.key != key:
            event = replace(event, key=key)
        collection_path = urlsplit(as_collection(calendar_id(calendar))).path
        event_id = davxml.normalize_href(collection_path) + f"{key}.ics"
        url = self._resource_url(calendar, event_id)
        response = await self._http.request(
            "PUT",
            url,
            body=build_vevent(event),
            content_type=ICALENDAR,
            headers={"If-None-Match": "*"},
        )
        if response.status_code == 412:
            # A retry after a lost response: the first attempt went through.
            existing = await self.get(calendar, event_id)
            if existing is not None and existing.coach_key == key:
                return event_id, existing.etag
            raise PreconditionFailed(f"{url} already exists and is not ours")
        self._http.raise_for_status(response)
        return event_id, response.headers.get("ETag") or await self._etag_of(url)

    async def update(
        self, calendar: CalendarRef, id: str, event: OutgoingEvent, etag: str
    ) -> str | None:
        url = self._resource_url(calendar, id)
        response = await self._http.request(
            "PUT",
            url,
            body=build_vevent(event),
            content_type=ICALENDAR,
            headers={"If-Match": etag},
        )
        self._http.raise_for_status(response)
        return response.headers.get("ETag") or await self._etag_of(url)

    async def delete(self, calendar: CalendarRef, id: str, etag: str | None) -> None:
        headers = {"If-Match": etag} if etag else {}
        response = await self._http.request(
            "DELETE", self._resource_url(calendar, id), headers=headers
        )
        self._http.raise_for_status(response)

    async def _etag_of(self, url: str) -> str | None:
        # Some servers (iCloud among them) omit ETag when they rewrote the body.
        response = await self._http.request(
            "PROPFIND",
            url,
            body=davxml.propfind("d:getetag"),
            content_type=XML,
            depth="0",
        )
        items = self._http.multistatus(response).responses
        return items[0].text(GETETAG) if items else None

    # -- helpers ----------------------------------------------------------

    def _resource_url(self, calendar: CalendarRef, id: str) -> str:
        if id.startswith(("http://", "https://")):
            return id
        origin = urlsplit(calendar_id(calendar))
        return urlunsplit(
            (origin.scheme, origin.netloc, quote(id, safe=PATH_SAFE), "", "")
        )


def _remote_event(href: str, etag: str | None, raw: str) -> RemoteEvent:
    fields = quick_fields(raw)
    return RemoteEvent(
        id=href,
        etag=etag,
        uid=fields.uid,
        raw=raw,
        summary=fields.summary,
        coach_key=fields.coach_key,
    )
