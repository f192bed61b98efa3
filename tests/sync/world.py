"""One coach with one calendar connection, seen from both sides.

``World`` is the app's side (a migrated database, a coach made through the
real sign-up service, a connection row as the Connect wizard stores it,
with a pull calendar "Work" and a push calendar "Coach App") plus the
provider's server seen from outside (``remotes.Remote``). ``Spy`` wraps
every provider the engine builds, through the registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from providers.servers import unique_name
from remotes import Added, Remote, Stored
from sqlmodel import select

from coach_app.calendars import registry
from coach_app.calendars.base import CalendarProvider
from coach_app.calendars.oauth import AccessTokenSource
from coach_app.calendars.spec import Credentials, ProviderFactory
from coach_app.db import session_scope
from coach_app.models import (
    Appointment,
    AppointmentType,
    CalendarConnection,
    Coach,
    CoachNotice,
    EmailOutbox,
    ExternalEvent,
    PushedEvent,
    PushOutbox,
    SubCalendar,
    SyncCursor,
)
from coach_app.security import secrets
from coach_app.services import auth, availability, booking
from coach_app.sync.content import event_key
from coach_app.sync.engine import SyncResult, sync_connection

UTC = dt.UTC
NOW = dt.datetime(2030, 1, 7, 0, 0, tzinfo=UTC)  # a Monday, midnight UTC


def at(day: int, hour: int, minute: int = 0, month: int = 1) -> dt.datetime:
    return dt.datetime(2030, month, day, hour, minute, tzinfo=UTC)


def use_factory(kind: str, factory: ProviderFactory) -> None:
    """Serve ``kind``'s connections with ``factory`` (through the registry)."""
    registry.register(replace(registry.spec_for(kind), build=factory))


@dataclass
class AppWorld:
    """One coach and one connection with a pull ("Work") and a push
    ("Coach App") calendar: the app's side, whatever the provider."""

    url: str
    coach_id: int
    coach_email: str
    type_id: int
    slug: str
    connection_id: int
    pull_sub_id: int
    push_sub_id: int
    pull_cal: str
    push_cal: str

    async def sync(self, now: dt.datetime = NOW) -> SyncResult:
        return await sync_connection(self.connection_id, url=self.url, now=now)

    def slots(
        self, start: dt.datetime, end: dt.datetime, now: dt.datetime = NOW
    ) -> list[dt.datetime]:
        with session_scope(self.url) as s:
            coach = s.get(Coach, self.coach_id)
            appt_type = s.get(AppointmentType, self.type_id)
            assert coach is not None and appt_type is not None
            return availability.slots(s, coach, appt_type, now, start, end)

    def external(self) -> list[ExternalEvent]:
        with session_scope(self.url) as s:
            return list(
                s.exec(
                    select(ExternalEvent).order_by(
                        ExternalEvent.start,  # type: ignore[arg-type]
                        ExternalEvent.remote_id,
                    )
                ).all()
            )

    def book(
        self,
        start: dt.datetime,
        name: str = "Ivy Invitee",
        email: str = "ivy@example.com",
    ) -> int:
        with session_scope(self.url) as s:
            done = booking.book(
                s,
                slug=self.slug,
                type_id=self.type_id,
                start=start,
                name=name,
                email=email,
                now=NOW,
            )
            return done.appointment_id

    def appointment(self, appointment_id: int) -> Appointment:
        with session_scope(self.url) as s:
            row = s.get(Appointment, appointment_id)
            assert row is not None
            return row

    def pushed(self, appointment_id: int) -> PushedEvent | None:
        with session_scope(self.url) as s:
            return s.exec(
                select(PushedEvent).where(PushedEvent.appointment_id == appointment_id)
            ).first()

    def pending_pushes(self) -> list[PushOutbox]:
        with session_scope(self.url) as s:
            return list(
                s.exec(
                    select(PushOutbox).where(PushOutbox.done_at.is_(None))  # type: ignore[union-attr]
                ).all()
            )

    def notices(self) -> list[str]:
        with session_scope(self.url) as s:
            return list(
                s.exec(
                    select(CoachNotice.message).order_by(CoachNotice.id)  # type: ignore[arg-type]
                ).all()
            )

    def emails(self, to: str | None = None) -> list[EmailOutbox]:
        with session_scope(self.url) as s:
            query = select(EmailOutbox).order_by(EmailOutbox.id)  # type: ignore[arg-type]
            if to is not None:
                query = query.where(EmailOutbox.to_addr == to)
            return list(s.exec(query).all())

    def connection(self) -> CalendarConnection:
        with session_scope(self.url) as s:
            row = s.get(CalendarConnection, self.connection_id)
            assert row is not None
            return row

    def update_connection(self, **values: object) -> None:
        """Change the connection row; a ``secret`` is stored encrypted."""
        if "secret" in values:
            values["secret_encrypted"] = secrets.encrypt(str(values.pop("secret")))
        with session_scope(self.url) as s:
            row = s.get(CalendarConnection, self.connection_id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)
            s.add(row)

    def reject_cursor(self, sub_id: int, cal: str, remote: Remote) -> None:
        """The stored cursor of ``sub_id`` becomes one the server rejects."""
        with session_scope(self.url) as s:
            row = s.exec(
                select(SyncCursor).where(SyncCursor.sub_calendar_id == sub_id)
            ).one()
            row.cursor = remote.stale_cursor(cal, row.cursor)
            s.add(row)


@dataclass
class World(AppWorld):
    """The app's side and the provider's server, seen from outside."""

    remote: Remote = field(kw_only=True)

    @property
    def provider_key(self) -> str:
        return self.remote.quirks.key

    def add(
        self,
        summary: str,
        start: dt.datetime,
        minutes: int = 60,
        cal: str | None = None,
        **kind: Any,
    ) -> Added:
        """An event added in the coach's calendar app (the pull calendar)."""
        return self.remote.add(cal or self.pull_cal, summary, start, minutes, **kind)

    def put(self, name: str, ics: str, cal: str | None = None) -> str | None:
        """Store iCalendar text as ``name`` (servers that hold iCalendar)."""
        added = self.remote.add_text(
            cal or self.pull_cal, name.removesuffix(".ics"), ics
        )
        return added.etag

    def delete(self, name: str, cal: str | None = None) -> None:
        """Delete what ``put`` stored as ``name``."""
        cal = cal or self.pull_cal
        self.remote.delete(cal, self.remote.id_for_key(cal, name.removesuffix(".ics")))

    def push_ids(self) -> list[str]:
        return self.remote.ids(self.push_cal)

    def push_event_id(self, appointment_id: int) -> str:
        """Where the appointment's event is stored (its deterministic id)."""
        return self.remote.id_for_key(self.push_cal, event_key(appointment_id))

    def push_event(self, appointment_id: int) -> Stored:
        return self.remote.stored(self.push_cal, self.push_event_id(appointment_id))


W = TypeVar("W", bound=World)


@dataclass(frozen=True)
class CoachRow:
    """A coach made through the real sign-up service, with its default type."""

    coach_id: int
    coach_email: str
    type_id: int
    slug: str


def sign_up_coach(url: str, timezone: str = "UTC") -> CoachRow:
    with session_scope(url) as s:
        coach = auth.sign_up(
            s, f"{unique_name('kim')}@example.com", "password-1", "Kim Coach", timezone
        )
        type_id = s.exec(
            select(AppointmentType.id).where(AppointmentType.coach_id == coach.id)
        ).one()
        assert coach.id is not None and type_id is not None
        return CoachRow(coach.id, coach.email, type_id, coach.slug)


def connect_world(
    url: str, coach: CoachRow, remote: Remote, cls: type[W] | None = None
) -> W:
    """A connection to ``remote``'s account as the wizard stores it, with a
    fresh pull ("Work") and push ("Coach App") calendar."""
    remote.serve_engine()
    pull_cal = remote.new_calendar("Work")
    push_cal = remote.new_calendar("Coach App")
    fields = remote.connection()
    with session_scope(url) as s:
        connection = CalendarConnection(
            coach_id=coach.coach_id,
            provider=fields.provider,
            account_label=fields.account_label,
            server_url=fields.server_url,
            username=fields.username,
            secret_encrypted=secrets.encrypt(fields.secret),
            server_profile=fields.server_profile,
        )
        s.add(connection)
        s.flush()
        pull = SubCalendar(
            connection_id=connection.id, remote_id=pull_cal, name="Work", pull=True
        )
        push = SubCalendar(
            connection_id=connection.id, remote_id=push_cal, name="Coach App", push=True
        )
        s.add_all([pull, push])
        s.flush()
        assert connection.id is not None
        assert pull.id is not None and push.id is not None
        return (cls or World)(  # type: ignore[return-value]
            url=url,
            coach_id=coach.coach_id,
            coach_email=coach.coach_email,
            type_id=coach.type_id,
            slug=coach.slug,
            connection_id=connection.id,
            pull_sub_id=pull.id,
            push_sub_id=push.id,
            pull_cal=pull_cal,
            push_cal=push_cal,
            remote=remote,
        )


def build_world(
    url: str, remote: Remote, timezone: str = "UTC", cls: type[W] | None = None
) -> W:
    """A coach, and a connection to ``remote``'s account as the wizard stores it."""
    return connect_world(url, sign_up_coach(url, timezone), remote, cls)


class SimulatedCrash(BaseException):
    """The worker dies here: nothing after this point runs (not even the
    engine's error handling, which only catches ``Exception``)."""


Hook = Callable[[str, str, object], Awaitable[object]]


class Spy:
    """Wraps every provider the engine builds: records ``(method, calendar)``
    calls, and lets a test act before a call or replace/raise after it."""

    def __init__(self, kind: str = "caldav") -> None:
        self.kind = kind
        self.calls: list[tuple[str, str]] = []
        self.before: Callable[[str, str], Awaitable[None]] | None = None
        self.after: Hook | None = None
        self.factory = registry.spec_for(kind).build

    def install(self) -> None:
        use_factory(self.kind, self._build)

    def _build(
        self, credentials: Credentials, tokens: AccessTokenSource | None
    ) -> CalendarProvider:
        return _SpyProvider(self, self.factory(credentials, tokens))  # type: ignore[return-value]

    def called(self, calendar: str) -> list[str]:
        return [name for name, cal in self.calls if cal == calendar]


class _SpyProvider:
    def __init__(self, spy: Spy, inner: CalendarProvider) -> None:
        self._spy = spy
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        spy = self._spy

        async def call(*args: Any, **kwargs: Any) -> Any:
            calendar = str(args[0]) if args else ""
            spy.calls.append((name, calendar))
            if spy.before is not None:
                await spy.before(name, calendar)
            result = await method(*args, **kwargs)
            if spy.after is not None:
                result = await spy.after(name, calendar, result)
            return result

        return call
