"""The outside world of one calendar account, one implementation per provider.

The provider contract (``tests/providers/contract.py``) and the engine
scenarios (``tests/sync/scenarios.py``) are written once against ``Remote``:
what the coach's phone or another app does to a calendar behind the app's
back, what the server really stores, the faults a server can have, and how
to reach the account. Each provider supplies one ``Remote`` (CalDAV on real
Radicale and Xandikos, Google on its sandbox, the in-memory plug-in) and its
documented differences as data (``Quirks``), after python-caldav's
compatibility hints: the suites never ask which provider they run on.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from coach_app.calendars.base import CalendarProvider

RequestHook = Callable[[httpx.Request], Awaitable[None]]

# Kinds of server fault ``Remote.fail_next`` can inject.
RATE_LIMIT = "rate_limit"  # with Retry-After when ``retry_after`` is given
SERVER_ERROR = "server_error"  # a 5xx without Retry-After
TIMEOUT = "timeout"  # no answer within the client's deadline
DROP = "drop"  # the connection breaks mid-response


@dataclass(frozen=True)
class Added:
    """An event put into a calendar from outside the app."""

    id: str
    etag: str | None
    uid: str | None


@dataclass(frozen=True)
class Stored:
    """One event as the server holds it, read without the provider."""

    id: str
    etag: str | None
    key: str | None  # the app's key, if the event carries one (and only it)
    summary: str
    start: dt.datetime
    end: dt.datetime
    description: str
    uid: str | None = None  # the server's UID, where the server makes it


@dataclass(frozen=True)
class Quirks:
    """What differs between providers, documented where it is observed."""

    key: str  # the provider spec's key
    # Requests one incremental pull of one change costs, as "METHOD path"
    # regular expressions in order.
    incremental_pull_requests: tuple[str, ...]
    # An incremental pull that finds nothing hands back the same cursor.
    quiet_pull_keeps_cursor: bool
    # What every event's UID ends with when another client made it ("" any).
    foreign_uid_suffix: str = ""
    # The UID of an event the app created, from its ``key`` and ``id``
    # (``{uid}``: the one the server made, ``Stored.uid``).
    app_event_uid: str = "{key}"
    # The error detail (``str(exc)``) and the coach's text for rejected
    # credentials.
    auth_error_detail: str = ""
    reconnect_message: str = ""
    # The reconnect email's subject, ``{account}`` = the account's label.
    reconnect_subject: str = ""
    # The server refuses to store an unreadable entry (Radicale checks what
    # is PUT): the engine scenario then serves one through the provider, as
    # a less careful server would.
    refuses_unreadable_entries: bool = False
    # The server names every event it stores (Graph: an event's ``id`` is
    # read-only, chosen on create): nothing can stand at the app's event
    # before it exists, and an event the app puts back after the coach deleted
    # it is a new one with a new id. ``id_for_key`` finds events by key.
    server_assigns_ids: bool = False
    # A series is listed as its occurrences and exceptions, each an event of
    # its own (own id, own UID, no RRULE), never as one resource (Graph:
    # calendarView and its delta expand series; a deleted occurrence or
    # series is reported as its occurrences ``@removed``). ``instance_of``
    # names each one's series and original start.
    expands_series: bool = False


@dataclass(frozen=True)
class AccountExpectations:
    """What discovery and the calendar list must report for the seeded account."""

    account: dict[str, Any]  # Account field → expected value
    # (name, id, can_write, color) in the provider's order
    calendars: list[tuple[str, str, bool, str | None]]


@dataclass(frozen=True)
class ConnectionFields:
    """A ``CalendarConnection`` as the Connect wizard stores it (secret in
    clear; the world encrypts it)."""

    provider: str
    account_label: str
    server_url: str
    username: str
    secret: str
    server_profile: str = ""


@dataclass
class Remote(abc.ABC):
    """One account on one provider's server, seen from outside the app."""

    quirks: Quirks
    created: list[str] = field(default_factory=list, init=False)

    # -- calendars ---------------------------------------------------------
    @abc.abstractmethod
    def new_calendar(self, name: str) -> str:
        """A fresh, empty event calendar; its id as the provider names it."""

    @abc.abstractmethod
    def drop_calendar(self, cal: str) -> None: ...

    def close(self) -> None:
        for cal in self.created:
            self.drop_calendar(cal)
        self.created.clear()

    # -- changes from outside ---------------------------------------------
    @abc.abstractmethod
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
        """A one-off event (``declined_by``: an attendee who declined)."""

    def add_text(self, cal: str, uid: str, text: str) -> Added:
        """Store iCalendar text as it is (servers that hold iCalendar)."""
        raise NotImplementedError(f"{self.quirks.key} does not store iCalendar text")

    @abc.abstractmethod
    def add_all_day(
        self, cal: str, summary: str, first: dt.date, days: int
    ) -> Added: ...

    @abc.abstractmethod
    def add_series(
        self,
        cal: str,
        summary: str,
        start: dt.datetime,
        minutes: int,
        rules: list[str],
    ) -> Added:
        """A recurring event starting at ``start`` (wall-clock in its zone);
        ``rules`` are RRULE/EXDATE lines as RFC 5545 writes them."""

    @abc.abstractmethod
    def move_instance(
        self,
        cal: str,
        series_id: str,
        original: dt.datetime,
        start: dt.datetime,
        end: dt.datetime,
        summary: str | None = None,
    ) -> None:
        """One instance moved (and renamed) in the coach's calendar app."""

    @abc.abstractmethod
    def cancel_instance(
        self, cal: str, series_id: str, original: dt.datetime
    ) -> None: ...

    @abc.abstractmethod
    def edit(self, cal: str, id: str, summary: str) -> str | None:
        """Rename an event; returns its new etag."""

    @abc.abstractmethod
    def move(self, cal: str, id: str, start: dt.datetime, end: dt.datetime) -> None: ...

    @abc.abstractmethod
    def touch(self, cal: str, id: str) -> str | None:
        """Change something that is neither time nor title (a category, a
        colour); returns the new etag."""

    @abc.abstractmethod
    def touched(self, cal: str, id: str) -> bool:
        """Does the event still carry what ``touch`` added?"""

    @abc.abstractmethod
    def delete(self, cal: str, id: str) -> None: ...

    @abc.abstractmethod
    def ids(self, cal: str) -> list[str]:
        """Ids of the live events stored in ``cal``, sorted."""

    @abc.abstractmethod
    def stored(self, cal: str, id: str) -> Stored: ...

    def instance_of(self, cal: str, id: str) -> tuple[str, dt.datetime] | None:
        """Where series arrive expanded (``Quirks.expands_series``): the
        series and original start (UTC) of the occurrence or exception ``id``;
        None for an event that is no instance."""
        raise NotImplementedError(f"{self.quirks.key} lists series whole")

    @abc.abstractmethod
    def add_foreign_at(self, cal: str, key: str) -> None:
        """Another client's event where the app's event ``key`` would go."""

    @abc.abstractmethod
    def id_for_key(self, cal: str, key: str) -> str:
        """Where the app's event ``key`` is stored (its deterministic id)."""

    # -- cursors and faults ------------------------------------------------
    @abc.abstractmethod
    def stale_cursor(self, cal: str, cursor: str) -> str:
        """A cursor the server now rejects, as after a server-side expiry."""

    @abc.abstractmethod
    def fail_next(self, kind: str, *, retry_after: float | None = None) -> None:
        """The next request fails with ``kind`` (see the constants above)."""

    # -- reaching the account ----------------------------------------------
    @abc.abstractmethod
    def expectations(self) -> AccountExpectations: ...

    @abc.abstractmethod
    def connect(
        self, *, on_request: RequestHook | None = None, timeout: float = 30.0
    ) -> CalendarProvider:
        """A provider signed in to the account (the caller closes it)."""

    @abc.abstractmethod
    def connect_rejected(self) -> CalendarProvider:
        """A provider whose credentials the server rejects."""

    @abc.abstractmethod
    def connection(self) -> ConnectionFields: ...

    def serve_engine(self) -> None:  # noqa: B027 (optional hook)
        """Called when a sync world is made, before any spy is installed."""

    def require_credentials(self) -> dict[str, str]:
        """Make the server check credentials; connection fields to store."""
        return {}

    @abc.abstractmethod
    def revoke_credentials(self) -> dict[str, str]:
        """The stored sign-in stops working (a revoked password or grant);
        connection fields to store."""

    @abc.abstractmethod
    def restore_credentials(self) -> dict[str, str]:
        """The coach signed in again; connection fields to store."""
