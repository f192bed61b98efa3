"""The Microsoft Graph provider (Office 365 and Outlook.com) over ``httpx``.

Choices:

* Ids are immutable ids (``Prefer: IdType="ImmutableId"``), so an event the
  coach moves to another calendar keeps its id. A calendar's id is Graph's.
* Pull: ``calendarView/delta`` of one calendar over a window of
  ``[now − window_past, now + window_future]`` (2 days back, 740 days ahead:
  the longest booking horizon, 730 days, plus the engine's margins). Series
  arrive expanded, so every single event, occurrence and exception is its
  own ``RemoteEvent`` (see ``convert``). ``list_all`` starts a new round;
  ``changes`` follows the stored ``deltaLink``. Every ``nextLink`` is
  followed to the ``deltaLink`` with the page retried on 429/503 and the
  token refreshed on 401 (``GraphHttp``); a walk that cannot finish raises,
  and nothing of it is returned: a partial walk is never a result.
* The cursor is ``graph1|<window start>|<window end>|<round start>|<deltaLink>``.
  The window slides daily: once the stored window is a day old, ``changes``
  answers with a full listing over a new window (``full=True``), which the
  engine reconciles against its copy, so deletions made meanwhile are not
  lost. An expired or evicted token (410, or ``syncStateNotFound`` /
  ``resyncRequired`` in any case) is ``CursorInvalid``.
* Removals: Graph reports removals also for events outside the window —
  ones that left it, and ones the app never had (created or changed far
  away). Each removed id is looked up (at most ``verify_limit`` per pull):
  gone (404) → deleted; still there and carrying our key → changed (the
  engine puts our appointment back); still there inside the window →
  changed; still there outside the window and created after the round
  began → ignored (never ours to delete); otherwise deleted (harmless when
  it was never stored). Items seen twice in a round (replays) count once,
  the last one winning.
* Push: create with ``transactionId = "coachapp:<key>"`` (a retried create
  returns the first event instead of a second one) and the key in a private
  extended property. Outlook may refuse that id once it made an event the
  coach has since deleted (``ErrorDuplicateTransactionId``, "already been
  used to create a different event"): the event is then created with the
  next one, ``"coachapp:<key>:2"``, ``":3"``… (the same sequence on a
  retry, so a retried create still finds its event); ``update`` is a PATCH with ``If-Match`` (412 →
  ``PreconditionFailed``); ``delete`` sends ``If-Match`` when given.
* Change notifications: ``watch`` creates a subscription on the calendar's
  events (Graph chooses its id; ``clientState`` is our secret; the lifetime
  is capped at ``max_subscription`` — 4,230 minutes for Outlook events —
  minus a margin), ``renew`` PATCHes its expiry, ``stop_channel`` deletes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
    ProviderError,
    Transient,
)
from coach_app.calendars.microsoft.config import OFFICE365, Preset, graph_base_from_env
from coach_app.calendars.microsoft.convert import (
    KEY_PROPERTY_ID,
    event_body,
    interval,
    key_of,
    parse_time,
    remote_event,
    transaction_id_again,
)
from coach_app.calendars.microsoft.http import GraphHttp, RequestHook, Sleep, error_code
from coach_app.calendars.microsoft.push import GraphSubscription
from coach_app.calendars.oauth import AccessTokenSource, StaticToken

log = logging.getLogger(__name__)

# Outlook's code for a transactionId that already made a different event.
DUPLICATE_TRANSACTION = "ErrorDuplicateTransactionId"
# How many transactionIds one appointment's event may go through (each one
# an event the coach deleted): then the create fails in plain words.
MAX_TRANSACTION_IDS = 20

MAX_PAGES = 5000
MAX_SUBSCRIPTION = timedelta(minutes=4230)
SUBSCRIPTION_MARGIN = timedelta(minutes=5)
_RESET_CODES = frozenset({"syncstatenotfound", "resyncrequired"})
_EXPAND_KEY = f"singleValueExtendedProperties($filter=id eq '{KEY_PROPERTY_ID}')"
_CURSOR_TAG = "graph1"


@dataclass(frozen=True)
class _Cursor:
    lo: datetime
    hi: datetime
    started: datetime
    link: str

    def encode(self) -> str:
        parts = (
            _CURSOR_TAG,
            self.lo.isoformat(),
            self.hi.isoformat(),
            self.started.isoformat(),
            self.link,
        )
        return "|".join(parts)

    @classmethod
    def decode(cls, text: str) -> _Cursor:
        try:
            tag, lo, hi, started, link = text.split("|", 4)
            if tag != _CURSOR_TAG or not link:
                raise ValueError(tag)
            return cls(
                datetime.fromisoformat(lo),
                datetime.fromisoformat(hi),
                datetime.fromisoformat(started),
                link,
            )
        except ValueError as exc:
            raise CursorInvalid(f"not a Graph cursor: {text[:40]!r}") from exc


class MicrosoftGraphProvider(ClosesOnExit):
    """``CalendarProvider`` for Microsoft Graph. Use as ``async with`` or ``aclose``."""

    def __init__(
        self,
        access_token_source: AccessTokenSource | str,
        *,
        preset: Preset = OFFICE365,
        graph_base: str | None = None,
        page_size: int = 200,
        window_past: timedelta = timedelta(days=2),
        window_future: timedelta = timedelta(days=740),
        rewindow_after: timedelta = timedelta(days=1),
        verify_limit: int = 20,
        max_subscription: timedelta = MAX_SUBSCRIPTION,
        attempts: int = 5,
        max_wait: float = 60.0,
        timeout: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], datetime] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        """``access_token_source``: a ``TokenSource`` (refreshes) or a bare
        access token; ``graph_base`` None reads ``COACH_APP_MICROSOFT_GRAPH_BASE``;
        ``page_size`` is ``Prefer: odata.maxpagesize`` for delta pages;
        ``clock`` (aware UTC "now") places the sync window, real time by
        default (a test that runs the engine at a fixed time passes its own)."""
        tokens = (
            StaticToken(access_token_source, reconnect_message=preset.reconnect_message)
            if isinstance(access_token_source, str)
            else access_token_source
        )
        self.preset = preset
        self.graph_base = (graph_base or graph_base_from_env()).rstrip("/")
        self.page_size = max(1, min(page_size, 1000))
        self.window_past = window_past
        self.window_future = window_future
        self.rewindow_after = rewindow_after
        self.verify_limit = verify_limit
        self.max_subscription = max_subscription
        self._clock = clock
        self._http = GraphHttp(
            tokens,
            graph_base=self.graph_base,
            reconnect_message=preset.reconnect_message,
            timeout=timeout,
            attempts=attempts,
            max_wait=max_wait,
            sleep=sleep,
            transport=transport,
            on_request=on_request,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def now(self) -> datetime:
        return self._clock() if self._clock is not None else datetime.now(UTC)

    # -- discovery -------------------------------------------------------------------

    async def discover(self) -> Account:
        """The signed-in account (``/me``): personal accounts may have no
        ``mail``, so the sign-in name falls back to ``userPrincipalName``."""
        me = await self._json("GET", "/me")
        login = str(me.get("mail") or me.get("userPrincipalName") or "")
        return Account(
            provider=self.preset.key,
            principal_url=str(me.get("id") or login),
            home_url=self.graph_base,
            display_name=str(me.get("displayName") or login),
            server=self.preset.key,
            login=login,
        )

    async def list_calendars(self) -> list[SubCalendar]:
        """The account's calendars, default first; read-only ones (``canEdit``
        false: shared with read access) cannot be pushed to."""
        entries: list[dict[str, Any]] = []
        link: str | None = "/me/calendars"
        params: dict[str, str | int] | None = {"$top": 100}
        for _ in range(MAX_PAGES):
            if link is None:
                break
            body = await self._json("GET", link, params=params)
            entries.extend(body.get("value") or [])
            following = body.get("@odata.nextLink")
            link = self._follow(following) if following else None
            params = None
        entries.sort(key=lambda e: not e.get("isDefaultCalendar", False))
        return [
            SubCalendar(
                id=str(e["id"]),
                name=str(e.get("name") or e["id"]),
                color=e.get("hexColor") or None,
                can_write=bool(e.get("canEdit", False)),
                ctag=e.get("changeKey"),
            )
            for e in entries
        ]

    # -- pulling ----------------------------------------------------------------------

    async def list_all(self, calendar: CalendarRef) -> ChangeSet:
        """A new delta round over a new window: everything in it, and a cursor."""
        cal = calendar_id(calendar)
        now = self.now().replace(minute=0, second=0, microsecond=0)
        lo, hi = now - self.window_past, now + self.window_future
        started = self.now()
        params: dict[str, str | int] = {
            "startDateTime": lo.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": hi.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        path = f"/me/calendars/{_q(cal)}/calendarView/delta"
        try:
            items, link = await self._walk(path, params)
        except CursorInvalid as exc:  # a skip token evicted mid-walk: once more
            log.info("%s: delta round reset during a full listing (%s)", cal, exc)
            items, link = await self._walk(path, params)
        changed: dict[str, dict[str, Any]] = {}
        for item in items:
            if "@removed" in item:
                changed.pop(str(item["id"]), None)
            else:
                changed[str(item["id"])] = item
        return ChangeSet(
            changed=self._convert(changed.values()),
            deleted=[],
            cursor=_Cursor(lo, hi, started, link).encode(),
            full=True,
        )

    async def changes(self, calendar: CalendarRef, cursor: str | None) -> ChangeSet:
        if cursor is None:
            return await self.list_all(calendar)
        state = _Cursor.decode(cursor)
        if self.now() - (state.lo + self.window_past) >= self.rewindow_after:
            return await self.list_all(calendar)  # the window slid: re-window
        self._follow(state.link)  # refuse a link to another host
        started = self.now()
        items, link = await self._walk(state.link, None)
        changed: dict[str, dict[str, Any]] = {}
        removed: set[str] = set()
        for item in items:
            item_id = str(item["id"])
            if "@removed" in item:
                removed.add(item_id)
                changed.pop(item_id, None)
            else:
                changed[item_id] = item
                removed.discard(item_id)
        deleted = await self._confirm_removals(removed, state, changed)
        return ChangeSet(
            changed=self._convert(changed.values()),
            deleted=sorted(deleted),
            cursor=_Cursor(state.lo, state.hi, started, link).encode(),
            full=False,
        )

    async def _walk(
        self, first: str, params: dict[str, str | int] | None
    ) -> tuple[list[dict[str, Any]], str]:
        """Every page of a delta round: the items and the ``deltaLink``."""
        items: list[dict[str, Any]] = []
        link, query = first, params
        prefer = f"odata.maxpagesize={self.page_size}"
        for _ in range(MAX_PAGES):
            response = await self._http.request(
                "GET", link, params=query, prefer=prefer
            )
            if response.status_code == 410 or (
                response.status_code in (400, 404)
                and error_code(response).lower() in _RESET_CODES
            ):
                raise CursorInvalid(f"delta token rejected ({response.status_code})")
            self._http.raise_for_status(response)
            body = response.json()
            items.extend(body.get("value") or [])
            if body.get("@odata.deltaLink"):
                return items, self._follow(body["@odata.deltaLink"])
            if not body.get("@odata.nextLink"):
                raise Transient("a delta page without nextLink or deltaLink")
            link, query = self._follow(body["@odata.nextLink"]), None
        raise Transient(f"a delta round of more than {MAX_PAGES} pages")

    async def _confirm_removals(
        self, removed: set[str], state: _Cursor, changed: dict[str, dict[str, Any]]
    ) -> set[str]:
        """Which removed ids are deletions (see the module docstring)."""
        deleted: set[str] = set()
        for count, item_id in enumerate(sorted(removed)):
            if count >= self.verify_limit:
                deleted.add(item_id)
                continue
            item = await self._get_item(item_id)
            if item is None:
                deleted.add(item_id)
            elif key_of(item) or self._in_window(item, state):
                changed[item_id] = item
            elif not self._created_after(item, state.started):
                deleted.add(item_id)
        return deleted

    @staticmethod
    def _in_window(item: dict[str, Any], state: _Cursor) -> bool:
        try:
            start, end = interval(item)
        except (KeyError, ValueError, TypeError):
            return False
        if isinstance(start, datetime) and isinstance(end, datetime):
            return start < state.hi and end > state.lo
        # All-day dates: a day of slack either way for the coach's zone.
        return start <= state.hi.date() and end >= state.lo.date()

    @staticmethod
    def _created_after(item: dict[str, Any], moment: datetime) -> bool:
        created = parse_time(item.get("createdDateTime"))
        return created is not None and created > moment + timedelta(minutes=1)

    def _convert(self, items: Iterable[dict[str, Any]]) -> list[RemoteEvent]:
        return sorted((remote_event(item) for item in items), key=lambda e: e.id)

    # -- single events ---------------------------------------------------------------

    async def get(self, calendar: CalendarRef, id: str) -> RemoteEvent | None:
        item = await self._get_item(id)
        return remote_event(item) if item is not None else None

    async def _get_item(self, id: str) -> dict[str, Any] | None:
        response = await self._http.request(
            "GET", f"/me/events/{_q(id)}", params={"$expand": _EXPAND_KEY}
        )
        if response.status_code in (404, 410):
            return None
        self._http.raise_for_status(response)
        return dict(response.json())

    async def create(
        self, calendar: CalendarRef, event: OutgoingEvent, key: str
    ) -> tuple[str, str | None]:
        if event.key != key:
            event = OutgoingEvent(
                key=key,
                summary=event.summary,
                start=event.start,
                end=event.end,
                description=event.description,
                location=event.location,
            )
        path = f"/me/calendars/{_q(calendar_id(calendar))}/events"
        body = event_body(event)
        # transactionId makes a repeat return the same event: safe to resend
        response = await self._http.request("POST", path, json=body, safe=True)
        for attempt in range(2, MAX_TRANSACTION_IDS + 1):
            if not (
                response.status_code >= 400
                and error_code(response) == DUPLICATE_TRANSACTION
            ):
                break
            body["transactionId"] = transaction_id_again(key, attempt)
            response = await self._http.request("POST", path, json=body, safe=True)
        self._http.raise_for_status(response)
        data = dict(response.json())
        return str(data["id"]), data.get("@odata.etag")

    async def update(
        self, calendar: CalendarRef, id: str, event: OutgoingEvent, etag: str
    ) -> str | None:
        data = await self._json(
            "PATCH",
            f"/me/events/{_q(id)}",
            json=event_body(event, with_key=False),
            headers={"If-Match": etag} if etag else None,
        )
        return data.get("@odata.etag")

    async def delete(self, calendar: CalendarRef, id: str, etag: str | None) -> None:
        response = await self._http.request(
            "DELETE",
            f"/me/events/{_q(id)}",
            headers={"If-Match": etag} if etag else None,
        )
        self._http.raise_for_status(response)

    # -- change notifications --------------------------------------------------------

    async def watch(
        self,
        calendar: CalendarRef,
        address: str,
        token: str,
        ttl: timedelta | float = MAX_SUBSCRIPTION,
        *,
        channel_id: str | None = None,
    ) -> GraphSubscription:
        """Subscribe to changes of ``calendar``'s events at ``address``.

        Graph first checks ``address`` with a validation request (answer it:
        ``push.validation_answer``); ``token`` is the ``clientState`` every
        notification carries; ``ttl`` is capped at the maximum; ``channel_id``
        is ignored (Graph chooses the subscription's id).
        """
        cal = calendar_id(calendar)
        data = await self._json(
            "POST",
            "/subscriptions",
            json={
                "changeType": "created,updated,deleted",
                "notificationUrl": address,
                "lifecycleNotificationUrl": address,
                "resource": f"me/calendars/{cal}/events",
                "expirationDateTime": self._expiry(ttl),
                "clientState": token,
            },
        )
        return GraphSubscription(
            id=str(data["id"]),
            resource_id=str(data["id"]),
            token=token,
            expiration=parse_time(data.get("expirationDateTime")),
            calendar_id=cal,
        )

    async def renew(
        self, subscription_id: str, ttl: timedelta | float = MAX_SUBSCRIPTION
    ) -> datetime | None:
        """Extend a subscription (also answers ``reauthorizationRequired``);
        returns the new expiry."""
        data = await self._json(
            "PATCH",
            f"/subscriptions/{_q(subscription_id)}",
            json={"expirationDateTime": self._expiry(ttl)},
        )
        return parse_time(data.get("expirationDateTime"))

    async def stop_channel(self, channel_id: str, resource_id: str) -> None:
        """Delete the subscription ``resource_id``; one already gone counts
        as stopped."""
        try:
            await self._json(
                "DELETE", f"/subscriptions/{_q(resource_id)}", expect_body=False
            )
        except NotFound:
            log.info("subscription %s was already gone", resource_id)

    def _expiry(self, ttl: timedelta | float) -> str:
        wanted = ttl if isinstance(ttl, timedelta) else timedelta(seconds=float(ttl))
        lifetime = min(wanted, self.max_subscription - SUBSCRIPTION_MARGIN)
        # Graph's clock, not the sync window's: real time.
        return (datetime.now(UTC) + lifetime).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")

    # -- helpers ----------------------------------------------------------------------

    def _follow(self, link: Any) -> str:
        """A nextLink/deltaLink, if it points at our Graph base (our token
        goes only there)."""
        text = str(link)
        if "://" in text and not text.startswith(self.graph_base + "/"):
            raise ProviderError(f"Graph sent a link to another host: {text[:60]}")
        return text

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | int] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        safe: bool | None = None,
        expect_body: bool = True,
    ) -> dict[str, Any]:
        response = await self._http.request(
            method, path, params=params, json=json, headers=headers, safe=safe
        )
        self._http.raise_for_status(response)
        if not expect_body or not response.content:
            return {}
        return dict(response.json())


def _q(value: str) -> str:
    """Percent-encode an id for a path segment."""
    return quote(value, safe="")
