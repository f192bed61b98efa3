"""Fixtures for the sync engine tests.

Real Radicale and Xandikos servers and the Google sandbox run once per
session on loopback; every test gets a migrated SQLite database and its own
environment (key file, URL allow-list), and leaves the provider registry as
it found it. The engine scenarios (``scenarios.py``) build their worlds
from these.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from providers.servers import RunningServer, start_radicale, start_xandikos

from coach_app.calendars import registry
from coach_app.security import secrets
from coach_app.sync import scheduler

from .google_world import google_env, google_sandbox

__all__ = ["google_env", "google_sandbox"]  # fixtures


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
