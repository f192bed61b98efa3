"""The sync tests' world on Google: the local Google sandbox instead of a
CalDAV server.

One sandbox serves a test session (per test directory that imports these
fixtures); each world gets a fresh Google account with a "Work" calendar
(pulled) and a "Coach App" calendar (pushed to), and a ``CalendarConnection``
row exactly as the Connect wizard stores it: ``provider="google"``,
``username`` = ``account_label`` = the account's email, ``server_url=""``,
the ``OAuthTokens`` JSON encrypted as the secret, ``remote_id`` = Google
calendar id. ``COACH_APP_GOOGLE_*`` point the app at the sandbox. Changes
"in Google" (the coach's phone) go through the sandbox's controls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from remotes.google import GoogleRemote

from coach_app.calendars.oauth import OAuthTokens
from coach_app.security import secrets
from sandbox.google import GoogleSandbox, start_google_sandbox

from .world import World, build_world


class GoogleWorld(World):
    """One coach, one Google connection, two fresh Google calendars."""

    @property
    def google(self) -> GoogleSandbox:
        assert isinstance(self.remote, GoogleRemote)
        return self.remote.google

    @property
    def email(self) -> str:
        assert isinstance(self.remote, GoogleRemote)
        return self.remote.email

    def push_events(self) -> list[dict[str, Any]]:
        """The push calendar's live events as Google holds them."""
        return self.google.state.events(self.push_cal)

    def stored_tokens(self) -> OAuthTokens:
        return OAuthTokens.from_json(
            secrets.decrypt(self.connection().secret_encrypted)
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
    """``COACH_APP_GOOGLE_*`` point the app at the sandbox, without faults."""
    for name, value in google_sandbox.env().items():
        monkeypatch.setenv(name, value)
    google_sandbox.state.clear_faults()
    return google_sandbox


def new_google_world(
    url: str, google: GoogleSandbox, timezone: str = "UTC"
) -> GoogleWorld:
    """A fresh account and connection (as the wizard would store them)."""
    return build_world(
        url, GoogleRemote(google, timezone=timezone), timezone, cls=GoogleWorld
    )
