"""Fixtures for the provider contract suite.

Radicale and Xandikos run once per session as subprocesses on free loopback
ports with temporary storage; every contract test runs against both through
the parametrized ``server`` fixture, and gets a fresh scratch calendar.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from coach_app.calendars.caldav import CalDAVProvider

from .servers import (
    DavAdmin,
    RunningServer,
    start_radicale,
    start_xandikos,
    unique_name,
)

# Loopback is refused by the URL guard unless allow-listed, as in production.
LOOPBACK = frozenset({"127.0.0.1"})

# (collection name, display name, components, color): listed by list_calendars
# except the VTODO-only one.
SEEDED_CALENDARS = (
    ("work", "Work", ("VEVENT",), "#FF0000FF"),
    ("family", "Family", ("VEVENT", "VTODO"), None),
    ("tasks", "Tasks", ("VTODO",), None),
)


def _seed(server: RunningServer) -> RunningServer:
    admin = server.admin()
    try:
        for path, name, components, color in SEEDED_CALENDARS:
            admin.mkcalendar(server.home_url + path + "/", name, components, color)
    finally:
        admin.close()
    return server


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_radicale(Path(tmp_path_factory.mktemp("radicale")))
    try:
        yield _seed(server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_xandikos(Path(tmp_path_factory.mktemp("xandikos")))
    try:
        yield _seed(server)
    finally:
        server.stop()


@pytest.fixture(params=["radicale", "xandikos"])
def server(request: pytest.FixtureRequest) -> RunningServer:
    return request.getfixturevalue(request.param)


@pytest.fixture
def admin(server: RunningServer) -> Iterator[DavAdmin]:
    client = server.admin()
    yield client
    client.close()


@pytest.fixture
def calendar_url(server: RunningServer, admin: DavAdmin) -> Iterator[str]:
    """A fresh, empty event calendar, removed afterwards so listings stay exact."""
    url = server.home_url + unique_name("scratch") + "/"
    admin.mkcalendar(url, "Scratch")
    yield url
    admin.delete(url)


@pytest_asyncio.fixture
async def provider(server: RunningServer) -> AsyncIterator[CalDAVProvider]:
    async with CalDAVProvider(
        server.base_url, server.username, server.password, allow_hosts=LOOPBACK
    ) as caldav:
        yield caldav


def ics(
    uid: str,
    summary: str,
    start: datetime = datetime(2025, 1, 2, 10, tzinfo=UTC),
    minutes: int = 60,
    extra: str = "",
) -> str:
    """A minimal VCALENDAR as another client would store it."""
    fmt = "%Y%m%dT%H%M%SZ"
    end = start + timedelta(minutes=minutes)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Test Suite//Other Client//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20250101T000000Z",
        f"DTSTART:{start.strftime(fmt)}",
        f"DTEND:{end.strftime(fmt)}",
        f"SUMMARY:{summary}",
        *([extra] if extra else []),
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(lines)
