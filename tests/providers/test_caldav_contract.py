"""The provider contract, run against real Radicale and Xandikos servers.

Every test here runs once per server (``server`` is parametrized). Changes
"from outside" are made with ``admin`` (plain DAV calls), as a phone would.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from coach_app.calendars import (
    CursorInvalid,
    OutgoingEvent,
    PreconditionFailed,
    RemoteEvent,
    reconcile,
)
from coach_app.calendars.caldav import CalDAVProvider

from .conftest import LOOPBACK, ics
from .servers import DavAdmin, RunningServer

pytestmark = pytest.mark.asyncio

START = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
END = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)


def appointment(key: str, summary: str = "Coaching: Ada") -> OutgoingEvent:
    return OutgoingEvent(
        key=key, summary=summary, description="Session 3", start=START, end=END
    )


def by_uid(events: list[RemoteEvent]) -> dict[str | None, RemoteEvent]:
    return {event.uid: event for event in events}


async def test_discover_finds_principal_home_and_server_profile(
    provider: CalDAVProvider, server: RunningServer
) -> None:
    account = await provider.discover()
    assert account.provider == "caldav"
    assert account.home_url == server.home_url
    assert account.server == server.name


async def test_list_calendars_returns_event_calendars_and_skips_task_only_lists(
    provider: CalDAVProvider, server: RunningServer
) -> None:
    calendars = await provider.list_calendars()
    assert [(c.name, c.id, c.can_write) for c in calendars] == [
        ("Family", server.home_url + "family/", True),
        ("Work", server.home_url + "work/", True),
    ]
    work = calendars[1]
    assert work.color == "#FF0000FF"
    assert work.ctag


async def test_full_pull_returns_every_event_with_etag_and_a_cursor(
    provider: CalDAVProvider, admin: DavAdmin, calendar_url: str
) -> None:
    etags = {
        uid: admin.put(f"{calendar_url}{uid}.ics", ics(uid, uid.upper()))
        for uid in "abc"
    }
    listing = await provider.changes(calendar_url, None)
    assert listing.full is True
    assert listing.deleted == []
    assert listing.cursor
    assert {e.uid: (e.etag, e.summary) for e in listing.changed} == {
        uid: (etags[uid], uid.upper()) for uid in "abc"
    }
    assert all(e.raw.startswith("BEGIN:VCALENDAR") for e in listing.changed)


async def test_incremental_pull_sees_a_new_a_changed_and_a_deleted_event(
    provider: CalDAVProvider, admin: DavAdmin, calendar_url: str
) -> None:
    admin.put(calendar_url + "keep.ics", ics("keep", "Keep"))
    admin.put(calendar_url + "edit.ics", ics("edit", "Before"))
    admin.put(calendar_url + "gone.ics", ics("gone", "Gone"))
    first = await provider.list_all(calendar_url)

    admin.put(calendar_url + "new.ics", ics("new", "New"))
    new_etag = admin.put(calendar_url + "edit.ics", ics("edit", "After"))
    admin.delete(calendar_url + "gone.ics")
    delta = await provider.changes(calendar_url, first.cursor)

    assert delta.full is False
    changed = by_uid(delta.changed)
    assert sorted(uid or "" for uid in changed) == ["edit", "new"]
    assert changed["edit"].summary == "After"
    assert changed["edit"].etag == new_etag
    gone_id = next(e.id for e in first.changed if e.uid == "gone")
    assert delta.deleted == [gone_id]
    assert delta.cursor
    assert delta.cursor != first.cursor

    quiet = await provider.changes(calendar_url, delta.cursor)
    assert (quiet.changed, quiet.deleted, quiet.cursor) == ([], [], delta.cursor)


async def test_incremental_pull_of_one_change_costs_at_most_two_requests(
    server: RunningServer, admin: DavAdmin, calendar_url: str
) -> None:
    requests: list[str] = []

    async def count(request: httpx.Request) -> None:
        requests.append(request.method)

    async with CalDAVProvider(
        server.base_url,
        server.username,
        server.password,
        allow_hosts=LOOPBACK,
        on_request=count,
    ) as provider:
        await provider.discover()
        admin.put(calendar_url + "one.ics", ics("one", "One"))
        cursor = (await provider.list_all(calendar_url)).cursor
        admin.put(calendar_url + "two.ics", ics("two", "Two"))
        requests.clear()
        delta = await provider.changes(calendar_url, cursor)

    assert [e.uid for e in delta.changed] == ["two"]
    # Radicale returns calendar-data inside sync-collection; Xandikos needs a multiget.
    expected = ["REPORT"] if server.name == "radicale" else ["REPORT", "REPORT"]
    assert requests == expected


async def test_garbage_sync_token_raises_cursor_invalid(
    provider: CalDAVProvider, calendar_url: str
) -> None:
    with pytest.raises(CursorInvalid):
        await provider.changes(calendar_url, "garbage-token")


async def test_rejected_cursor_then_full_listing_reveals_the_deletion_made_in_the_gap(
    provider: CalDAVProvider, admin: DavAdmin, calendar_url: str, server: RunningServer
) -> None:
    for uid in ("a", "b", "c"):
        admin.put(f"{calendar_url}{uid}.ics", ics(uid, uid))
    local = await provider.list_all(calendar_url)
    # A well-formed token the server does not know, as after a server-side expiry.
    assert local.cursor is not None
    stale = local.cursor[:-8] + "00000000"
    admin.delete(calendar_url + "b.ics")
    admin.put(calendar_url + "d.ics", ics("d", "d"))

    with pytest.raises(CursorInvalid):
        await provider.changes(calendar_url, stale)
    listing = await provider.list_all(calendar_url)

    assert listing.full is True
    b_id = next(e.id for e in local.changed if e.uid == "b")
    assert reconcile([e.id for e in local.changed], listing) == [b_id]
    assert sorted(e.uid or "" for e in listing.changed) == ["a", "c", "d"]


async def test_create_with_the_same_key_twice_yields_exactly_one_resource(
    provider: CalDAVProvider, admin: DavAdmin, calendar_url: str
) -> None:
    first_id, first_etag = await provider.create(
        calendar_url, appointment("appt-42"), "appt-42"
    )
    second_id, second_etag = await provider.create(
        calendar_url, appointment("appt-42"), "appt-42"
    )

    assert (second_id, second_etag) == (first_id, first_etag)
    assert first_id.endswith("/appt-42.ics")
    assert [h.rsplit("/", 1)[-1] for h in admin.list_hrefs(calendar_url)] == [
        "appt-42.ics"
    ]
    stored = await provider.get(calendar_url, first_id)
    assert stored is not None
    assert (stored.uid, stored.coach_key, stored.etag) == (
        "appt-42",
        "appt-42",
        first_etag,
    )


async def test_create_over_a_foreign_event_of_the_same_name_raises_precondition_failed(
    provider: CalDAVProvider, admin: DavAdmin, calendar_url: str
) -> None:
    admin.put(calendar_url + "appt-7.ics", ics("someone-else", "Not ours"))
    with pytest.raises(PreconditionFailed):
        await provider.create(calendar_url, appointment("appt-7"), "appt-7")


async def test_update_with_the_current_etag_replaces_the_event_and_returns_a_new_etag(
    provider: CalDAVProvider, calendar_url: str
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
    assert (stored.summary, stored.etag) == ("Coaching: moved", new_etag)


async def test_update_with_a_stale_etag_raises_precondition_failed(
    provider: CalDAVProvider, admin: DavAdmin, calendar_url: str
) -> None:
    event_id, etag = await provider.create(
        calendar_url, appointment("appt-2"), "appt-2"
    )
    assert etag
    admin.put(calendar_url + "appt-2.ics", ics("appt-2", "Edited on the phone"))
    with pytest.raises(PreconditionFailed):
        await provider.update(calendar_url, event_id, appointment("appt-2"), etag)
    stored = await provider.get(calendar_url, event_id)
    assert stored is not None
    assert stored.summary == "Edited on the phone"


async def test_delete_with_a_stale_etag_raises_precondition_failed_and_keeps_the_event(
    provider: CalDAVProvider, admin: DavAdmin, calendar_url: str
) -> None:
    event_id, etag = await provider.create(
        calendar_url, appointment("appt-3"), "appt-3"
    )
    assert etag
    admin.put(calendar_url + "appt-3.ics", ics("appt-3", "Edited on the phone"))
    with pytest.raises(PreconditionFailed):
        await provider.delete(calendar_url, event_id, etag)
    assert await provider.get(calendar_url, event_id) is not None


async def test_delete_with_the_current_etag_removes_the_event(
    provider: CalDAVProvider, calendar_url: str
) -> None:
    event_id, etag = await provider.create(
        calendar_url, appointment("appt-4"), "appt-4"
    )
    await provider.delete(calendar_url, event_id, etag)
    assert await provider.get(calendar_url, event_id) is None


async def test_events_created_by_the_app_are_pulled_with_their_key(
    provider: CalDAVProvider, calendar_url: str
) -> None:
    event_id, etag = await provider.create(
        calendar_url, appointment("appt-5"), "appt-5"
    )
    listing = await provider.list_all(calendar_url)
    assert [(e.id, e.etag, e.coach_key) for e in listing.changed] == [
        (event_id, etag, "appt-5")
    ]
