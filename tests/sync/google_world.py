"""The sync tests' world on Google: the local Google sandbox instead of a
CalDAV server.

One sandbox serves a test session (per test directory that imports these
fixtures); each test gets a fresh Google account with a "Work" calendar
(pulled) and a "Coach App" calendar (pushed to), and a ``CalendarConnection``
row exactly as the Connect wizard stores it: ``provider="google"``,
``username`` = ``account_label`` = the account's email, ``server_url=""``,
the ``OAuthTokens`` JSON encrypted as the secret, ``remote_id`` = Google
calendar id. ``COACH_APP_GOOGLE_*`` point the app at the sandbox. Changes
"in Google" (the coach's phone) go through the sandbox's controls.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlmodel import select

from coach_app.calendars.google import event_id_for_key
from coach_app.calendars.oauth import OAuthTokens
from coach_app.db import session_scope
from coach_app.models import AppointmentType, CalendarConnection, SubCalendar
from coach_app.security import secrets
from coach_app.services import auth
from coach_app.sync.content import event_key
from sandbox.google import GoogleSandbox, start_google_sandbox

from .conftest import AppWorld


@dataclass
class GoogleWorld(AppWorld):
    """One coach, one Google connection, two fresh Google calendars."""

    google: GoogleSandbox = field(kw_only=True)
    email: str = field(kw_only=True)

    # -- the outside world ("in Google") -------------------------------------
    def add(
        self,
        summary: str,
        start: dt.datetime,
        minutes: int = 60,
        cal: str | None = None,
        **extra: Any,
    ) -> str:
        """An event added in Google's own apps; returns its id."""
        event = self.google.state.add_event(
            cal or self.pull_cal,
            {
                "summary": summary,
                "start": start,
                "end": start + dt.timedelta(minutes=minutes),
                **extra,
            },
        )
        return str(event["id"])

    def delete(self, event_id: str, cal: str | None = None) -> None:
        self.google.state.delete_event(cal or self.pull_cal, event_id)

    def push_events(self) -> list[dict[str, Any]]:
        """The push calendar's live events as Google holds them."""
        return self.google.state.events(self.push_cal)

    def push_event_id(self, appointment_id: int) -> str:
        """The deterministic Google id of an appointment's event."""
        return event_id_for_key(event_key(appointment_id))

    def stored_tokens(self) -> OAuthTokens:
        return OAuthTokens.from_json(
            secrets.decrypt(self.connection().secret_encrypted)
        )


def sandbox_tokens(google: GoogleSandbox, email: str) -> OAuthTokens:
    issued = google.state.issue_tokens(email)
    return OAuthTokens.from_response(
        {
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        }
    )


@pytest.fixture(scope="session")
def google_sandbox() -> Iterator[GoogleSandbox]:
    sandbox = start_google_sandbox()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def google_env(
    google_sandbox: GoogleSandbox, monkeypatch: pytest.MonkeyPatch
) -> GoogleSandbox:
    for name, value in google_sandbox.env().items():
        monkeypatch.setenv(name, value)
    google_sandbox.state.clear_faults()
    return google_sandbox


def new_google_world(
    url: str, google: GoogleSandbox, timezone: str = "UTC"
) -> GoogleWorld:
    """A fresh account and connection (as the wizard would store them)."""
    email = f"coach-{uuid.uuid4().hex[:10]}@example.com"
    google.state.add_user(email, "Kim Coach", time_zone=timezone)
    pull_cal = google.state.add_calendar(email, "Work")
    push_cal = google.state.add_calendar(email, "Coach App")
    tokens = sandbox_tokens(google, email)
    with session_scope(url) as s:
        coach = auth.sign_up(
            s, f"kim-{uuid.uuid4().hex[:8]}@example.com", "password-1", "Kim Coach"
        )
        assert coach.id is not None
        type_id = s.exec(
            select(AppointmentType.id).where(AppointmentType.coach_id == coach.id)
        ).one()
        connection = CalendarConnection(
            coach_id=coach.id,
            provider="google",
            account_label=email,
            server_url="",
            username=email,
            secret_encrypted=secrets.encrypt(tokens.to_json()),
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
        assert pull.id is not None and push.id is not None
        return GoogleWorld(
            url=url,
            coach_id=coach.id,
            coach_email=coach.email,
            type_id=type_id,
            slug=coach.slug,
            connection_id=connection.id,
            pull_sub_id=pull.id,
            push_sub_id=push.id,
            pull_cal=pull_cal,
            push_cal=push_cal,
            google=google,
            email=email,
        )


@pytest.fixture
def google_world(sqlite_url: str, google_env: GoogleSandbox) -> GoogleWorld:
    return new_google_world(sqlite_url, google_env)
