"""What only Google has, beyond the shared contract (``test_google_contract``):
paging to the sync token, OAuth token refresh, consent and calendar access
rules, Google's own rate-limit and outage answers, push channels, and its
instance ids. Against the local Google sandbox.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from remotes.google import GoogleRemote

from coach_app.calendars import AuthError, OutgoingEvent, ProviderError, RateLimited
from coach_app.calendars.google import (
    GoogleProvider,
    event_id_for_key,
    is_authentic,
    key_for_event_id,
    oauth_config,
    parse_notification,
)
from coach_app.calendars.oauth import OAuthConfig, OAuthTokens, TokenSource
from sandbox.google import CALENDAR_READONLY, GoogleSandbox, instance_id

START = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)


def appointment(key: str) -> OutgoingEvent:
    return OutgoingEvent(
        key=key, summary="Coaching: Ada", start=START, end=START + timedelta(hours=1)
    )


def other_client_event(summary: str, start: datetime = START) -> dict[str, Any]:
    """An event as the coach would add it in Google's own apps."""
    return {"summary": summary, "start": start, "end": start + timedelta(hours=1)}


def utc(day: int, hour: int, month: int = 1) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


@pytest.fixture
def remote(google: GoogleSandbox) -> Iterator[GoogleRemote]:
    google.state.clear_faults()
    remote = GoogleRemote(google, seeded=True, timezone="Europe/Berlin")
    yield remote
    remote.close()


@pytest.fixture
def email(remote: GoogleRemote) -> str:
    return remote.email


@pytest.fixture
def config(google: GoogleSandbox) -> OAuthConfig:
    return oauth_config(google.env())


@pytest.fixture
def refreshed(remote: GoogleRemote) -> list[OAuthTokens]:
    return remote.refreshed


@pytest.fixture
def token_source(remote: GoogleRemote) -> TokenSource:
    return remote.token_source()


@pytest.fixture
async def provider(
    google: GoogleSandbox, token_source: TokenSource
) -> AsyncIterator[GoogleProvider]:
    async with GoogleProvider(token_source, api_base=google.api_base) as client:
        yield client


@pytest.fixture
def calendar_url(remote: GoogleRemote) -> str:
    return remote.new_calendar("Scratch")


async def test_pull_follows_every_page_and_takes_the_sync_token_from_the_last(
    google: GoogleSandbox, token_source: TokenSource, calendar_url: str
) -> None:
    for n in range(7):
        google.state.add_event(calendar_url, other_client_event(f"E{n}"))
    before = len(google.state.request_log())
    async with GoogleProvider(
        token_source, api_base=google.api_base, page_size=3
    ) as provider:
        listing = await provider.list_all(calendar_url)
        for n in range(4):
            google.state.add_event(calendar_url, other_client_event(f"N{n}"))
        delta = await provider.changes(calendar_url, listing.cursor)

    assert sorted(e.summary or "" for e in listing.changed) == [
        f"E{n}" for n in range(7)
    ]
    assert sorted(e.summary or "" for e in delta.changed) == [f"N{n}" for n in range(4)]
    pages = [
        r for r in google.state.request_log()[before:] if r.path.endswith("/events")
    ]
    # 7 events in pages of 3, then 4 changes in pages of 3: 3 + 2 requests.
    assert ["pageToken=" in r.query for r in pages] == [False, True, True, False, True]
    assert ["syncToken=" in r.query for r in pages] == [False, False, False, True, True]


async def test_an_expired_access_token_is_refreshed_and_the_call_succeeds(
    provider: GoogleProvider,
    google: GoogleSandbox,
    email: str,
    token_source: TokenSource,
    refreshed: list[OAuthTokens],
) -> None:
    before = token_source.tokens
    google.state.expire_access_tokens(email)  # the server says 401 from now on

    account = await provider.discover()

    assert account.principal_url == email
    assert len(refreshed) == 1
    assert refreshed[0].access_token != before.access_token
    assert refreshed[0].refresh_token == before.refresh_token  # Google keeps it
    assert token_source.tokens == refreshed[0]
    assert OAuthTokens.from_json(refreshed[0].to_json()) == refreshed[0]


async def test_a_token_known_to_be_expired_is_refreshed_before_the_call(
    google: GoogleSandbox, email: str, config: OAuthConfig
) -> None:
    issued = google.state.issue_tokens(email)
    stale = OAuthTokens(
        issued.access_token,
        issued.refresh_token,
        expires_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    seen: list[OAuthTokens] = []

    async def persist(tokens: OAuthTokens) -> None:
        seen.append(tokens)

    source = TokenSource(config, stale, on_refresh=persist)
    before = len(google.state.request_log())
    async with GoogleProvider(source, api_base=google.api_base) as provider:
        await provider.discover()
    paths = [r.path for r in google.state.request_log()[before:]]
    assert paths == ["/token", "/calendar/v3/calendars/primary"]  # no 401 round trip
    assert len(seen) == 1


async def test_a_bare_access_token_that_is_rejected_raises_auth_error(
    google: GoogleSandbox, email: str
) -> None:
    issued = google.state.issue_tokens(email)
    google.state.expire_access_tokens(email)
    async with GoogleProvider(
        issued.access_token, api_base=google.api_base
    ) as provider:
        with pytest.raises(AuthError) as caught:
            await provider.discover()
    assert "reconnect Google" in caught.value.user_message


async def test_consent_without_write_access_raises_auth_error_on_push(
    google: GoogleSandbox, email: str, calendar_url: str
) -> None:
    issued = google.state.issue_tokens(email, scopes=[CALENDAR_READONLY])
    async with GoogleProvider(
        issued.access_token, api_base=google.api_base
    ) as provider:
        assert await provider.list_all(calendar_url)  # reading is allowed
        with pytest.raises(AuthError) as caught:
            await provider.create(calendar_url, appointment("appt-9"), "appt-9")
    assert "allow calendar access" in caught.value.user_message


async def test_pushing_to_a_read_only_calendar_is_refused_without_asking_to_reconnect(
    provider: GoogleProvider, email: str
) -> None:
    holidays = next(c for c in await provider.list_calendars() if not c.can_write)
    with pytest.raises(ProviderError) as caught:
        await provider.create(holidays, appointment("appt-10"), "appt-10")
    assert not isinstance(caught.value, AuthError)


@pytest.mark.parametrize(
    ("kind", "status", "reason"),
    [
        ("rate_limit", 403, "rateLimitExceeded"),
        ("rate_limit", 403, "userRateLimitExceeded"),
        ("too_many_requests", 429, "rateLimitExceeded"),
    ],
)
async def test_rate_limits_raise_rate_limited_with_retry_after(
    provider: GoogleProvider,
    google: GoogleSandbox,
    calendar_url: str,
    kind: str,
    status: int,
    reason: str,
) -> None:
    google.state.inject_fault(kind, reason=reason, retry_after=7)  # type: ignore[arg-type]
    with pytest.raises(RateLimited) as caught:
        await provider.changes(calendar_url, None)
    assert caught.value.retry_after == 7
    assert str(status) in str(caught.value)
    assert (await provider.changes(calendar_url, None)).full  # only the next request


async def test_rate_limit_without_retry_after_leaves_the_backoff_to_the_engine(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    google.state.inject_fault("rate_limit", reason="quotaExceeded")
    with pytest.raises(RateLimited) as caught:
        await provider.list_all(calendar_url)
    assert caught.value.retry_after is None


async def test_a_503_with_retry_after_raises_rate_limited(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    google.state.inject_fault("server_error", status=503, retry_after=30)
    with pytest.raises(RateLimited) as caught:
        await provider.list_all(calendar_url)
    assert caught.value.retry_after == 30


# -- push notifications -------------------------------------------------------------


class _Receiver(http.server.ThreadingHTTPServer):
    calls: list[dict[str, str]]
    arrived: threading.Condition


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.server.arrived:
            self.server.calls.append(dict(self.headers.items()))
            self.server.arrived.notify_all()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[_Receiver]:
    """A local webhook receiver standing in for the app's endpoint."""
    server = _Receiver(("127.0.0.1", 0), _Handler)
    server.calls = []
    server.arrived = threading.Condition()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def wait_for_calls(
    receiver: _Receiver, count: int, timeout: float = 5.0
) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    with receiver.arrived:
        while len(receiver.calls) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            receiver.arrived.wait(left)
        return list(receiver.calls)


async def test_watch_posts_sync_then_each_change_with_the_channel_token_until_stopped(
    provider: GoogleProvider,
    google: GoogleSandbox,
    calendar_url: str,
    webhook: _Receiver,
) -> None:
    address = f"http://127.0.0.1:{webhook.server_address[1]}/webhooks/google"
    channel = await provider.watch(calendar_url, address, "s3cret-token", ttl=600)

    assert channel.expiration is not None
    assert (
        timedelta(seconds=590)
        < channel.expiration - datetime.now(UTC)
        <= timedelta(seconds=600)
    )
    [sync] = wait_for_calls(webhook, 1)
    google.state.add_event(calendar_url, other_client_event("Changed"))
    calls = wait_for_calls(webhook, 2)

    notes = [parse_notification(headers) for headers in calls]
    assert all(note is not None and is_authentic(note, channel) for note in notes)
    assert [(n.resource_state, n.message_number) for n in notes if n] == [
        ("sync", 1),
        ("exists", 2),
    ]
    assert sync["X-Goog-Channel-ID"] == channel.id
    assert sync["X-Goog-Channel-Token"] == "s3cret-token"
    assert sync["X-Goog-Resource-ID"] == channel.resource_id
    assert sync["X-Goog-Resource-URI"] == channel.resource_uri
    assert sync["X-Goog-Channel-Expiration"].endswith(" GMT")

    await provider.stop_channel(channel.id, channel.resource_id)
    google.state.add_event(calendar_url, other_client_event("After stop"))
    time.sleep(0.3)
    assert len(webhook.calls) == 2
    await provider.stop_channel(channel.id, channel.resource_id)  # idempotent


async def test_a_forged_notification_is_not_authentic(
    provider: GoogleProvider, calendar_url: str, webhook: _Receiver
) -> None:
    address = f"http://127.0.0.1:{webhook.server_address[1]}/hook"
    channel = await provider.watch(calendar_url, address, "right-token", ttl=60)
    [headers] = wait_for_calls(webhook, 1)
    forged = parse_notification({**headers, "X-Goog-Channel-Token": "wrong"})
    assert forged is not None and not is_authentic(forged, channel)
    assert parse_notification({"Content-Type": "text/plain"}) is None
    await provider.stop_channel(channel.id, channel.resource_id)


def test_an_app_event_id_encodes_its_key_and_nothing_else_decodes() -> None:
    event_id = event_id_for_key("appt-42")
    assert key_for_event_id(event_id) == "appt-42"
    assert key_for_event_id("1a2b3c4d5e6f7g8h9i0j") is None  # Google's own ids


async def test_an_instance_id_helper_matches_the_sandbox(google: GoogleSandbox) -> None:
    assert instance_id("abc", utc(6, 8)) == "abc_20250106T080000Z"
    assert instance_id("abc", date(2025, 1, 6)) == "abc_20250106"
