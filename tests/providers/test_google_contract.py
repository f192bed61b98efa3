"""The provider contract for Google, against the local Google sandbox.

The same behaviours as ``test_caldav_contract.py`` (same test names where the
behaviour is the same), plus what only Google has: OAuth token refresh and
revocation, Google's rate-limit errors, recurring events with Google's
exception model, and push channels. Changes "from outside" go through the
sandbox's controls (``google.state``), as the coach's phone would make them.

Each test gets a fresh sandbox account and a fresh scratch calendar, so one
sandbox serves the whole module.
"""

from __future__ import annotations

import http.server
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from coach_app.calendars import (
    AuthError,
    CalendarProvider,
    CursorInvalid,
    NotFound,
    OutgoingEvent,
    PreconditionFailed,
    ProviderError,
    RateLimited,
    RemoteEvent,
    Transient,
    reconcile,
)
from coach_app.calendars.google import (
    GoogleProvider,
    event_id_for_key,
    is_authentic,
    key_for_event_id,
    oauth_config,
    parse_notification,
)
from coach_app.calendars.ical import expand
from coach_app.calendars.oauth import OAuthConfig, OAuthTokens, TokenSource
from sandbox.google import (
    CALENDAR_READONLY,
    GoogleSandbox,
    instance_id,
    start_google_sandbox,
)

pytestmark = pytest.mark.asyncio

START = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
END = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)


def appointment(key: str, summary: str = "Coaching: Ada") -> OutgoingEvent:
    return OutgoingEvent(
        key=key, summary=summary, description="Session 3", start=START, end=END
    )


def by_summary(events: list[RemoteEvent]) -> dict[str | None, RemoteEvent]:
    return {event.summary: event for event in events}


def other_client_event(
    summary: str, start: datetime = START, **extra: Any
) -> dict[str, Any]:
    """An event as the coach would add it in Google's own apps."""
    return {
        "summary": summary,
        "start": start,
        "end": start + timedelta(hours=1),
        **extra,
    }


# -- fixtures --------------------------------------------------------------------


@pytest.fixture(scope="module")
def google() -> Iterator[GoogleSandbox]:
    sandbox = start_google_sandbox()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def email(google: GoogleSandbox) -> str:
    """A fresh coach account: Work, Family and a read-only holiday calendar."""
    address = f"coach-{uuid.uuid4().hex[:10]}@example.com"
    google.state.add_user(address, "Casey Coach", time_zone="Europe/Berlin")
    google.state.add_calendar(address, "Work", background_color="#4986e7")
    google.state.add_calendar(address, "family")
    holidays = f"en.{uuid.uuid4().hex[:6]}#holiday@group.v.calendar.google.com"
    google.state.add_user("holidays@example.com")
    google.state.add_calendar("holidays@example.com", "Holidays", calendar_id=holidays)
    google.state.share_calendar(holidays, address, "reader")
    google.state.add_user("boss@example.com")  # shares only free/busy: not listed
    google.state.share_calendar("boss@example.com", address, "freeBusyReader")
    return address


@pytest.fixture
def config(google: GoogleSandbox) -> OAuthConfig:
    return oauth_config(google.env())


@pytest.fixture
def refreshed() -> list[OAuthTokens]:
    return []


@pytest.fixture
def token_source(
    google: GoogleSandbox,
    email: str,
    config: OAuthConfig,
    refreshed: list[OAuthTokens],
) -> TokenSource:
    issued = google.state.issue_tokens(email)
    tokens = OAuthTokens.from_response(
        {
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        }
    )
    return TokenSource(config, tokens, on_refresh=refreshed.append)


@pytest_asyncio.fixture
async def provider(
    google: GoogleSandbox, token_source: TokenSource
) -> AsyncIterator[GoogleProvider]:
    async with GoogleProvider(token_source, api_base=google.api_base) as client:
        yield client


@pytest.fixture
def calendar_url(google: GoogleSandbox, email: str) -> Iterator[str]:
    """A fresh, empty calendar (named like the CalDAV suite's fixture)."""
    cal = google.state.add_calendar(email, "Scratch")
    yield cal
    google.state.remove_calendar(cal)


# -- the shared contract -----------------------------------------------------------


async def test_provider_satisfies_the_protocol(provider: GoogleProvider) -> None:
    assert isinstance(provider, CalendarProvider)


async def test_discover_finds_principal_home_and_server_profile(
    provider: GoogleProvider, google: GoogleSandbox, email: str
) -> None:
    account = await provider.discover()
    assert account.provider == "google"
    assert account.principal_url == email
    assert account.home_url == google.api_base
    assert account.display_name == email
    assert account.server == "google"


async def test_list_calendars_returns_primary_first_and_write_access_from_the_role(
    provider: GoogleProvider, email: str
) -> None:
    calendars = await provider.list_calendars()
    assert [(c.name, c.can_write) for c in calendars] == [
        (email, True),
        ("family", True),
        ("Holidays", False),
        ("Work", True),
    ]
    assert calendars[0].id == email
    assert "#holiday@" in calendars[2].id  # ids with '#' survive the path
    assert calendars[3].color == "#4986e7"
    assert all(c.ctag for c in calendars)


async def test_full_pull_returns_every_event_with_etag_and_a_cursor(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    etags = {
        name: google.state.add_event(calendar_url, other_client_event(name))["etag"]
        for name in ("A", "B", "C")
    }
    listing = await provider.changes(calendar_url, None)
    assert listing.full is True
    assert listing.deleted == []
    assert listing.cursor
    assert {e.summary: e.etag for e in listing.changed} == etags
    assert all(e.raw.startswith("BEGIN:VCALENDAR") for e in listing.changed)
    assert all(e.uid and e.uid.endswith("@google.com") for e in listing.changed)


async def test_incremental_pull_sees_a_new_a_changed_and_a_deleted_event(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    state = google.state
    state.add_event(calendar_url, other_client_event("Keep"))
    edit = state.add_event(calendar_url, other_client_event("Before"))
    gone = state.add_event(calendar_url, other_client_event("Gone"))
    first = await provider.list_all(calendar_url)

    state.add_event(calendar_url, other_client_event("New"))
    new_etag = state.patch_event(calendar_url, edit["id"], {"summary": "After"})["etag"]
    state.delete_event(calendar_url, gone["id"])
    delta = await provider.changes(calendar_url, first.cursor)

    assert delta.full is False
    changed = by_summary(delta.changed)
    assert sorted(s or "" for s in changed) == ["After", "New"]
    assert changed["After"].id == edit["id"]
    assert changed["After"].etag == new_etag
    assert delta.deleted == [gone["id"]]
    assert delta.cursor
    assert delta.cursor != first.cursor

    quiet = await provider.changes(calendar_url, delta.cursor)
    assert (quiet.changed, quiet.deleted) == ([], [])
    assert quiet.cursor


async def test_incremental_pull_of_one_change_costs_one_request(
    google: GoogleSandbox, token_source: TokenSource, calendar_url: str
) -> None:
    requests: list[str] = []

    async def count(request: httpx.Request) -> None:
        requests.append(f"{request.method} {request.url.path}")

    async with GoogleProvider(
        token_source, api_base=google.api_base, on_request=count
    ) as provider:
        google.state.add_event(calendar_url, other_client_event("One"))
        cursor = (await provider.list_all(calendar_url)).cursor
        google.state.add_event(calendar_url, other_client_event("Two"))
        requests.clear()
        delta = await provider.changes(calendar_url, cursor)

    assert [e.summary for e in delta.changed] == ["Two"]
    assert len(requests) == 1
    assert requests[0].endswith("/events")


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


async def test_garbage_sync_token_raises_cursor_invalid(
    provider: GoogleProvider, calendar_url: str
) -> None:
    with pytest.raises(CursorInvalid):
        await provider.changes(calendar_url, "garbage-token")


async def test_rejected_cursor_then_full_listing_reveals_the_deletion_made_in_the_gap(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    state = google.state
    ids = {
        name: state.add_event(calendar_url, other_client_event(name))["id"]
        for name in ("a", "b", "c")
    }
    local = await provider.list_all(calendar_url)
    state.invalidate_sync_tokens(calendar_url)  # as after a server-side expiry
    state.delete_event(calendar_url, ids["b"])
    state.add_event(calendar_url, other_client_event("d"))

    with pytest.raises(CursorInvalid):
        await provider.changes(calendar_url, local.cursor)
    listing = await provider.list_all(calendar_url)

    assert listing.full is True
    assert reconcile([e.id for e in local.changed], listing) == [ids["b"]]
    assert sorted(e.summary or "" for e in listing.changed) == ["a", "c", "d"]


async def test_create_with_the_same_key_twice_yields_exactly_one_resource(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    first_id, first_etag = await provider.create(
        calendar_url, appointment("appt-42"), "appt-42"
    )
    second_id, second_etag = await provider.create(
        calendar_url, appointment("appt-42"), "appt-42"
    )

    assert (second_id, second_etag) == (first_id, first_etag)
    assert first_id == event_id_for_key("appt-42")
    assert key_for_event_id(first_id) == "appt-42"
    assert [e["id"] for e in google.state.events(calendar_url)] == [first_id]
    stored = await provider.get(calendar_url, first_id)
    assert stored is not None
    assert (stored.coach_key, stored.etag, stored.summary) == (
        "appt-42",
        first_etag,
        "Coaching: Ada",
    )


async def test_create_over_a_foreign_event_of_the_same_name_raises_precondition_failed(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    google.state.add_event(
        calendar_url,
        {"id": event_id_for_key("appt-7"), **other_client_event("Not ours")},
    )
    with pytest.raises(PreconditionFailed):
        await provider.create(calendar_url, appointment("appt-7"), "appt-7")


async def test_create_after_the_coach_deleted_it_in_google_restores_the_event(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    event_id, _ = await provider.create(calendar_url, appointment("appt-8"), "appt-8")
    google.state.delete_event(calendar_url, event_id)
    assert await provider.get(calendar_url, event_id) is None

    again_id, etag = await provider.create(
        calendar_url, appointment("appt-8"), "appt-8"
    )

    assert again_id == event_id  # Google never frees a deleted id: it is restored
    stored = await provider.get(calendar_url, event_id)
    assert stored is not None
    assert (stored.etag, stored.coach_key) == (etag, "appt-8")


async def test_update_with_the_current_etag_replaces_the_event_and_returns_a_new_etag(
    provider: GoogleProvider, calendar_url: str
) -> None:
    event_id, etag = await provider.create(
        calendar_url, appointment("appt-1"), "appt-1"
    )
    assert etag
    new_etag = await provider.update(
        calendar_url, event_id, appointment("appt-1", "Coaching: moved"), etag
    )
    assert new_etag
    assert new_etag != etag
    stored = await provider.get(calendar_url, event_id)
    assert stored is not None
    assert (stored.summary, stored.etag, stored.coach_key) == (
        "Coaching: moved",
        new_etag,
        "appt-1",
    )


async def test_update_with_a_stale_etag_raises_precondition_failed(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    event_id, etag = await provider.create(
        calendar_url, appointment("appt-2"), "appt-2"
    )
    assert etag
    google.state.patch_event(calendar_url, event_id, {"summary": "Edited on the phone"})
    with pytest.raises(PreconditionFailed):
        await provider.update(calendar_url, event_id, appointment("appt-2"), etag)
    stored = await provider.get(calendar_url, event_id)
    assert stored is not None
    assert stored.summary == "Edited on the phone"


async def test_delete_with_a_stale_etag_raises_precondition_failed_and_keeps_the_event(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    event_id, etag = await provider.create(
        calendar_url, appointment("appt-3"), "appt-3"
    )
    assert etag
    google.state.patch_event(calendar_url, event_id, {"summary": "Edited on the phone"})
    with pytest.raises(PreconditionFailed):
        await provider.delete(calendar_url, event_id, etag)
    assert await provider.get(calendar_url, event_id) is not None


async def test_delete_with_the_current_etag_removes_the_event(
    provider: GoogleProvider, calendar_url: str
) -> None:
    event_id, etag = await provider.create(
        calendar_url, appointment("appt-4"), "appt-4"
    )
    await provider.delete(calendar_url, event_id, etag)
    assert await provider.get(calendar_url, event_id) is None
    with pytest.raises(NotFound):  # Google: 410 Gone for an already deleted event
        await provider.delete(calendar_url, event_id, None)


async def test_events_created_by_the_app_are_pulled_with_their_key(
    provider: GoogleProvider, calendar_url: str
) -> None:
    event_id, etag = await provider.create(
        calendar_url, appointment("appt-5"), "appt-5"
    )
    listing = await provider.list_all(calendar_url)
    assert [(e.id, e.etag, e.coach_key) for e in listing.changed] == [
        (event_id, etag, "appt-5")
    ]
    [occurrence] = expand(listing.changed[0].raw, START, END, "UTC")
    assert (occurrence.start, occurrence.end, occurrence.busy) == (START, END, True)


# -- OAuth: refresh and revocation ---------------------------------------------


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


async def test_a_revoked_grant_raises_auth_error_asking_to_reconnect_google(
    provider: GoogleProvider, google: GoogleSandbox, email: str
) -> None:
    google.state.revoke(email=email)  # e.g. removed in the Google account settings
    with pytest.raises(AuthError) as caught:
        await provider.list_calendars()
    assert "invalid_grant" in str(caught.value)
    assert "reconnect Google" in caught.value.user_message


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


# -- faults ----------------------------------------------------------------------


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


async def test_server_errors_and_dropped_connections_raise_transient(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    google.state.inject_fault("server_error", status=500)
    with pytest.raises(Transient):
        await provider.list_all(calendar_url)
    google.state.inject_fault("drop")
    with pytest.raises(Transient):
        await provider.list_all(calendar_url)
    google.state.inject_fault("server_error", status=503, retry_after=30)
    with pytest.raises(RateLimited) as caught:
        await provider.list_all(calendar_url)
    assert caught.value.retry_after == 30


async def test_a_slow_answer_beyond_the_timeout_raises_transient(
    google: GoogleSandbox, token_source: TokenSource, calendar_url: str
) -> None:
    google.state.inject_fault("slow", delay=1.0)
    async with GoogleProvider(
        token_source, api_base=google.api_base, timeout=0.3
    ) as provider:
        with pytest.raises(Transient):
            await provider.list_all(calendar_url)


# -- recurrence, all-day, free time ---------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


def utc(day: int, hour: int, month: int = 1) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


async def test_weekly_series_with_exdate_and_moved_instance_expands_exactly_for_8_weeks(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    state = google.state
    master = state.add_event(
        calendar_url,
        {
            "summary": "Team sync",
            "start": {"dateTime": "2025-01-06T09:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2025-01-06T10:00:00", "timeZone": "Europe/Berlin"},
            "recurrence": [
                "RRULE:FREQ=WEEKLY;BYDAY=MO",
                "EXDATE;TZID=Europe/Berlin:20250120T090000",
            ],
        },
    )
    # In Google's UI: move the 27 Jan instance to Tue 28 Jan 14:00, delete 17 Feb.
    state.move_instance(
        calendar_url,
        master["id"],
        datetime(2025, 1, 27, 9, tzinfo=BERLIN),
        datetime(2025, 1, 28, 14, tzinfo=BERLIN),
        datetime(2025, 1, 28, 15, tzinfo=BERLIN),
    )
    state.cancel_instance(
        calendar_url, master["id"], datetime(2025, 2, 17, 9, tzinfo=BERLIN)
    )

    [stored] = (await provider.list_all(calendar_url)).changed
    occurrences = expand(stored.raw, utc(6, 0), utc(3, 0, month=3), "America/New_York")

    assert stored.id == master["id"]
    assert [(o.recurrence_id, o.start, o.end, o.summary) for o in occurrences] == [
        ("20250106T080000Z", utc(6, 8), utc(6, 9), "Team sync"),
        ("20250113T080000Z", utc(13, 8), utc(13, 9), "Team sync"),
        ("20250127T080000Z", utc(28, 13), utc(28, 14), "Team sync"),
        ("20250203T080000Z", utc(3, 8, 2), utc(3, 9, 2), "Team sync"),
        ("20250210T080000Z", utc(10, 8, 2), utc(10, 9, 2), "Team sync"),
        ("20250224T080000Z", utc(24, 8, 2), utc(24, 9, 2), "Team sync"),
    ]
    assert all(o.busy and not o.all_day for o in occurrences)


async def test_a_series_crossing_dst_keeps_its_wall_clock_time(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    google.state.add_event(
        calendar_url,
        {
            "summary": "Weekly",
            "start": {
                "dateTime": "2025-03-24T09:00:00+01:00",
                "timeZone": "Europe/Berlin",
            },
            "end": {
                "dateTime": "2025-03-24T10:00:00+01:00",
                "timeZone": "Europe/Berlin",
            },
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=2"],
        },
    )
    [stored] = (await provider.list_all(calendar_url)).changed
    starts = [o.start for o in expand(stored.raw, utc(1, 0, 3), utc(1, 0, 5), "UTC")]
    assert starts == [utc(24, 8, 3), utc(31, 7, 3)]  # 09:00 CET, then 09:00 CEST


async def test_moving_one_instance_later_arrives_as_the_whole_series(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    master = google.state.add_event(
        calendar_url,
        {
            "summary": "Daily",
            "start": {"dateTime": "2025-01-06T09:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2025-01-06T09:30:00", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=5"],
        },
    )
    cursor = (await provider.list_all(calendar_url)).cursor
    google.state.move_instance(
        calendar_url,
        master["id"],
        datetime(2025, 1, 8, 9, tzinfo=BERLIN),
        datetime(2025, 1, 8, 16, tzinfo=BERLIN),
        datetime(2025, 1, 8, 16, 30, tzinfo=BERLIN),
    )
    google.state.cancel_instance(
        calendar_url, master["id"], datetime(2025, 1, 9, 9, tzinfo=BERLIN)
    )

    delta = await provider.changes(calendar_url, cursor)

    assert delta.deleted == []
    [series] = delta.changed
    assert series.id == master["id"]
    starts = [o.start for o in expand(series.raw, utc(1, 0), utc(31, 0), "UTC")]
    assert starts == [utc(6, 8), utc(7, 8), utc(8, 15), utc(10, 8)]


async def test_deleting_a_whole_series_reports_the_master_id(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str
) -> None:
    master = google.state.add_event(
        calendar_url,
        {
            "summary": "Series",
            "start": {"dateTime": "2025-01-06T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2025-01-06T10:00:00", "timeZone": "UTC"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
        },
    )
    google.state.cancel_instance(calendar_url, master["id"], utc(7, 9))
    cursor = (await provider.list_all(calendar_url)).cursor
    google.state.delete_event(calendar_url, master["id"])
    delta = await provider.changes(calendar_url, cursor)
    assert (delta.changed, delta.deleted) == ([], [master["id"]])


async def test_transparent_declined_and_all_day_events_are_read_as_google_means_them(
    provider: GoogleProvider, google: GoogleSandbox, calendar_url: str, email: str
) -> None:
    state = google.state
    state.add_event(
        calendar_url, other_client_event("Focus", transparency="transparent")
    )
    state.add_event(
        calendar_url,
        other_client_event(
            "Town hall",
            attendees=[
                {"email": email, "responseStatus": "declined"},
                {"email": "boss@example.com", "responseStatus": "accepted"},
            ],
        ),
    )
    state.add_event(
        calendar_url,
        {"summary": "Trip", "start": date(2025, 3, 29), "end": date(2025, 3, 31)},
    )
    events = by_summary((await provider.list_all(calendar_url)).changed)
    window = (utc(1, 0, 3), utc(1, 0, 4))

    [focus] = expand(events["Focus"].raw, *window, "Europe/Berlin", email)
    [town] = expand(events["Town hall"].raw, *window, "Europe/Berlin", email)
    [trip] = expand(events["Trip"].raw, *window, "Europe/Berlin", email)

    assert not focus.busy
    assert not town.busy
    assert trip.all_day and trip.busy
    # Two days in Berlin across the DST change: 47 hours.
    assert (trip.start, trip.end) == (utc(28, 23, 3), utc(30, 22, 3))


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


async def test_an_instance_id_helper_matches_the_sandbox(google: GoogleSandbox) -> None:
    assert instance_id("abc", utc(6, 8)) == "abc_20250106T080000Z"
    assert instance_id("abc", date(2025, 1, 6)) == "abc_20250106"
