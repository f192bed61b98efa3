"""What only Google has in the sync engine: access tokens that expire and
are refreshed (and stored encrypted), and grants replaced by a reconnect.
The engine scenarios every provider shares run on Google in
``test_google_scenarios.py``."""

from __future__ import annotations

import datetime as dt

import pytest
from remotes.google import sandbox_tokens

from coach_app.calendars.oauth import OAuthTokens
from coach_app.security import secrets
from coach_app.sync import providers
from sandbox.google import GoogleSandbox

from .google_world import GoogleWorld, new_google_world
from .world import NOW, at


@pytest.fixture
def google_world(sqlite_url: str, google_env: GoogleSandbox) -> GoogleWorld:
    return new_google_world(sqlite_url, google_env)


async def test_expired_access_token_is_refreshed_and_the_new_tokens_stored_encrypted(
    google_world: GoogleWorld,
) -> None:
    world = google_world
    await world.sync()
    before = world.stored_tokens()
    world.google.state.expire_access_tokens(world.email)
    world.add("Dentist", at(8, 10))
    sent = len(world.google.state.request_log())

    result = await world.sync(now=NOW + dt.timedelta(minutes=1))

    assert (result.status, result.error) == ("ok", "")
    assert [r.summary for r in world.external()] == ["Dentist"]
    token_calls = [
        r.path for r in world.google.state.request_log()[sent:] if r.path == "/token"
    ]
    assert token_calls == ["/token"]  # one refresh, shared by every request
    after = world.stored_tokens()
    assert after.access_token != before.access_token
    assert after.refresh_token == before.refresh_token
    assert after.expires_at > before.expires_at
    secret = world.connection().secret_encrypted
    assert after.access_token not in secret and before.refresh_token not in secret
    # The stored token is the live one: the next sync needs no refresh.
    sent = len(world.google.state.request_log())
    assert (await world.sync(now=NOW + dt.timedelta(minutes=2))).status == "ok"
    assert "/token" not in [r.path for r in world.google.state.request_log()[sent:]]


async def test_a_refresh_never_overwrites_the_grant_of_a_reconnect(
    google_world: GoogleWorld,
) -> None:
    """The coach reconnected Google while a sync refreshed the old grant:
    the new grant is kept."""
    world = google_world
    old = world.stored_tokens()
    save = providers.token_saver(world.url, world.connection_id, old.refresh_token)
    reconnected = sandbox_tokens(world.google, world.email)
    world.update_connection(secret_encrypted=secrets.encrypt(reconnected.to_json()))

    await save(
        OAuthTokens("ya29.refreshed-old-grant", old.refresh_token, old.expires_at)
    )

    assert world.stored_tokens() == reconnected
