"""GET /health: fit or not, and why, for load balancers and operators."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from coach_app import db, health
from coach_app.db import session_scope
from coach_app.models import CalendarConnection, EmailOutbox, utcnow
from coach_app.services import auth
from coach_app.sync import scheduler

REDIS_URL = os.environ.get("COACH_APP_TEST_REDIS", "redis://127.0.0.1:6379/9")


@pytest.fixture
def client(sqlite_url, monkeypatch):
    monkeypatch.delenv("REFLEX_REDIS_URL", raising=False)
    monkeypatch.setattr(scheduler, "heartbeat", time.monotonic())
    with TestClient(health.with_health(Starlette())) as c:
        yield c


def test_a_fit_worker_reports_its_backlogs(client, sqlite_url):
    now = utcnow()
    with session_scope(sqlite_url) as s:
        coach = auth.sign_up(s, "h@example.com", "password-1", "Hal Health", "UTC")
        s.add(
            CalendarConnection(
                coach_id=coach.id,
                provider="caldav",
                next_sync_at=now - dt.timedelta(minutes=10),
            )
        )
        s.add(CalendarConnection(coach_id=coach.id, provider="caldav"))  # new
        s.add(
            CalendarConnection(
                coach_id=coach.id,
                provider="caldav",
                next_sync_at=now + dt.timedelta(minutes=10),
            )
        )
        for i, age in enumerate((30, 90)):
            s.add(
                EmailOutbox(
                    dedupe_key=f"k{i}",
                    to_addr="a@example.com",
                    subject="s",
                    body="b",
                    next_attempt_at=now - dt.timedelta(seconds=age),
                )
            )
        s.add(
            EmailOutbox(
                dedupe_key="sent",
                to_addr="a@example.com",
                subject="s",
                body="b",
                sent_at=now,
            )
        )
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["worker"] == os.getpid()
    assert body["database"]["ok"] is True
    assert body["redis"] == {"ok": True, "configured": False}
    assert body["sync_loop"]["ok"] is True
    assert body["email_outbox"]["due"] == 2
    assert 85 <= body["email_outbox"]["oldest_due_seconds"] < 200
    assert body["push_outbox"] == {"due": 0, "oldest_due_seconds": None}
    assert body["calendar_sync"]["due"] == 2
    assert 590 <= body["calendar_sync"]["most_overdue_seconds"] < 700


def test_a_stuck_or_missing_sync_loop_fails_the_check(client, monkeypatch):
    monkeypatch.setattr(scheduler, "heartbeat", None)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["sync_loop"]["ok"] is False
    monkeypatch.setattr(
        scheduler, "heartbeat", time.monotonic() - health.SYNC_LOOP_STALE_AFTER - 1
    )
    response = client.get("/health")
    assert response.status_code == 503
    assert "too long" in response.json()["sync_loop"]["error"]


def test_an_unreachable_database_fails_the_check(client, monkeypatch, tmp_path):
    monkeypatch.setenv("REFLEX_DB_URL", f"sqlite:///{tmp_path}/missing/dir/db.sqlite")
    db.dispose_all()
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["database"]["ok"] is False and body["database"]["error"]


def test_redis_when_configured_must_answer(client, monkeypatch):
    monkeypatch.setenv("REFLEX_REDIS_URL", REDIS_URL)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["redis"]["ok"] is True

    monkeypatch.setenv("REFLEX_REDIS_URL", "redis://127.0.0.1:9/0")  # nothing there
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["redis"]["ok"] is False
