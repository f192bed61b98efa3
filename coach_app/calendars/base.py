"""The provider protocol: value types and the one async interface.

Every calendar provider (CalDAV/iCloud, Google, Graph, EWS) implements
``CalendarProvider`` so the sync engine has no provider-specific branches.
Ids are opaque strings chosen by the provider (a CalDAV href, a Google event
id…); cursors are the provider's own incremental-sync token.

Calendar arguments accept either a ``SubCalendar`` or its ``id`` string, so
the engine can call a provider with nothing more than what it stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, runtime_checkable


@dataclass(frozen=True)
class Account:
    """What discovery learnt about a connected account."""

    provider: str  # the provider spec's key
    principal_url: str
    home_url: str
    display_name: str
    server: str = "generic"  # quirks profile name, worth storing with the account
    login: str = ""  # the name the coach signs in with (an email address …)


@dataclass(frozen=True)
class SubCalendar:
    """One calendar inside an account (a CalDAV collection, a Google calendar…)."""

    id: str
    name: str
    color: str | None = None
    can_write: bool = True
    ctag: str | None = None


CalendarRef = SubCalendar | str


def calendar_id(calendar: CalendarRef) -> str:
    """The id of a calendar given either form of reference."""
    return calendar.id if isinstance(calendar, SubCalendar) else calendar


@dataclass(frozen=True)
class RemoteEvent:
    """One stored event (a whole series with its overrides, for CalDAV).

    ``raw`` is the provider's payload (iCalendar text for CalDAV); expand it
    with ``coach_app.calendars.ical.expand`` over the window you need.
    ``coach_key`` is our ``X-COACHAPP-KEY`` if the app created this event.
    """

    id: str
    etag: str | None
    uid: str | None
    raw: str
    summary: str | None = None
    coach_key: str | None = None


@dataclass(frozen=True)
class ChangeSet:
    """The result of a pull.

    ``full`` is True when ``changed`` is the complete content of the calendar:
    the caller must then treat every local id absent from it as deleted
    (see ``reconcile``), because a full listing reports no deletions.
    """

    changed: list[RemoteEvent] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    cursor: str | None = None
    full: bool = False


@dataclass(frozen=True)
class OutgoingEvent:
    """An appointment the app writes to an external calendar."""

    key: str  # deterministic, also the UID: a retried create cannot duplicate
    summary: str
    start: datetime
    end: datetime
    description: str = ""
    location: str | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"OutgoingEvent.{name} must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("OutgoingEvent.end must be after start")
        if not self.key:
            raise ValueError("OutgoingEvent.key must not be empty")


@runtime_checkable
class CalendarProvider(Protocol):
    """The async interface every provider implements."""

    async def discover(self) -> Account:
        """Check the credentials and find the account (raises AuthError…)."""
        ...

    async def list_calendars(self) -> list[SubCalendar]:
        """The account's event calendars."""
        ...

    async def changes(self, calendar: CalendarRef, cursor: str | None) -> ChangeSet:
        """Changes since ``cursor``; ``None`` gives a full listing.

        Raises ``CursorInvalid`` when the server rejects the cursor: call
        ``list_all`` and ``reconcile`` against the local copy.
        """
        ...

    async def list_all(self, calendar: CalendarRef) -> ChangeSet:
        """A full listing (``full=True``), with a fresh cursor if the server has one."""
        ...

    async def get(self, calendar: CalendarRef, id: str) -> RemoteEvent | None:
        """One event, or None if it does not exist."""
        ...

    async def create(
        self, calendar: CalendarRef, event: OutgoingEvent, key: str
    ) -> tuple[str, str | None]:
        """Create (idempotently, by ``key``) and return ``(id, etag)``."""
        ...

    async def update(
        self, calendar: CalendarRef, id: str, event: OutgoingEvent, etag: str
    ) -> str | None:
        """Replace the event if it still has ``etag``; return the new etag."""
        ...

    async def delete(self, calendar: CalendarRef, id: str, etag: str | None) -> None:
        """Delete the event if it still has ``etag`` (None: unconditionally)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class ClosesOnExit:
    """``async with provider:`` closes it (``aclose``) on the way out."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
