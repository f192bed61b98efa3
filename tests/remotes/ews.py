"""Exchange (EWS) from outside: the EWS sandbox's ``Mailbox`` stands for the
coach using Outlook, and its fault injector for Exchange's documented error
answers (``sandbox.ews.faults``).

What differs from CalDAV is data (``EXCHANGE``): Exchange names every item
itself, so the app's event is found by the key it carries, not at a name
made from it; its UID is Exchange's; SyncState says nothing of staying the
same when nothing changed; EWS is one SOAP endpoint, so every request is
``POST /EWS/Exchange.asmx``.

``auth``: the scheme the app's providers use ("basic" or "ntlm"), as
sign-in stores it in the connection's ``server_profile``; with an NTLM-only
sandbox every request of the suite is NTLM-authenticated.

Recurring events: ``add_series`` reads the RRULE and EXDATE lines the
suites write and makes the EWS recurrence pattern of them (Daily and
Weekly with COUNT, UNTIL, INTERVAL and BYDAY); each EXDATE is a deleted
occurrence, as Outlook stores it.
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from coach_app.calendars import registry
from coach_app.calendars.base import CalendarProvider
from coach_app.calendars.exchange import ExchangeProvider
from coach_app.calendars.exchange.auth import auth_of_profile
from coach_app.calendars.exchange.convert import CoachAppKey
from coach_app.calendars.exchange.ews import AUTH_MESSAGE
from coach_app.calendars.oauth import AccessTokenSource
from coach_app.calendars.spec import Credentials
from remotes import (
    DROP,
    RATE_LIMIT,
    SERVER_ERROR,
    TIMEOUT,
    AccountExpectations,
    Added,
    ConnectionFields,
    Quirks,
    Remote,
    RequestHook,
    Stored,
)
from sandbox.ews import EwsSandbox, Item, Mailbox, Recurrence
from sandbox.ews.store import ExtKey

LOOPBACK = frozenset({"127.0.0.1"})
PASSWORD = "Coach-Pass-1"
EWS_PATH = "/EWS/Exchange.asmx"

EXCHANGE = Quirks(
    key="exchange",
    # EWS is one SOAP endpoint (every operation is a POST to it): an
    # incremental pull of one single item is one SyncFolderItems request.
    incremental_pull_requests=(r"POST /EWS/Exchange\.asmx",),
    # "SyncState": an opaque string; the reference promises nothing about
    # it staying the same when nothing changed.
    quiet_pull_keeps_cursor=False,
    # Exchange makes the UID ("UID", calendar items) when the client sends none.
    app_event_uid="{uid}",
    auth_error_detail="UnauthorizedError",
    reconnect_message=AUTH_MESSAGE,
    reconnect_subject="Please reconnect your Exchange calendar ({account})",
    # Items are structured properties: nothing unreadable can be stored.
    refuses_unreadable_entries=True,
    # "ItemId": Exchange assigns it on CreateItem; clients cannot choose it.
    server_assigns_ids=True,
)
KEY: ExtKey = (CoachAppKey.property_set_id, CoachAppKey.property_name, "String")
_CATEGORY = "Blue category"  # what ``touch`` sets: neither time nor title
_DAYS = {
    "MO": "Monday",
    "TU": "Tuesday",
    "WE": "Wednesday",
    "TH": "Thursday",
    "FR": "Friday",
    "SA": "Saturday",
    "SU": "Sunday",
}
_FREQ = {"DAILY": "DailyRecurrence", "WEEKLY": "WeeklyRecurrence"}
_mailboxes = itertools.count(1)


def _zone_name(moment: dt.datetime) -> str:
    return getattr(moment.tzinfo, "key", None) or "UTC"


def _exdate(line: str) -> dt.datetime:
    """``EXDATE;TZID=Zone:YYYYMMDDTHHMMSS`` or ``EXDATE:YYYYMMDDTHHMMSSZ``."""
    head, _, value = line.partition(":")
    params = dict(p.split("=", 1) for p in head.split(";")[1:])
    moment = dt.datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")
    zone = ZoneInfo(params["TZID"]) if "TZID" in params else dt.UTC
    return moment.replace(tzinfo=zone)


def recurrence(start: dt.datetime, rule: str) -> Recurrence:
    """The EWS pattern of an RRULE line starting at ``start`` (wall clock)."""
    parts = dict(p.split("=", 1) for p in rule.removeprefix("RRULE:").split(";"))
    unknown = set(parts) - {"FREQ", "COUNT", "UNTIL", "INTERVAL", "BYDAY"}
    if unknown or parts["FREQ"] not in _FREQ:
        raise NotImplementedError(f"no EWS pattern written for {rule}")
    values: dict[str, Any] = {
        "pattern": _FREQ[parts["FREQ"]],
        "interval": int(parts.get("INTERVAL", "1")),
        "start": start.date(),
    }
    if parts["FREQ"] == "WEEKLY":
        days = parts.get("BYDAY", "").split(",") if "BYDAY" in parts else []
        values["days_of_week"] = tuple(_DAYS[d] for d in days) or (
            start.strftime("%A"),
        )
    if "COUNT" in parts:
        values["count"] = int(parts["COUNT"])
    if "UNTIL" in parts:
        values["end"] = dt.datetime.strptime(parts["UNTIL"][:8], "%Y%m%d").date()
    return Recurrence(**values)


class _Observed:
    """A provider whose HTTP requests are reported to ``on_request`` as the
    sandbox received them (exchangelib sends through ``requests``, which
    has no request hook of the kind httpx has)."""

    def __init__(
        self, inner: ExchangeProvider, remote: EwsRemote, hook: RequestHook
    ) -> None:
        self._inner = inner
        self._remote = remote
        self._hook = hook
        self._seen = len(remote.ews.state.request_log())

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(method) or name == "aclose":
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            finally:
                await self._report()

        return call

    async def _report(self) -> None:
        log = self._remote.ews.state.request_log()
        new, self._seen = log[self._seen :], len(log)
        url = self._remote.ews.ews_url
        for record in new:
            if record.user == self._remote.email:
                await self._hook(httpx.Request("POST", url))


class EwsRemote(Remote):
    """A fresh mailbox in the sandbox; ``seeded``: a "Clients" calendar under
    Calendar, a "Family" one at the top and a mail folder (not listed).

    ``now``: the providers' clock, so that the window their CalendarView
    reads occurrences in covers the suite's dates."""

    def __init__(
        self,
        ews: EwsSandbox,
        *,
        now: dt.datetime,
        seeded: bool = False,
        timezone: str = "UTC",
        max_back_off: float = 60.0,
        auth: str = "basic",
    ) -> None:
        super().__init__(EXCHANGE)
        self.ews = ews
        self.auth = auth
        self.now = now
        self.timezone = timezone
        self.max_back_off = max_back_off
        self.email = f"coach{next(_mailboxes)}@example.com"
        self.password = PASSWORD
        self.mailbox: Mailbox = ews.state.add_user(self.email, PASSWORD, "Kim Coach")
        self.seeded: dict[str, str] = {}
        if seeded:
            mailbox = self.mailbox
            self.seeded["Clients"] = mailbox.create_folder("Clients").id
            self.seeded["Family"] = mailbox.create_folder(
                "Family", parent="msgfolderroot"
            ).id
            mailbox.create_folder(
                "Notes", parent="msgfolderroot", folder_class="IPF.Note"
            )

    # -- calendars ---------------------------------------------------------
    def new_calendar(self, name: str) -> str:
        cal = self.mailbox.create_folder(name).id
        self.created.append(cal)
        return cal

    def drop_calendar(self, cal: str) -> None:
        with self.mailbox.lock:
            self.mailbox.folders.pop(cal, None)

    # -- changes from outside ---------------------------------------------
    def _item(self, cal: str, id: str) -> Item:
        item = self.mailbox.folder(cal).items.get(id)
        assert item is not None, f"no item {id} in {cal}"
        return item

    def _added(self, item: Item) -> Added:
        return Added(item.id, item.change_key, item.uid)

    def add(
        self,
        cal: str,
        summary: str,
        start: dt.datetime,
        minutes: int = 60,
        *,
        transparent: bool = False,
        declined_by: str | None = None,
    ) -> Added:
        # A declined meeting in the coach's mailbox: MyResponseType Decline.
        item = self.mailbox.add_item(
            cal,
            summary,
            start,
            start + dt.timedelta(minutes=minutes),
            free_busy="Free" if transparent else "Busy",
            my_response="Decline" if declined_by else "Organizer",
            timezone=_zone_name(start),
        )
        return self._added(item)

    def add_all_day(self, cal: str, summary: str, first: dt.date, days: int) -> Added:
        # Outlook stores an all-day event from midnight to midnight in the
        # mailbox's time zone.
        zone = ZoneInfo(self.timezone)
        start = dt.datetime.combine(first, dt.time(0), zone)
        end = dt.datetime.combine(first + dt.timedelta(days=days), dt.time(0), zone)
        item = self.mailbox.add_item(
            cal, summary, start, end, is_all_day=True, timezone=self.timezone
        )
        return self._added(item)

    def add_series(
        self, cal: str, summary: str, start: dt.datetime, minutes: int, rules: list[str]
    ) -> Added:
        [rule] = [r for r in rules if r.startswith("RRULE:")]
        item = self.mailbox.add_item(
            cal,
            summary,
            start,
            start + dt.timedelta(minutes=minutes),
            timezone=_zone_name(start),
            recurrence=recurrence(start, rule),
        )
        for line in rules:
            if line.startswith("EXDATE"):
                self.mailbox.delete_occurrence(item.id, _exdate(line))
        return self._added(item)

    def move_instance(
        self,
        cal: str,
        series_id: str,
        original: dt.datetime,
        start: dt.datetime,
        end: dt.datetime,
        summary: str | None = None,
    ) -> None:
        self._item(cal, series_id)
        self.mailbox.move_occurrence(series_id, original, start, end, subject=summary)

    def cancel_instance(self, cal: str, series_id: str, original: dt.datetime) -> None:
        self._item(cal, series_id)
        self.mailbox.delete_occurrence(series_id, original)

    def edit(self, cal: str, id: str, summary: str) -> str | None:
        self._item(cal, id)
        return self.mailbox.edit_item(id, subject=summary).change_key

    def move(self, cal: str, id: str, start: dt.datetime, end: dt.datetime) -> None:
        self._item(cal, id)
        self.mailbox.move_item(id, start, end)

    def touch(self, cal: str, id: str) -> str | None:
        item = self._item(cal, id)
        categories = (*item.categories, _CATEGORY)
        return self.mailbox.edit_item(id, categories=categories).change_key

    def touched(self, cal: str, id: str) -> bool:
        return _CATEGORY in self._item(cal, id).categories

    def delete(self, cal: str, id: str) -> None:
        self._item(cal, id)
        self.mailbox.delete_item(id)

    def ids(self, cal: str) -> list[str]:
        return sorted(self.mailbox.folder(cal).items)

    def stored(self, cal: str, id: str) -> Stored:
        item = self._item(cal, id)
        return Stored(
            id=item.id,
            etag=item.change_key,
            key=item.extended[KEY] if set(item.extended) == {KEY} else None,
            summary=item.subject,
            start=item.start,
            end=item.end,
            description=item.body or "",
            uid=item.uid,
        )

    def add_foreign_at(self, cal: str, key: str) -> None:
        # Exchange names items itself: nothing can stand at the app's name,
        # so this is another client's event beside where the app's goes.
        start = dt.datetime(2025, 3, 4, 15, tzinfo=dt.UTC)
        self.mailbox.add_item(cal, "Not ours", start, start + dt.timedelta(hours=1))

    def id_for_key(self, cal: str, key: str) -> str:
        """The one item of ``cal`` that carries the app's ``key``."""
        [found] = [
            item.id
            for item in self.mailbox.folder(cal).items.values()
            if item.extended.get(KEY) == key
        ]
        return found

    # -- cursors and faults ------------------------------------------------
    def stale_cursor(self, cal: str, cursor: str) -> str:
        self.mailbox.invalidate_sync_states(cal)  # as after a mailbox move
        return cursor

    def fail_next(self, kind: str, *, retry_after: float | None = None) -> None:
        inject = self.ews.state.inject_fault
        if kind == RATE_LIMIT:
            # ErrorServerBusy with BackOffMilliseconds (EWS never sends 429).
            back_off = None if retry_after is None else int(retry_after * 1000)
            inject("rate_limit", back_off_ms=back_off)
        elif kind == SERVER_ERROR:
            inject("server_error")  # ErrorInternalServerError
        elif kind == TIMEOUT:
            inject("slow", delay=1.0)  # beyond the contract's 0.3 s deadline
        else:
            assert kind == DROP, kind
            inject("drop")

    # -- reaching the account ----------------------------------------------
    def expectations(self) -> AccountExpectations:
        calendar = self.mailbox.calendar.id
        return AccountExpectations(
            account={
                "provider": "exchange",
                "principal_url": self.email,
                "home_url": self.ews.ews_url,
                "display_name": self.email,
                "server": "exchange",
                "login": self.email,
            },
            # The default calendar first, then by name; Exchange folders
            # carry no colour, and a delegate's own mailbox is writable.
            calendars=[
                ("Calendar", calendar, True, None),
                ("Clients", self.seeded["Clients"], True, None),
                ("Family", self.seeded["Family"], True, None),
            ],
        )

    def _provider(
        self, password: str, *, timeout: float = 30.0, **options: Any
    ) -> ExchangeProvider:
        return ExchangeProvider(
            self.email,
            password,
            self.ews.ews_url,
            allow_hosts=LOOPBACK,
            clock=lambda: self.now,
            timeout=timeout,
            auth=self.auth,
            **options,
        )

    def connect(
        self, *, on_request: RequestHook | None = None, timeout: float = 30.0
    ) -> CalendarProvider:
        provider = self._provider(
            self.password, timeout=timeout, max_back_off=self.max_back_off
        )
        if on_request is None:
            return provider
        return _Observed(provider, self, on_request)

    def connect_rejected(self) -> CalendarProvider:
        return self._provider("not-the-password")

    def connection(self) -> ConnectionFields:
        return ConnectionFields(
            provider="exchange",
            account_label=self.email,
            server_url=self.ews.ews_url,
            username=self.email,
            secret=self.password,
            server_profile=self.auth,
        )

    def serve_engine(self) -> None:
        """The engine's providers read the window around this remote's ``now``."""
        spec = registry.spec_for("exchange")
        registry.register(replace(spec, build=self._build_for_engine()))

    def _build_for_engine(
        self,
    ) -> Callable[[Credentials, AccessTokenSource | None], CalendarProvider]:
        def build(
            credentials: Credentials, _tokens: AccessTokenSource | None
        ) -> CalendarProvider:
            return ExchangeProvider(
                credentials.username,
                credentials.secret,
                credentials.server_url,
                auth=auth_of_profile(credentials.server_profile),
                clock=lambda: self.now,
            )

        return build

    def revoke_credentials(self) -> dict[str, str]:
        # The coach changed the password: the stored one stops working.
        self.password = "Changed-Pass-2"
        self.ews.state.store.set_password(self.email, self.password)
        return {}

    def restore_credentials(self) -> dict[str, str]:
        return {"secret": self.password}
