"""Fixtures for the sync engine tests.

Real Radicale and Xandikos servers run once per session on loopback (the
provider suite's ``servers`` module starts them); every test gets a migrated
SQLite database, a coach made through the real sign-up service, and a
CalDAV connection row whose pull calendar ("Work") and push calendar
("Coach App") are fresh collections on the server. Changes "from outside"
(a phone, another app) are plain DAV calls through ``World.admin``.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from providers.servers import (
    DavAdmin,
    RunningServer,
    start_radicale,
    start_xandikos,
    unique_name,
)
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
)
from coach_app.security import secrets
from coach_app.services import auth, availability, booking
from coach_app.sync import scheduler
from coach_app.sync.engine import SyncResult, sync_connection

UTC = dt.UTC
NOW = dt.datetime(2030, 1, 7, 0, 0, tzinfo=UTC)  # a Monday, midnight UTC


def at(day: int, hour: int, minute: int = 0, month: int = 1) -> dt.datetime:
    return dt.datetime(2030, month, day, hour, minute, tzinfo=UTC)


def vevent(
    uid: str,
    summary: str,
    start: dt.datetime,
    minutes: int = 60,
    *extra: str,
) -> str:
    """A one-event VCALENDAR as a phone would store it."""
    fmt = "%Y%m%dT%H%M%SZ"
    end = start + dt.timedelta(minutes=minutes)
    return calendar(
        f"UID:{uid}",
        f"DTSTART:{start.strftime(fmt)}",
        f"DTEND:{end.strftime(fmt)}",
        f"SUMMARY:{summary}",
        *extra,
    )


def calendar(*event_lines: str, more: tuple[tuple[str, ...], ...] = ()) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Tests//Phone//EN"]
    for body in (event_lines, *more):
        lines += ["BEGIN:VEVENT", "DTSTAMP:20250101T000000Z", *body, "END:VEVENT"]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COACH_APP_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.delenv("COACH_APP_SECRET_KEYS", raising=False)
    monkeypatch.setenv("COACH_APP_URL_ALLOWLIST", "127.0.0.1")
    monkeypatch.delenv("COACH_APP_SYNC_INTERVAL", raising=False)
    monkeypatch.delenv("COACH_APP_WEBHOOK_BASE_URL", raising=False)
    secrets.reset_keys()
    yield
    secrets.reset_keys()


def use_factory(kind: str, factory: ProviderFactory) -> None:
    """Serve ``kind``'s connections with ``factory`` (through the registry)."""
    registry.register(replace(registry.spec_for(kind), build=factory))


@pytest.fixture(autouse=True)
def _restore_provider_registry() -> Iterator[None]:
    saved = registry.specs()
    yield
    for spec in saved:
        registry.register(spec)
    scheduler._take_requested()  # no sync requests leak into the next test


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_radicale(Path(tmp_path_factory.mktemp("sync-radicale")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_xandikos(Path(tmp_path_factory.mktemp("sync-xandikos")))
    yield server
    server.stop()


@pytest.fixture(params=["radicale", "xandikos"])
def server(request: pytest.FixtureRequest) -> RunningServer:
    return request.getfixturevalue(request.param)


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
        with session_scope(self.url) as s:
            row = s.get(CalendarConnection, self.connection_id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)
            s.add(row)


@dataclass
class World(AppWorld):
    """One coach, one connection, two fresh calendars on ``server``."""

    server: RunningServer = field(kw_only=True)
    admin: DavAdmin = field(kw_only=True)
    created: list[str] = field(default_factory=list)

    # -- the outside world -------------------------------------------------
    def put(self, name: str, ics: str, cal: str | None = None) -> str:
        return self.admin.put((cal or self.pull_cal) + name, ics)

    def delete(self, name: str, cal: str | None = None) -> None:
        self.admin.delete((cal or self.pull_cal) + name)

    def push_calendar_hrefs(self) -> list[str]:
        return self.admin.list_hrefs(self.push_cal)

    def push_calendar_body(self, href: str) -> str:
        """The stored iCalendar text, folded lines joined."""
        origin = self.server.base_url.rstrip("/")
        response = self.admin.client.get(origin + href)
        assert response.status_code == 200, response.status_code
        return response.text.replace("\r\n ", "")  # unfolded


WorldFactory = Callable[..., World]


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


@pytest.fixture
def spy() -> Spy:
    installed = Spy()
    installed.install()
    return installed


class AuthShim(httpx.AsyncBaseTransport):
    """Basic authentication in front of a server that has none (Xandikos
    only offers htpasswd together with TLS): wrong credentials get the 401 a
    real server would send, right ones are forwarded."""

    def __init__(self, username: str, password: str) -> None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._expected = f"Basic {token}"
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != self._expected:
            return httpx.Response(
                401, headers={"WWW-Authenticate": 'Basic realm="shim"'}, request=request
            )
        del request.headers["Authorization"]
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def make_world(sqlite_url: str, server: RunningServer) -> Iterator[WorldFactory]:
    admins: list[tuple[DavAdmin, list[str]]] = []

    def make(timezone: str = "UTC", url: str | None = None) -> World:
        db_url = url or sqlite_url
        admin = server.admin()
        pull_cal = server.home_url + unique_name("work") + "/"
        push_cal = server.home_url + unique_name("coachapp") + "/"
        admin.mkcalendar(pull_cal, "Work")
        admin.mkcalendar(push_cal, "Coach App")
        admins.append((admin, [pull_cal, push_cal]))
        with session_scope(db_url) as s:
            coach = auth.sign_up(
                s,
                f"{unique_name('kim')}@example.com",
                "password-1",
                "Kim Coach",
                timezone,
            )
            assert coach.id is not None
            type_id = s.exec(
                select(AppointmentType.id).where(AppointmentType.coach_id == coach.id)
            ).one()
            connection = CalendarConnection(
                coach_id=coach.id,
                provider="caldav",
                account_label="Test server",
                server_url=server.base_url,
                username=server.username,
                secret_encrypted=secrets.encrypt(server.password),
            )
            s.add(connection)
            s.flush()
            pull = SubCalendar(
                connection_id=connection.id, remote_id=pull_cal, name="Work", pull=True
            )
            push = SubCalendar(
                connection_id=connection.id,
                remote_id=push_cal,
                name="Coach App",
                push=True,
            )
            s.add_all([pull, push])
            s.flush()
            assert type_id is not None and connection.id is not None
            return World(
                url=db_url,
                server=server,
                admin=admin,
                coach_id=coach.id,
                coach_email=coach.email,
                type_id=type_id,
                slug=coach.slug,
                connection_id=connection.id,
                pull_sub_id=pull.id,  # type: ignore[arg-type]
                push_sub_id=push.id,  # type: ignore[arg-type]
                pull_cal=pull_cal,
                push_cal=push_cal,
            )

    yield make
    for admin, cals in admins:
        for cal in cals:
            admin.delete(cal)
        admin.close()


@pytest.fixture
def world(make_world: WorldFactory) -> World:
    return make_world()
