"""The Microsoft Exchange (on-premises) provider over Exchange Web Services.

Built on exchangelib; every blocking call runs in a worker thread and is
retried after ``ErrorServerBusy``'s back-off (see ``ews``).

Choices:

* Ids: a calendar is an EWS ``FolderId``; an event is the ``ItemId`` of a
  single item or of a recurring master; its etag is the ``ChangeKey``.
* Changes: ``SyncFolderItems`` with the folder's ``SyncState`` as cursor,
  512 changes per page (the maximum) until ``IncludesLastItemInRange``.
  Create/Update carry the item; Delete only its id. An invalid SyncState
  (``ErrorInvalidSyncStateData``) raises ``CursorInvalid``: the engine then
  lists in full and reconciles deletions made during the gap.
* Busy time: SyncFolderItems reports series masters, not occurrences, and
  knows no window; the occurrences of each changed series come from one
  ``FindItem`` with a ``CalendarView`` over the sync window
  (``window_past`` before now to ``window_future`` after). An incremental
  pull (and ``get``) first asks the changed series for their first, last
  and modified occurrences (one ``GetItem``) and views only that span of
  the window: a moved occurrence in a large calendar costs a few requests,
  not a view of the whole window (a series with no end still needs it). CalendarView has
  no paging: when ``MaxEntriesReturned`` cuts the answer, the window is
  split at the last start returned and the rest asked for again. A
  series is re-read only when it changed or at the engine's daily full
  listing, which slides the window; the window (400 days ahead by default)
  covers the longest booking horizon (730 days is the maximum an appointment
  type allows: raise ``window_future`` for such coaches).
* Push: ``CreateItem`` with ``SendMeetingInvitations="SendToNone"`` and our
  key in a private extended property. A create first looks for an item
  already carrying the key (``FindItem`` with a restriction on it), so a
  retry after a lost answer returns the first item instead of a duplicate.
  ``update`` is ``UpdateItem`` with the stored ChangeKey and
  ``ConflictResolution="NeverOverwrite"``: a stale key
  (``ErrorIrresolvableConflict``) raises ``PreconditionFailed``; the engine
  re-reads and writes again, so the app's version wins.
* ``delete``: EWS ``DeleteItem`` ignores ChangeKeys, so a given etag is
  compared with the item's current ChangeKey (GetItem) first; the item
  then moves to Deleted Items (recoverable by the coach), without
  cancellations to attendees.
* Authentication: NTLM or Basic, as sign-in chose from the server's 401
  (``auth``), for every request.
* Errors: a rejected password → ``AuthError`` (reconnect); unreachable
  server → ``Transient``; an address that is no EWS endpoint →
  ``NotCalendarServer``; every address passes the URL guard first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from exchangelib import CalendarItem, EWSDateTime
from exchangelib.fields import FieldPath
from exchangelib.folders import Calendar, FolderCollection, Root
from exchangelib.items import ID_ONLY
from exchangelib.properties import CalendarView
from exchangelib.restriction import Q, Restriction
from exchangelib.services import FindItem, SyncFolderItems

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
from coach_app.calendars.errors import NotFound, PreconditionFailed, Transient
from coach_app.calendars.exchange.convert import (
    ITEM_FIELDS,
    KEY_FIELD,
    SPAN_FIELDS,
    UPDATE_FIELDS,
    VIEW_FIELDS,
    item_values,
    series_event,
    series_key,
    single_event,
)
from coach_app.calendars.exchange.ews import EwsCaller, make_account, map_error
from coach_app.calendars.exchange.urls import allowed_hosts, check_async

CALENDAR_CLASS = "IPF.Appointment"
MAX_SYNC_CHANGES = 512  # "MaxChangesReturned": 1–512
VIEW_MAX_ENTRIES = 1000  # EWSFindCountLimit's default
_MAX_SYNC_PAGES = 10_000
_SLACK = dt.timedelta(days=1)  # all-day instances: the coach's zone either way


class ExchangeProvider(ClosesOnExit):
    """``CalendarProvider`` for an Exchange mailbox. Use as ``async with`` or ``aclose``."""

    def __init__(
        self,
        email: str,
        password: str,
        ews_url: str,
        *,
        username: str | None = None,
        auth: str = "basic",
        allow_hosts: Iterable[str] | None = None,
        max_back_off: float = 60.0,
        sync_page: int = MAX_SYNC_CHANGES,
        view_max: int = VIEW_MAX_ENTRIES,
        window_past: dt.timedelta = dt.timedelta(days=2),
        window_future: dt.timedelta = dt.timedelta(days=400),
        timeout: float = 30.0,
        clock: Callable[[], dt.datetime] | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.email = email
        self.ews_url = ews_url
        self.auth = auth  # "basic" or "ntlm"
        self._allow = allowed_hosts(allow_hosts)
        self._account = make_account(
            ews_url, email, password, username=username, auth=auth, timeout=timeout
        )
        self._call = EwsCaller(max_back_off=max_back_off, sleep=sleep)
        self.sync_page = max(1, min(sync_page, MAX_SYNC_CHANGES))
        self.view_max = max(2, view_max)
        self.window_past = window_past
        self.window_future = window_future
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._checked = False

    async def aclose(self) -> None:
        await asyncio.to_thread(self._account.protocol.close)

    @property
    def backed_off(self) -> float:
        """Seconds this provider waited for ``ErrorServerBusy`` so far."""
        return self._call.waited

    # -- discovery -------------------------------------------------------------

    async def discover(self) -> Account:
        """Check the address and password with one GetFolder of the calendar."""
        await self._ready()
        await self._call("GetFolder calendar", lambda: self._account.calendar)
        return Account(
            provider="exchange",
            principal_url=self.email,
            home_url=self.ews_url,
            display_name=self.email,
            server="exchange",
            login=self.email,
        )

    async def list_calendars(self) -> list[SubCalendar]:
        """Every IPF.Appointment folder of the mailbox, the default calendar first."""
        await self._ready()
        default = await self._call("GetFolder calendar", lambda: self._account.calendar)
        root = await self._call(
            "GetFolder msgfolderroot", lambda: self._account.msg_folder_root
        )

        def find() -> list[Any]:
            return list(
                FolderCollection(account=self._account, folders=[root]).find_folders(
                    depth="Deep"
                )
            )

        found = await self._call("FindFolder", find)
        calendars = [
            f
            for f in found
            if not isinstance(f, Exception)
            and (f.folder_class or "").startswith(CALENDAR_CLASS)
        ]
        ordered = sorted(
            calendars, key=lambda f: (f.id != default.id, (f.name or "").casefold())
        )
        return [
            SubCalendar(
                id=f.id, name=f.name or "Calendar", can_write=True, ctag=f.changekey
            )
            for f in ordered
        ]

    # -- pulling ----------------------------------------------------------------------

    async def changes(self, calendar: CalendarRef, cursor: str | None) -> ChangeSet:
        if cursor is None:
            return await self.list_all(calendar)
        folder = await self._folder(calendar)
        changed, deleted, state = await self._sync(folder, cursor)
        events = await self._events(folder, changed.values(), narrow=True)
        return ChangeSet(
            changed=events,
            deleted=sorted(deleted - set(changed)),
            cursor=state,
            full=False,
        )

    async def list_all(self, calendar: CalendarRef) -> ChangeSet:
        folder = await self._folder(calendar)
        changed, _, state = await self._sync(folder, None)
        events = await self._events(folder, changed.values())
        return ChangeSet(changed=events, deleted=[], cursor=state, full=True)

    async def _sync(
        self, folder: Calendar, state: str | None
    ) -> tuple[dict[str, CalendarItem], set[str], str]:
        """All SyncFolderItems pages after ``state``: changed items, deleted ids, new state."""
        changed: dict[str, CalendarItem] = {}
        deleted: set[str] = set()
        fields = {
            FieldPath(field=CalendarItem.get_field_by_fieldname(name))
            for name in ITEM_FIELDS
        }
        for _ in range(_MAX_SYNC_PAGES):
            service = SyncFolderItems(account=self._account)
            sent = state

            def page(
                service: SyncFolderItems = service, sent: str | None = sent
            ) -> list[tuple[str, Any]]:
                return list(
                    service.call(
                        folder=folder,
                        shape=ID_ONLY,
                        additional_fields=fields,
                        sync_state=sent,
                        ignore=None,
                        max_changes_returned=self.sync_page,
                        sync_scope=None,
                    )
                )

            for kind, item in await self._call("SyncFolderItems", page):
                if kind == SyncFolderItems.DELETE:
                    deleted.add(str(item.id))
                    changed.pop(str(item.id), None)
                elif kind in (
                    SyncFolderItems.CREATE,
                    SyncFolderItems.UPDATE,
                ) and isinstance(item, CalendarItem):
                    changed[str(item.id)] = item
                    deleted.discard(str(item.id))
            state = service.sync_state
            if service.includes_last_item_in_range or state == sent:
                return changed, deleted, str(state)
        raise Transient(f"SyncFolderItems: more than {_MAX_SYNC_PAGES} pages")

    async def _events(
        self, folder: Calendar, items: Iterable[CalendarItem], *, narrow: bool = False
    ) -> list[RemoteEvent]:
        """``narrow``: few series changed (an incremental pull, one item), so
        the CalendarView covers only the time their instances occupy."""
        items = list(items)
        masters = [i for i in items if i.type == "RecurringMaster"]
        occurrences: dict[bytes | None, list[CalendarItem]] = {}
        if masters:
            now = self._clock()
            start, end = now - self.window_past, now + self.window_future
            span = await self._span(folder, masters) if narrow else None
            if span is not None:
                start, end = max(start, span[0]), min(end, span[1])
            view = await self._view(folder, start, end) if start < end else []
            for occ in view:
                occurrences.setdefault(series_key(occ), []).append(occ)
        events = [
            series_event(i, occurrences.get(series_key(i) or b"-", []), self.email)
            if i.type == "RecurringMaster"
            else single_event(i, self.email)
            for i in items
        ]
        return sorted(events, key=lambda e: e.id)

    async def _span(
        self, folder: Calendar, masters: list[CalendarItem]
    ) -> tuple[dt.datetime, dt.datetime] | None:
        """From one GetItem: from the earliest to the latest instance of these
        series (first, last and every modified occurrence, by start and
        original start), a day of slack either side; None when a series has
        no last occurrence (no end) or the answer lacks them."""

        def read() -> list[Any]:
            return list(
                self._account.fetch(
                    ids=[(m.id, None) for m in masters],
                    folder=folder,  # validates the fields without a GetFolder
                    only_fields=list(SPAN_FIELDS),
                )
            )

        moments: list[dt.datetime] = []
        for found in await self._call("GetItem", read):
            if not isinstance(found, CalendarItem):
                return None
            first, last = found.first_occurrence, found.last_occurrence
            if first is None or last is None:
                return None
            for occ in [first, last, *(found.modified_occurrences or [])]:
                moments += [
                    _utc(m) for m in (occ.start, occ.end, occ.original_start) if m
                ]
        if not moments:
            return None
        return min(moments) - _SLACK, max(moments) + _SLACK

    async def _view(
        self, folder: Calendar, start: dt.datetime, end: dt.datetime
    ) -> list[CalendarItem]:
        """Occurrences and exceptions in ``[start, end)``, by CalendarView."""

        def read(view: CalendarView) -> list[CalendarItem]:
            return self._find(
                folder, VIEW_FIELDS, calendar_view=view, max_items=self.view_max
            )

        found: dict[tuple[str, object], CalendarItem] = {}
        window_start = start
        while True:
            view = CalendarView(
                start=EWSDateTime.from_datetime(window_start),
                end=EWSDateTime.from_datetime(end),
                max_items=self.view_max,
            )
            page = await self._call("FindItem CalendarView", partial(read, view))
            for occ in page:
                found[(str(occ.id), occ.start)] = occ
            if len(page) < self.view_max:
                break
            # Cut at MaxEntriesReturned (results come by start time): go on
            # from the last start seen; what overlaps both parts is kept once.
            last = max(_utc(o.start) for o in page)
            if last <= window_start:
                raise Transient(
                    f"more than {self.view_max} calendar entries start at {last}"
                )
            window_start = last
        return [o for o in found.values() if o.type in ("Occurrence", "Exception")]

    # -- single events -------------------------------------------------------------------

    async def get(self, calendar: CalendarRef, id: str) -> RemoteEvent | None:
        folder = await self._folder(calendar)
        item = await self._fetch(id, ITEM_FIELDS)
        if item is None:
            return None
        return (await self._events(folder, [item], narrow=True))[0]

    async def _fetch(self, id: str, fields: Iterable[str]) -> CalendarItem | None:
        def read() -> object:
            return next(
                iter(self._account.fetch(ids=[(id, None)], only_fields=list(fields)))
            )

        result = await self._call("GetItem", read)
        if isinstance(result, Exception):
            mapped = map_error("GetItem", result)
            if isinstance(mapped, NotFound):
                return None
            raise mapped
        return result if isinstance(result, CalendarItem) else None

    async def create(
        self, calendar: CalendarRef, event: OutgoingEvent, key: str
    ) -> tuple[str, str | None]:
        folder = await self._folder(calendar)

        restriction = Restriction(
            Q(**{KEY_FIELD: key}), folders=[folder], applies_to=Restriction.ITEMS
        )

        def existing() -> list[CalendarItem]:
            return self._find(
                folder, (KEY_FIELD,), restriction=restriction, max_items=1
            )

        found = await self._call("FindItem by key", existing)
        if found:  # a retry after a lost answer: the first create stands
            return str(found[0].id), found[0].changekey
        values = item_values(event)
        values[KEY_FIELD] = key

        def save() -> CalendarItem:
            item = CalendarItem(account=self._account, folder=folder, **values)
            item.save(send_meeting_invitations="SendToNone")
            return item

        created = await self._call("CreateItem", save)
        return str(created.id), created.changekey

    async def update(
        self, calendar: CalendarRef, id: str, event: OutgoingEvent, etag: str
    ) -> str | None:
        folder = await self._folder(calendar)
        values = item_values(event)

        def save() -> CalendarItem:
            item = CalendarItem(
                account=self._account, folder=folder, id=id, changekey=etag, **values
            )
            item.save(
                update_fields=list(UPDATE_FIELDS),
                conflict_resolution="NeverOverwrite",
                send_meeting_invitations="SendToNone",
            )
            return item

        saved = await self._call("UpdateItem", save)
        return saved.changekey

    async def delete(self, calendar: CalendarRef, id: str, etag: str | None) -> None:
        folder = await self._folder(calendar)
        if etag is not None:
            current = await self._fetch(id, ("subject",))
            if current is None:
                raise NotFound(f"DeleteItem {id}: not found")
            if current.changekey != etag:
                raise PreconditionFailed(f"DeleteItem {id}: ChangeKey changed")

        def remove() -> None:
            item = CalendarItem(
                account=self._account, folder=folder, id=id, changekey=etag
            )
            item.move_to_trash(send_meeting_cancellations="SendToNone")

        await self._call("DeleteItem", remove)

    # -- helpers ---------------------------------------------------------------------------

    def _find(
        self,
        folder: Calendar,
        fields: Iterable[str],
        *,
        calendar_view: CalendarView | None = None,
        restriction: Restriction | None = None,
        max_items: int,
    ) -> list[CalendarItem]:
        """One FindItem request (blocking), every field in the response
        itself: exchangelib's QuerySet would add GetItem requests for
        extended properties."""
        service = FindItem(account=self._account, page_size=max_items)
        found = service.call(
            folders=[folder],
            additional_fields={
                FieldPath(field=CalendarItem.get_field_by_fieldname(f)) for f in fields
            },
            restriction=restriction,
            order_fields=None,
            shape=ID_ONLY,
            query_string=None,
            depth="Shallow",
            calendar_view=calendar_view,
            max_items=max_items,
            offset=0,
        )
        items = []
        for item in found:
            if isinstance(item, Exception):
                raise item
            if isinstance(item, CalendarItem):
                items.append(item)
        return items

    async def _ready(self) -> None:
        if not self._checked:
            await check_async(self.ews_url, self._allow)
            self._checked = True

    async def _folder(self, calendar: CalendarRef) -> Calendar:
        await self._ready()
        # A Root built locally (no GetFolder): services need only the id.
        return Calendar(root=Root(account=self._account), id=calendar_id(calendar))


def _utc(moment: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(moment, dt.datetime):
        return dt.datetime.fromtimestamp(moment.timestamp(), dt.UTC)
    return dt.datetime.combine(moment, dt.time(0), dt.UTC)
