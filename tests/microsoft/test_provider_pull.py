"""The Graph provider pulling from the Microsoft sandbox: discovery, full and
incremental listings, and the walks that must not be cut short."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from coach_app.calendars import (
    AuthError,
    CursorInvalid,
    OutgoingEvent,
    RateLimited,
    reconcile,
)
from coach_app.calendars.ical import expand
from coach_app.calendars.microsoft import OUTLOOK
from sandbox.microsoft import MicrosoftSandbox

from .conftest import ProviderMaker, Waits
from .shapes import weekly_series

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def add_hourly(graph: MicrosoftSandbox, cal: str, count: int) -> set[str]:
    """``count`` one-hour events, one after another from the next hour."""
    return {
        graph.state.add_event(
            cal, {"subject": f"e{n}", "start": at(n + 1), "end": at(n + 2)}
        )["id"]
        for n in range(count)
    }


class OnDeltaPage:
    """A request hook that runs ``actions[n]`` just before the n-th delta
    request (1-based) is sent, and counts them."""

    def __init__(self, actions: dict[int, Callable[[], object]]) -> None:
        self.actions = actions
        self.seen = 0

    async def __call__(self, request: httpx.Request) -> None:
        if "/calendarView/delta" in request.url.path:
            self.seen += 1
            action = self.actions.get(self.seen)
            if action is not None:
                action()


async def test_discover_and_calendars_of_a_work_and_a_personal_account(
    graph: MicrosoftSandbox, email: str, make_provider: ProviderMaker
) -> None:
    shared = graph.state.add_calendar(email, "Team rota", can_edit=False)
    provider = make_provider()
    account = await provider.discover()
    assert (account.provider, account.login, account.server) == (
        "office365",
        email,
        "office365",
    )
    calendars = await provider.list_calendars()
    assert (
        calendars[0].id == graph.state.mailboxes_default(email)
        and calendars[0].can_write
    )
    assert [c.can_write for c in calendars if c.id == shared] == [False]

    personal = graph.state.add_account(
        "pat-" + email.split("@")[0] + "@outlook.example", kind="personal"
    )
    outlook = make_provider(preset=OUTLOOK, account=personal)
    found = await outlook.discover()
    assert (found.provider, found.login) == (
        "outlook",
        personal,
    )  # from userPrincipalName


async def test_busy_follows_show_as_cancellation_and_the_coachs_answer(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker
) -> None:
    cases = {
        "busy": {"showAs": "busy"},
        "oof": {"showAs": "oof"},
        "tentative": {"showAs": "tentative"},
        "elsewhere": {"showAs": "workingElsewhere"},
        "free": {"showAs": "free"},
        "unknown": {"showAs": "unknown"},
        "declined": {"responseStatus": {"response": "declined"}, "isOrganizer": False},
        "cancelled": {"isCancelled": True},
    }
    for n, (subject, extra) in enumerate(cases.items()):
        graph.state.add_event(
            cal, {"subject": subject, "start": at(n + 1), "end": at(n + 2), **extra}
        )
    listing = await make_provider().list_all(cal)
    assert listing.full and listing.cursor
    busy = {}
    for event in listing.changed:
        [occurrence] = expand(event.raw, NOW, at(48), "UTC")
        busy[event.summary] = occurrence.busy
    assert busy == {
        "busy": True,
        "oof": True,
        "tentative": True,
        "elsewhere": True,
        "free": False,
        "unknown": False,
        "declined": False,
        "cancelled": False,
    }


async def test_all_day_events_keep_their_dates(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker
) -> None:
    day = (NOW + timedelta(days=3)).date()
    graph.state.add_event(
        cal, {"subject": "Off", "start": day, "end": day + timedelta(days=1)}
    )
    [event] = (await make_provider().list_all(cal)).changed
    [occurrence] = expand(event.raw, NOW, at(24 * 10), "Pacific/Auckland")
    assert occurrence.all_day
    assert occurrence.start.astimezone(ZoneInfo("Pacific/Auckland")).date() == day


async def test_changes_report_edits_and_deletions_and_advance_the_cursor(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker
) -> None:
    provider = make_provider()
    keep = graph.state.add_event(cal, {"subject": "keep", "start": at(1), "end": at(2)})
    gone = graph.state.add_event(cal, {"subject": "gone", "start": at(3), "end": at(4)})
    listing = await provider.list_all(cal)
    assert {e.id for e in listing.changed} == {keep["id"], gone["id"]}
    graph.state.update_event(keep["id"], {"subject": "kept"})
    graph.state.delete_event(gone["id"])
    new = graph.state.add_event(cal, {"subject": "new", "start": at(5), "end": at(6)})
    delta = await provider.changes(cal, listing.cursor)
    assert not delta.full
    assert {e.id: e.summary for e in delta.changed} == {
        keep["id"]: "kept",
        new["id"]: "new",
    }
    assert delta.deleted == [gone["id"]]
    quiet = await provider.changes(cal, delta.cursor)
    assert (quiet.changed, quiet.deleted) == ([], [])


async def test_a_429_in_the_middle_of_a_walk_is_waited_out_and_the_walk_completes(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker, waits: Waits
) -> None:
    ids = add_hourly(graph, cal, 7)
    hook = OnDeltaPage(
        {3: lambda: graph.state.inject_fault("too_many_requests", retry_after=2)}
    )
    listing = await make_provider(page_size=2, on_request=hook).list_all(cal)
    assert {e.id for e in listing.changed} == ids
    assert waits.seconds == [2.0]  # Retry-After, honoured
    assert hook.seen == 5  # four pages, the third asked twice


async def test_a_503_and_a_dropped_connection_mid_walk_are_retried(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker, waits: Waits
) -> None:
    ids = add_hourly(graph, cal, 5)
    hook = OnDeltaPage(
        {
            2: lambda: graph.state.inject_fault("server_error", retry_after=1),
            4: lambda: graph.state.inject_fault("drop"),
        }
    )
    listing = await make_provider(page_size=2, on_request=hook).list_all(cal)
    assert {e.id for e in listing.changed} == ids
    assert waits.seconds[0] == 1.0 and len(waits.seconds) == 2


async def test_a_long_retry_after_fails_the_walk_without_a_partial_result(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker
) -> None:
    add_hourly(graph, cal, 5)
    provider = make_provider(page_size=2)
    listing = await provider.list_all(cal)
    graph.state.add_event(cal, {"subject": "later", "start": at(9), "end": at(10)})
    graph.state.inject_fault("too_many_requests", retry_after=600)
    with pytest.raises(RateLimited) as caught:
        await provider.changes(cal, listing.cursor)
    assert caught.value.retry_after == 600
    again = await provider.changes(cal, listing.cursor)  # the cursor still works
    assert [e.summary for e in again.changed] == ["later"]


async def test_a_token_that_expires_mid_walk_is_refreshed_and_the_walk_completes(
    graph: MicrosoftSandbox, email: str, cal: str, make_provider: ProviderMaker
) -> None:
    ids = add_hourly(graph, cal, 6)
    seen = 0

    async def expire_on_page_two(request: httpx.Request) -> None:
        nonlocal seen
        if "/calendarView/delta" in request.url.path:
            seen += 1
            if seen == 2:
                graph.state.expire_access_tokens(email)

    before = len(graph.state.request_log())
    listing = await make_provider(page_size=2, on_request=expire_on_page_two).list_all(
        cal
    )
    assert {e.id for e in listing.changed} == ids
    token_calls = [
        r
        for r in graph.state.request_log()[before:]
        if r.path.endswith("/oauth2/v2.0/token")
    ]
    assert len(token_calls) == 1
    [fresh] = make_provider.refreshed
    assert fresh.refresh_token  # rolled: the source hands the new one on to be stored


async def test_a_revoked_grant_is_auth_error_with_the_reconnect_message(
    graph: MicrosoftSandbox, email: str, cal: str, make_provider: ProviderMaker
) -> None:
    provider = make_provider()
    graph.state.revoke(email=email, reason="inactive")
    with pytest.raises(AuthError) as caught:
        await provider.list_all(cal)
    assert "reconnect Office 365" in caught.value.user_message
    assert "invalid_grant" in str(caught.value)


async def test_a_410_resync_finds_the_event_deleted_during_the_gap(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker
) -> None:
    provider = make_provider()
    stays = graph.state.add_event(
        cal, {"subject": "stays", "start": at(1), "end": at(2)}
    )
    gone = graph.state.add_event(cal, {"subject": "gone", "start": at(3), "end": at(4)})
    listing = await provider.list_all(cal)
    local = [e.id for e in listing.changed]
    graph.state.delete_event(gone["id"])
    graph.state.evict_delta_tokens(cal)
    with pytest.raises(CursorInvalid):
        await provider.changes(cal, listing.cursor)
    fresh = await provider.list_all(cal)
    assert reconcile(local, fresh) == [gone["id"]]
    assert [e.id for e in fresh.changed] == [stays["id"]]
    graph.state.evict_delta_tokens(cal, status=400, code="resyncRequired")
    with pytest.raises(CursorInvalid):
        await provider.changes(cal, fresh.cursor)


async def test_an_occurrence_deleted_from_a_weekly_series_disappears(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker
) -> None:
    provider = make_provider()
    start = NOW + timedelta(days=1, hours=9)
    series = graph.state.add_event(cal, weekly_series("Weekly", start, 4))
    listing = await provider.list_all(cal)
    occurrences = {e.id for e in listing.changed}
    assert len(occurrences) == 4
    second = graph.state.occurrence_id(series["id"], start + timedelta(days=7))
    assert second in occurrences
    graph.state.cancel_occurrence(series["id"], start + timedelta(days=7))
    delta = await provider.changes(cal, listing.cursor)
    assert delta.deleted == [second] and delta.changed == []


async def test_removals_outside_the_window_delete_only_what_left_it(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker
) -> None:
    provider = make_provider()
    leaves = graph.state.add_event(
        cal, {"subject": "leaves", "start": at(5), "end": at(6)}
    )
    ours = await provider.create(
        cal, outgoing("coachapp-appt-77", at(7)), "coachapp-appt-77"
    )
    listing = await provider.list_all(cal)
    graph.state.advance_clock(timedelta(minutes=5))  # the coach acts later
    far = at(24 * 900)
    newcomer = graph.state.add_event(
        cal, {"subject": "far away", "start": far, "end": far + timedelta(hours=1)}
    )
    graph.state.move_event(leaves["id"], far, far + timedelta(hours=1))
    graph.state.move_event(ours[0], far, far + timedelta(hours=1))
    delta = await provider.changes(cal, listing.cursor)
    assert newcomer["id"] not in delta.deleted  # never ours to delete
    assert newcomer["id"] not in {e.id for e in delta.changed}
    assert delta.deleted == [leaves["id"]]  # it left the window
    [moved_ours] = delta.changed  # our appointment, moved away: shown, not deleted
    assert (moved_ours.id, moved_ours.coach_key) == (ours[0], "coachapp-appt-77")


async def test_replays_and_duplicates_in_a_round_count_once(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker
) -> None:
    provider = make_provider()
    a = graph.state.add_event(cal, {"subject": "a", "start": at(1), "end": at(2)})
    graph.state.add_event(cal, {"subject": "b", "start": at(3), "end": at(4)})
    listing = await provider.list_all(cal)
    graph.state.update_event(a["id"], {"subject": "a2"})
    graph.state.inject_replays(cal, 1)
    delta = await provider.changes(cal, listing.cursor)
    assert sorted(e.summary or "" for e in delta.changed) == ["a2", "b"]
    assert delta.deleted == []


async def test_the_window_slides_daily_with_a_full_listing(
    graph: MicrosoftSandbox,
    cal: str,
    make_provider: ProviderMaker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = make_provider()
    event = graph.state.add_event(cal, {"subject": "x", "start": at(30), "end": at(31)})
    listing = await provider.list_all(cal)
    later = datetime.now(UTC) + timedelta(days=1, minutes=5)
    monkeypatch.setattr(provider, "now", lambda: later)
    before = len(graph.state.request_log())
    slid = await provider.changes(cal, listing.cursor)
    assert slid.full and [e.id for e in slid.changed] == [event["id"]]
    first = graph.state.request_log()[before]
    assert "startDateTime" in first.query  # a new window, not the old token
    assert slid.cursor and slid.cursor != listing.cursor


def outgoing(key: str, start: datetime) -> OutgoingEvent:
    return OutgoingEvent(
        key=key, summary="Session", start=start, end=start + timedelta(hours=1)
    )
