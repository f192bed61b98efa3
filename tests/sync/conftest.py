"""Fixtures for the sync engine tests.

Real Radicale and Xandikos servers and the Google sandbox run once per
session on loopback; every test gets a migrated SQLite database and its own
environment (key file, URL allow-list), and leaves the provider registry as
it found it. The engine scenarios (``scenarios.py``) build their worlds
from these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from providers.servers import RunningServer, start_radicale, start_xandikos
from remotes.caldav import RADICALE, XANDIKOS, CalDAVRemote
from remotes.ical_text import calendar

from coach_app.calendars import registry
from coach_app.security import secrets
from coach_app.sync import scheduler

from .google_world import google_env, google_sandbox
from .world import NOW, AppWorld, Spy, World, at, build_world, use_factory

# Fixtures, and what tests outside the scenario suite import from here.
__all__ = [
    "NOW",
    "AppWorld",
    "World",
    "at",
    "calendar",
    "google_env",
    "google_sandbox",
    "use_factory",
    "vevent",
]


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


@pytest.fixture(autouse=True)
def _restore_provider_registry() -> Iterator[None]:
    saved = {spec.key: spec for spec in registry.specs()}
    yield
    for spec in registry.specs():
        if spec.key not in saved:
            registry.unregister(spec.key)
    for spec in saved.values():
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


# -- CalDAV worlds for tests outside the scenario suite ------------------------


def vevent(
    uid: str, summary: str, start: dt.datetime, minutes: int = 60, *extra: str
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


@pytest.fixture(params=["radicale", "xandikos"])
def server(request: pytest.FixtureRequest) -> RunningServer:
    return request.getfixturevalue(request.param)


@pytest.fixture
def make_world(
    sqlite_url: str, server: RunningServer
) -> Iterator[Callable[..., World]]:
    """CalDAV worlds on ``server`` (the scenario classes bring their own)."""
    made: list[CalDAVRemote] = []
    quirks = RADICALE if server.name == "radicale" else XANDIKOS

    def make(timezone: str = "UTC", url: str | None = None) -> World:
        remote = CalDAVRemote(server, quirks)
        made.append(remote)
        return build_world(url or sqlite_url, remote, timezone)

    yield make
    for remote in made:
        remote.close()


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world()


@pytest.fixture
def spy(world: World) -> Spy:
    installed = Spy(world.provider_key)
    installed.install()
    return installed
