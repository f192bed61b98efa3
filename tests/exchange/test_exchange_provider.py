"""The Exchange provider against the EWS sandbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time
from zoneinfo import ZoneInfo

import pytest

from coach_app.calendars.base import CalendarProvider, OutgoingEvent
from coach_app.calendars.errors import (
    AuthError,
    CursorInvalid,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Transient,
    UrlNotAllowed,
)
from coach_app.calendars.exchange import ExchangeProvider
from coach_app.calendars.ical import expand
from coach_app.calendars.sync_helpers import reconcile
from sandbox.ews import EwsSandbox, Mailbox, Recurrence
from tests.exchange.conftest import NOW, PASSWORD, make_provider

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = (NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=90))


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A time in March 2030 (UTC)."""
    return dt.datetime(2030, 3, day, hour, minute, tzinfo=UTC)


def sync_requests(ews: EwsSandbox) -> list[str]:
    return ews.state.operations()


async def test_it_is_a_calendar_provider(provider: ExchangeProvider) -> None:
    assert isinstance(provider, CalendarProvider)


async def test_discover_and_list_calendar_folders(
    provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    mailbox.create_folder("Clients")
    mailbox.create_folder("Allotment", parent="msgfolderroot")
    mailbox.create_folder("Notes", parent="msgfolderroot", folder_class="IPF.Note")
    account = await provider.discover()
    assert (account.provider, account.principal_url) == ("exchange", mailbox.email)
    calendars = await provider.list_calendars()
    assert [c.name for c in calendars] == ["Calendar", "Allotment", "Clients"]
    assert calendars[0].id == mailbox.calendar.id


async def test_busy_semantics_follow_free_busy_cancellation_and_response(
    provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    for n, (status, cancelled, response) in enumerate(
        [
            ("Busy", False, "Organizer"),
            ("Free", False, "Organizer"),
            ("Tentative", False, "Accept"),
            ("OOF", False, "Organizer"),
            ("WorkingElsewhere", False, "Organizer"),
            ("NoData", False, "Organizer"),
            ("Busy", True, "Accept"),
            ("Busy", False, "Decline"),
        ]
    ):
        mailbox.add_item(
            "calendar",
            f"{status}-{cancelled}-{response}",
            at(11, 8 + n),
            at(11, 9 + n),
            free_busy=status,
            is_cancelled=cancelled,
            my_response=response,
        )
    listing = await provider.list_all(mailbox.calendar.id)
    busy = {}
    for event in listing.changed:
        for occ in expand(event.raw, *WINDOW, "UTC"):
            busy[occ.summary] = (occ.busy, occ.cancelled)
    assert busy == {
        "Busy-False-Organizer": (True, False),
        "Free-False-Organizer": (False, False),
        "Tentative-False-Accept": (True, False),
        "OOF-False-Organizer": (True, False),
        "WorkingElsewhere-False-Organizer": (True, False),
        "NoData-False-Organizer": (True, False),
        "Busy-True-Accept": (False, True),
        "Busy-False-Decline": (False, False),
    }


async def test_full_and_incremental_pull_page_through_more_than_512_changes(
    ews: EwsSandbox, provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    items = [
        mailbox.add_item(
            "calendar",
            f"E{n}",
            at(11, 8) + dt.timedelta(minutes=30 * n),
            at(11, 8) + dt.timedelta(minutes=30 * n + 20),
        )
        for n in range(700)
    ]
    ews.state.clear_log()
    listing = await provider.list_all(mailbox.calendar.id)
    assert listing.full and len(listing.changed) == 700
    assert sync_requests(ews).count("SyncFolderItems") == 2  # 512 + 188
    mailbox.move_item(items[3].id, at(20, 9), at(20, 10))
    mailbox.delete_item(items[4].id)
    ews.state.clear_log()
    delta = await provider.changes(mailbox.calendar.id, listing.cursor)
    assert sync_requests(ews) == ["SyncFolderItems"]
    assert [e.id for e in delta.changed] == [items[3].id]
    assert delta.deleted == [items[4].id]
    assert delta.cursor and delta.cursor != listing.cursor
    (occ,) = expand(delta.changed[0].raw, *WINDOW, "UTC")
    assert (occ.start, occ.end) == (at(20, 9), at(20, 10))


async def test_weekly_series_with_moved_and_deleted_occurrence_blocks_exactly_those_times(
    provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    first = dt.datetime(2030, 3, 18, 9, tzinfo=BERLIN)
    master = mailbox.add_item(
        "calendar",
        "Weekly",
        first,
        first + dt.timedelta(hours=1),
        timezone="Europe/Berlin",
        recurrence=Recurrence(
            "WeeklyRecurrence", days_of_week=("Monday",), start=first.date(), count=6
        ),
    )
    originals = [(first + dt.timedelta(weeks=n)).astimezone(UTC) for n in range(6)]
    mailbox.move_occurrence(master.id, originals[1], at(27, 15), at(27, 16, 30))
    mailbox.delete_occurrence(master.id, originals[2])
    listing = await provider.list_all(mailbox.calendar.id)
    (series,) = listing.changed
    assert series.id == master.id
    spans = [
        (o.start, o.end) for o in expand(series.raw, *WINDOW, "Europe/Berlin") if o.busy
    ]
    assert spans == [
        (at(18, 8), at(18, 9)),  # 09:00 Berlin, winter time
        (at(27, 15), at(27, 16, 30)),  # the moved one
        # 2030-04-01 deleted; summer time from 2030-03-31: 09:00 Berlin = 07:00 UTC
        (
            dt.datetime(2030, 4, 8, 7, tzinfo=UTC),
            dt.datetime(2030, 4, 8, 8, tzinfo=UTC),
        ),
        (
            dt.datetime(2030, 4, 15, 7, tzinfo=UTC),
            dt.datetime(2030, 4, 15, 8, tzinfo=UTC),
        ),
        (
            dt.datetime(2030, 4, 22, 7, tzinfo=UTC),
            dt.datetime(2030, 4, 22, 8, tzinfo=UTC),
        ),
    ]


async def test_calendar_view_is_split_when_truncated(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    first = dt.datetime(2030, 3, 11, 7, tzinfo=UTC)
    mailbox.add_item(
        "calendar",
        "Daily",
        first,
        first + dt.timedelta(minutes=15),
        recurrence=Recurrence("DailyRecurrence", start=first.date(), count=30),
    )
    async with make_provider(ews, mailbox, view_max=8) as small:
        (series,) = (await small.list_all(mailbox.calendar.id)).changed
    assert len(expand(series.raw, *WINDOW, "UTC")) == 30


async def test_all_day_event_is_a_date(
    provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    mailbox.add_item(
        "calendar",
        "Holiday",
        dt.datetime(2030, 3, 15, tzinfo=BERLIN),
        dt.datetime(2030, 3, 16, tzinfo=BERLIN),
        is_all_day=True,
        timezone="Europe/Berlin",
        free_busy="OOF",
    )
    (event,) = (await provider.list_all(mailbox.calendar.id)).changed
    assert "DTSTART;VALUE=DATE:20300315" in event.raw
    (occ,) = expand(event.raw, *WINDOW, "Europe/Berlin")
    assert occ.all_day and occ.start == dt.datetime(2030, 3, 14, 23, tzinfo=UTC)


async def test_all_day_event_over_the_spring_forward_day_keeps_its_last_day(
    provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    """Saturday and Sunday, 30–31 March 2030 (Berlin springs forward on the
    31st): 47 hours from midnight to midnight, still two days."""
    mailbox.add_item(
        "calendar",
        "Weekend away",
        dt.datetime(2030, 3, 30, tzinfo=BERLIN),
        dt.datetime(2030, 4, 1, tzinfo=BERLIN),
        is_all_day=True,
        timezone="Europe/Berlin",
    )
    (event,) = (await provider.list_all(mailbox.calendar.id)).changed
    assert "DTSTART;VALUE=DATE:20300330" in event.raw
    assert "DTEND;VALUE=DATE:20300401" in event.raw
    (occ,) = expand(event.raw, *WINDOW, "Europe/Berlin")
    assert (occ.start, occ.end) == (at(29, 23), at(31, 22))


async def test_instances_of_a_series_are_named_by_their_original_start(
    provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    """A moved (and renamed) occurrence keeps its name, the RECURRENCE-ID of
    its original start (EWS ``OriginalStart``), wherever it was moved to."""
    first = at(11, 9)
    master = mailbox.add_item(
        "calendar",
        "Daily",
        first,
        first + dt.timedelta(minutes=30),
        recurrence=Recurrence("DailyRecurrence", start=first.date(), count=4),
    )
    mailbox.move_occurrence(
        master.id, at(12, 9), at(12, 16), at(12, 16, 30), subject="Daily (later)"
    )
    mailbox.move_occurrence(master.id, at(13, 9), at(11, 7), at(11, 7, 30))
    (series,) = (await provider.list_all(mailbox.calendar.id)).changed
    assert [
        (o.recurrence_id, o.start, o.summary)
        for o in expand(series.raw, *WINDOW, "UTC")
    ] == [
        ("20300313T090000Z", at(11, 7), "Daily"),
        ("20300311T090000Z", at(11, 9), "Daily"),
        ("20300312T090000Z", at(12, 16), "Daily (later)"),
        ("20300314T090000Z", at(14, 9), "Daily"),
    ]


async def test_a_moved_occurrence_is_pulled_by_viewing_only_its_series_span(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    """In a full calendar, moving one occurrence (here the last, a week past
    the series' old end) costs one SyncFolderItems, one GetItem for the
    series' span and a view of that span only, and the busy time follows
    the move."""
    for n in range(80):  # one-off meetings over the whole window
        start = NOW + dt.timedelta(days=1 + n, hours=n % 8)
        mailbox.add_item(
            "calendar", f"Meeting {n}", start, start + dt.timedelta(hours=1)
        )
    first = at(11, 9)
    master = mailbox.add_item(
        "calendar",
        "Weekly",
        first,
        first + dt.timedelta(hours=1),
        recurrence=Recurrence(
            "WeeklyRecurrence", days_of_week=("Monday",), start=first.date(), count=3
        ),
    )
    async with make_provider(ews, mailbox, view_max=10) as provider:
        listing = await provider.list_all(mailbox.calendar.id)
        whole_window = ews.state.operations().count("FindItem")
        mailbox.move_occurrence(master.id, at(25, 9), at(31, 14), at(31, 15))
        ews.state.clear_log()

        changes = await provider.changes(mailbox.calendar.id, listing.cursor)

    (series,) = changes.changed
    busy = [(o.start, o.end) for o in expand(series.raw, *WINDOW, "UTC") if o.busy]
    assert busy == [
        (at(11, 9), at(11, 10)),
        (at(18, 9), at(18, 10)),
        (at(31, 14), at(31, 15)),
    ]
    operations = ews.state.operations()
    assert operations[:2] == ["SyncFolderItems", "GetItem"]
    assert 1 <= operations.count("FindItem") < whole_window


def _appointment(key: str, start: dt.datetime) -> OutgoingEvent:
    return OutgoingEvent(
        key=key,
        summary="Coaching: Ana",
        start=start,
        end=start + dt.timedelta(hours=1),
        description="Booked in Coach App",
    )


async def test_create_is_idempotent_by_key_and_sends_no_invitation(
    provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    event = _appointment("appt-1", dt.datetime(2030, 3, 12, 10, tzinfo=BERLIN))
    first = await provider.create(mailbox.calendar.id, event, "appt-1")
    again = await provider.create(mailbox.calendar.id, event, "appt-1")
    assert again == first
    assert len(mailbox.calendar.items) == 1
    stored = mailbox.find_item(first[0])
    assert stored is not None and stored.timezone == "Europe/Berlin"
    assert stored.start == at(12, 9) and stored.free_busy == "Busy"
    assert mailbox.sent_meeting_messages == []
    pulled = await provider.get(mailbox.calendar.id, first[0])
    assert (
        pulled is not None and pulled.coach_key == "appt-1" and pulled.etag == first[1]
    )


async def test_stale_change_key_on_update_is_detected_and_the_app_version_wins(
    provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    cal = mailbox.calendar.id
    item_id, etag = await provider.create(
        cal, _appointment("appt-2", at(12, 10)), "appt-2"
    )
    mailbox.move_item(item_id, at(12, 14), at(12, 15))  # moved in Outlook
    wanted = _appointment("appt-2", at(12, 11))
    with pytest.raises(PreconditionFailed):
        await provider.update(cal, item_id, wanted, etag)
    assert mailbox.find_item(item_id).start == at(12, 14)  # type: ignore[union-attr]
    fresh = await provider.get(cal, item_id)
    assert fresh is not None and fresh.etag != etag
    new_etag = await provider.update(cal, item_id, wanted, fresh.etag or "")
    stored = mailbox.find_item(item_id)
    assert stored is not None and (stored.start, stored.end) == (at(12, 11), at(12, 12))
    assert new_etag == stored.change_key


async def test_delete_checks_the_change_key(
    provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    cal = mailbox.calendar.id
    item_id, etag = await provider.create(
        cal, _appointment("appt-3", at(13, 10)), "appt-3"
    )
    mailbox.edit_item(item_id, subject="Renamed in Outlook")
    with pytest.raises(PreconditionFailed):
        await provider.delete(cal, item_id, etag)
    current = await provider.get(cal, item_id)
    assert current is not None
    await provider.delete(cal, item_id, current.etag)
    assert await provider.get(cal, item_id) is None
    # moved to Deleted Items (where the coach can restore it), not destroyed
    trash = mailbox.folder("deleteditems").items.values()
    assert [i.subject for i in trash] == ["Renamed in Outlook"]
    with pytest.raises(NotFound):
        await provider.delete(cal, item_id + "x", None)


async def test_server_busy_waits_the_back_off_and_the_pull_completes(
    ews: EwsSandbox, provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    mailbox.add_item("calendar", "One", at(11, 9), at(11, 10))
    ews.state.inject_fault(
        "rate_limit", 2, operation="SyncFolderItems", back_off_ms=250
    )
    ews.state.clear_log()
    began = time.monotonic()
    listing = await provider.list_all(mailbox.calendar.id)
    assert [e.summary for e in listing.changed] == ["One"]
    assert time.monotonic() - began >= 0.5
    assert provider.backed_off >= 0.5
    assert sync_requests(ews) == ["SyncFolderItems"] * 3


async def test_a_back_off_longer_than_allowed_is_rate_limited(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    ews.state.inject_fault(
        "rate_limit", operation="SyncFolderItems", back_off_ms=120_000
    )
    async with make_provider(ews, mailbox, max_back_off=30) as provider:
        with pytest.raises(RateLimited) as raised:
            await provider.list_all(mailbox.calendar.id)
    assert raised.value.retry_after == 120


async def test_invalid_sync_state_then_full_listing_catches_a_deletion(
    provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    keep = mailbox.add_item("calendar", "Keep", at(11, 9), at(11, 10))
    gone = mailbox.add_item("calendar", "Gone", at(11, 11), at(11, 12))
    listing = await provider.list_all(mailbox.calendar.id)
    local = {e.id for e in listing.changed}
    mailbox.delete_item(gone.id)  # during the gap
    mailbox.invalidate_sync_states("calendar")
    with pytest.raises(CursorInvalid):
        await provider.changes(mailbox.calendar.id, listing.cursor)
    relisted = await provider.list_all(mailbox.calendar.id)
    assert reconcile(local, relisted) == [gone.id]
    assert [e.id for e in relisted.changed] == [keep.id]


async def test_wrong_password_is_an_auth_error(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    async with ExchangeProvider(
        mailbox.email, "not-it", ews.ews_url, allow_hosts={"127.0.0.1"}
    ) as provider:
        with pytest.raises(AuthError):
            await provider.discover()


async def test_a_changed_password_is_an_auth_error_on_the_next_pull(
    ews: EwsSandbox, provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    await provider.list_all(mailbox.calendar.id)
    ews.state.store.set_password(mailbox.email, "changed")
    with pytest.raises(AuthError):
        await provider.list_all(mailbox.calendar.id)


async def test_unreachable_server_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/EWS/Exchange.asmx"
    async with ExchangeProvider(
        "a@example.com", PASSWORD, url, allow_hosts={"127.0.0.1"}, timeout=5
    ) as provider:
        with pytest.raises(Transient):
            await provider.discover()


async def test_loopback_is_refused_without_the_allow_list(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    async with ExchangeProvider(
        mailbox.email, PASSWORD, ews.ews_url, allow_hosts=()
    ) as provider:
        with pytest.raises(UrlNotAllowed):
            await provider.discover()
    assert (
        ews.state.request_log()[-1:] == []
        or ews.state.request_log()[-1].user != mailbox.email
    )


async def test_one_providers_timeout_is_not_every_providers(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    """exchangelib reads the timeout from the protocol: a short one given to
    another provider (another mailbox) must not cut this one's answers."""
    other = ews.state.add_user("impatient@example.com", PASSWORD, "Other")
    async with (
        make_provider(ews, mailbox, timeout=30) as patient,
        make_provider(ews, other, timeout=0.2),
    ):
        ews.state.inject_fault("slow", operation="SyncFolderItems", delay=0.5)
        listing = await patient.list_all(mailbox.calendar.id)
    assert listing.full


async def test_blocking_calls_leave_the_event_loop_free(
    ews: EwsSandbox, provider: ExchangeProvider, mailbox: Mailbox
) -> None:
    ews.state.inject_fault("slow", operation="SyncFolderItems", delay=0.5)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await provider.list_all(mailbox.calendar.id)
    finally:
        ticker.cancel()
    assert ticks >= 5
