"""An in-memory calendar service, plugged in through the public registry.

Test code only. It proves the plug-in boundary: ``MEMORY_SPEC`` is
registered with ``registry.register`` and passes the provider contract and
the engine scenarios by subclassing alone, and it is fast enough for the
convergence state machine.

It is a faithful small server, not a mock: one account (a user name and a
password that can be revoked), calendars holding iCalendar text with an
etag per event, a change log per calendar behind its cursors (which can be
invalidated), full listings, deterministic ids for the app's events
(``create`` by key is idempotent), ``If-Match`` semantics on update and
delete, and ``NotFound`` for what is gone. Faults are queued on the server
(``MemoryServer.fail``): rate limits, 5xx, timeouts, a response lost after
the call was served (a write made), the worker dying right after it, a
listing that suddenly comes back empty.

Servers are found by the connection's server URL (``memory://<name>/``).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import httpx

from coach_app.calendars import registry
from coach_app.calendars.base import (
    Account,
    CalendarRef,
    ChangeSet,
    OutgoingEvent,
    RemoteEvent,
    SubCalendar,
    calendar_id,
)
from coach_app.calendars.errors import (
    AuthError,
    CursorInvalid,
    NotFound,
    PreconditionFailed,
    ProviderError,
    RateLimited,
    Transient,
)
from coach_app.calendars.ical import build_vevent, quick_fields
from coach_app.calendars.oauth import AccessTokenSource
from coach_app.calendars.spec import (
    Credentials,
    FormField,
    PasswordSignIn,
    ProviderSpec,
)

KEY = "memory"
RECONNECT = (
    "Your in-memory calendar rejected the saved password. Please reconnect it "
    "in My Settings → Integrations."
)

# Fault kinds (``MemoryServer.fail``).
RATE_LIMIT = "rate_limit"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
DROP = "drop"
LOST_RESPONSE = "lost_response"  # the call is served, its answer never arrives
CRASH_AFTER_CALL = (
    "crash_after_call"  # the call is served (a write made), the worker dies
)
EMPTY_LISTING = "empty_listing"  # a full listing comes back empty
WRITES = frozenset({"create", "update", "delete"})


class WorkerCrash(BaseException):
    """The worker process dies: not an ``Exception``, so nothing handles it."""


@dataclass
class Fault:
    kind: str
    operations: frozenset[str] | None = None  # None: any operation
    retry_after: float | None = None
    count: int = 1


@dataclass
class _Event:
    id: str
    etag: str
    raw: str


@dataclass
class _Calendar:
    id: str
    name: str
    color: str | None = None
    can_write: bool = True
    events: dict[str, _Event] = field(default_factory=dict)
    log: list[tuple[int, str]] = field(default_factory=list)  # (revision, id)
    revision: int = 0
    epoch: int = 0  # bumped when every cursor is invalidated
    born: dict[str, int] = field(default_factory=dict)  # id → revision created

    @property
    def cursor(self) -> str:
        return f"{self.epoch}.{self.revision}"

    def touch(self, event_id: str) -> None:
        self.revision += 1
        self.log.append((self.revision, event_id))


_servers: dict[str, MemoryServer] = {}
_names = itertools.count(1)


class MemoryServer:
    """One account of the in-memory service."""

    def __init__(self, username: str = "coach", password: str = "secret") -> None:
        self.name = f"mem{next(_names)}"
        self.base_url = f"memory://{self.name}/"
        self.username = username
        self.password = password
        self.calendars: dict[str, _Calendar] = {}
        self.faults: list[Fault] = []
        # Like EWS and Xandikos: an event created and deleted after a cursor
        # is not reported to that cursor at all (RFC 6578 allows it).
        self.forgets_short_lived = False
        self._etags = itertools.count(1)
        _servers[self.name] = self

    @staticmethod
    def at(url: str) -> MemoryServer:
        name = url.removeprefix("memory://").strip("/")
        server = _servers.get(name)
        if server is None:
            raise Transient(f"{url}: no such memory server")
        return server

    def forget(self) -> None:
        _servers.pop(self.name, None)

    # -- the state, as the server holds it ----------------------------------
    def new_calendar(
        self, slug: str, name: str, color: str | None = None, can_write: bool = True
    ) -> str:
        cal_id = f"{self.name}/{slug}"
        self.calendars[cal_id] = _Calendar(cal_id, name, color, can_write)
        return cal_id

    def calendar(self, cal_id: str) -> _Calendar:
        cal = self.calendars.get(cal_id)
        if cal is None:
            raise NotFound(f"calendar {cal_id}")
        return cal

    def put(self, cal_id: str, event_id: str, raw: str) -> str:
        """Store (create or replace) an event; returns its new etag."""
        cal = self.calendar(cal_id)
        etag = f'"{next(self._etags)}"'
        if event_id not in cal.events:
            cal.born[event_id] = cal.revision + 1
        cal.events[event_id] = _Event(event_id, etag, raw)
        cal.touch(event_id)
        return etag

    def remove(self, cal_id: str, event_id: str) -> None:
        cal = self.calendar(cal_id)
        if cal.events.pop(event_id, None) is not None:
            cal.touch(event_id)

    def invalidate_cursors(self, cal_id: str) -> None:
        self.calendar(cal_id).epoch += 1

    def fail(
        self,
        kind: str,
        *,
        operations: frozenset[str] | None = None,
        retry_after: float | None = None,
        count: int = 1,
    ) -> None:
        self.faults.append(Fault(kind, operations, retry_after, count))

    def take_fault(self, operation: str, kinds: frozenset[str]) -> Fault | None:
        for fault in self.faults:
            if fault.kind in kinds and (
                fault.operations is None or operation in fault.operations
            ):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None


_BEFORE = frozenset({RATE_LIMIT, SERVER_ERROR, TIMEOUT, DROP})
_AFTER = frozenset({LOST_RESPONSE, CRASH_AFTER_CALL})

RequestHook = Callable[[httpx.Request], Awaitable[None]]


def _remote_event(event: _Event) -> RemoteEvent:
    fields = quick_fields(event.raw)
    return RemoteEvent(
        id=event.id,
        etag=event.etag,
        uid=fields.uid,
        raw=event.raw,
        summary=fields.summary,
        coach_key=fields.coach_key,
    )


class MemoryProvider:
    """``CalendarProvider`` for the in-memory service."""

    def __init__(
        self, credentials: Credentials, *, on_request: RequestHook | None = None
    ) -> None:
        self._server = MemoryServer.at(credentials.server_url)
        self._username = credentials.username
        self._password = credentials.secret
        self._on_request = on_request
        self.closed = False

    async def _request(self, method: str, path: str, operation: str) -> MemoryServer:
        server = self._server
        if self._on_request is not None:
            await self._on_request(httpx.Request(method, server.base_url + path))
        if (self._username, self._password) != (server.username, server.password):
            raise AuthError(f"{method} {path} → 401", user_message=RECONNECT)
        fault = server.take_fault(operation, _BEFORE)
        if fault is not None:
            where = f"{method} {path}: {fault.kind} (injected)"
            if fault.kind == RATE_LIMIT:
                raise RateLimited(where, retry_after=fault.retry_after)
            raise Transient(where)
        return server

    def _after_call(self, server: MemoryServer, operation: str) -> None:
        fault = server.take_fault(operation, _AFTER)
        if fault is None:
            return
        if fault.kind == CRASH_AFTER_CALL:
            raise WorkerCrash(f"{operation}: the worker died after the call")
        raise Transient(f"{operation}: the answer was lost (injected)")

    # -- the protocol ---------------------------------------------------------
    async def discover(self) -> Account:
        server = await self._request("GET", "principal", "discover")
        return Account(
            provider=KEY,
            principal_url=server.base_url + server.username,
            home_url=server.base_url,
            display_name=server.username,
            server=KEY,
            login=server.username,
        )

    async def list_calendars(self) -> list[SubCalendar]:
        server = await self._request("GET", "calendars", "list_calendars")
        return [
            SubCalendar(c.id, c.name, c.color, c.can_write, c.cursor)
            for c in sorted(server.calendars.values(), key=lambda c: c.name.lower())
        ]

    async def changes(self, calendar: CalendarRef, cursor: str | None) -> ChangeSet:
        if cursor is None:
            return await self.list_all(calendar)
        cal_id = calendar_id(calendar)
        server = await self._request("GET", f"{cal_id}/events", "changes")
        cal = server.calendar(cal_id)
        epoch, _, revision = cursor.partition(".")
        if not (epoch.isdigit() and revision.isdigit()) or int(epoch) != cal.epoch:
            raise CursorInvalid(f"{cal_id}: cursor {cursor!r} rejected")
        touched = sorted({i for rev, i in cal.log if rev > int(revision)})
        if server.forgets_short_lived:
            touched = [
                i
                for i in touched
                if i in cal.events or cal.born.get(i, 0) <= int(revision)
            ]
        self._after_call(server, "changes")
        return ChangeSet(
            changed=[_remote_event(cal.events[i]) for i in touched if i in cal.events],
            deleted=[i for i in touched if i not in cal.events],
            cursor=cal.cursor,
        )

    async def list_all(self, calendar: CalendarRef) -> ChangeSet:
        cal_id = calendar_id(calendar)
        server = await self._request("GET", f"{cal_id}/events", "list_all")
        cal = server.calendar(cal_id)
        if server.take_fault("list_all", frozenset({EMPTY_LISTING})) is not None:
            return ChangeSet([], [], cal.cursor, full=True)
        events = [_remote_event(cal.events[i]) for i in sorted(cal.events)]
        self._after_call(server, "list_all")
        return ChangeSet(events, [], cal.cursor, full=True)

    async def get(self, calendar: CalendarRef, id: str) -> RemoteEvent | None:
        cal_id = calendar_id(calendar)
        server = await self._request("GET", f"{cal_id}/events/{id}", "get")
        event = server.calendar(cal_id).events.get(id)
        self._after_call(server, "get")
        return _remote_event(event) if event is not None else None

    async def create(
        self, calendar: CalendarRef, event: OutgoingEvent, key: str
    ) -> tuple[str, str | None]:
        cal_id = calendar_id(calendar)
        server = await self._request("PUT", f"{cal_id}/events/{key}", "create")
        cal = server.calendar(cal_id)
        if not cal.can_write:
            raise ProviderError(f"{cal_id} is read-only")
        existing = cal.events.get(key)
        if existing is not None:
            if quick_fields(existing.raw).coach_key == key:
                return key, existing.etag  # a retry after a lost answer
            raise PreconditionFailed(f"{cal_id}/{key} exists and is not ours")
        etag = server.put(cal_id, key, build_vevent(replace(event, key=key)))
        self._after_call(server, "create")
        return key, etag

    async def update(
        self, calendar: CalendarRef, id: str, event: OutgoingEvent, etag: str
    ) -> str | None:
        cal_id = calendar_id(calendar)
        server = await self._request("PUT", f"{cal_id}/events/{id}", "update")
        current = server.calendar(cal_id).events.get(id)
        if current is None:
            raise NotFound(f"{cal_id}/{id}")
        if etag != "*" and etag != current.etag:
            raise PreconditionFailed(f"{cal_id}/{id}: etag {etag} is stale")
        new_etag = server.put(cal_id, id, build_vevent(event))
        self._after_call(server, "update")
        return new_etag

    async def delete(self, calendar: CalendarRef, id: str, etag: str | None) -> None:
        cal_id = calendar_id(calendar)
        server = await self._request("DELETE", f"{cal_id}/events/{id}", "delete")
        current = server.calendar(cal_id).events.get(id)
        if current is None:
            raise NotFound(f"{cal_id}/{id}")
        if etag and etag != current.etag:
            raise PreconditionFailed(f"{cal_id}/{id}: etag {etag} is stale")
        server.remove(cal_id, id)
        self._after_call(server, "delete")

    async def aclose(self) -> None:
        self.closed = True


def _build(
    credentials: Credentials, _tokens: AccessTokenSource | None
) -> MemoryProvider:
    return MemoryProvider(credentials)


MEMORY_SPEC = ProviderSpec(
    key=KEY,
    label="In-memory calendar",
    service="in-memory",
    sign_in=PasswordSignIn(
        fields=(
            FormField("server_url", "Server address", type="url"),
            FormField("username", "User name"),
            FormField("password", "Password", type="password"),
        ),
    ),
    build=_build,
    reconnect_message=RECONNECT,
)


@contextmanager
def registered() -> Iterator[ProviderSpec]:
    """The memory provider in the registry for as long as the block runs."""
    previous = registry.register(MEMORY_SPEC)
    try:
        yield MEMORY_SPEC
    finally:
        if previous is None:
            registry.unregister(KEY)
        else:
            registry.register(previous)
