"""Shared fixtures: a migrated database per test, SQLite or PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from coach_app import db
from coach_app.migrations import upgrade

PG_ADMIN_URL = os.environ.get(
    "COACH_APP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session; each test gets a copy (a second
    per test saved over running every migration again)."""
    path = tmp_path_factory.mktemp("migrated") / "coach.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path, monkeypatch, _migrated_sqlite: Path) -> Iterator[str]:
    target = tmp_path / "coach.db"
    shutil.copyfile(_migrated_sqlite, target)
    url = f"sqlite:///{target}"
    monkeypatch.setenv("REFLEX_DB_URL", url)
    yield url
    db.dispose_all()


@pytest.fixture
def postgres_url(monkeypatch) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    name = f"coach_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        monkeypatch.setenv("REFLEX_DB_URL", url)
        yield url
    finally:
        db.dispose_all()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def session(sqlite_url):
    with db.session_scope(sqlite_url) as s:
        yield s


def pytest_collection_modifyitems(config, items) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running on
    the main thread for the rest of the session, which asyncio tests after it
    could not start their own loops beside."""
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path).replace("\\", "/"))
