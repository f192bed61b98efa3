"""The provider contract: every behaviour a calendar provider owes the sync
engine, written once (after vdirsyncer's ``tests/storage::StorageTests``).

A provider's test is a small subclass with one fixture, ``remote``: its
server (real, sandbox or in memory) seen from outside as a
``remotes.Remote``, carrying the provider's documented quirks as data.
Changes "from outside" go through the remote, as the coach's phone would
make them; the provider under test only ever sees the server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from remotes import DROP, RATE_LIMIT, SERVER_ERROR, TIMEOUT, Remote

from coach_app.calendars import (
    AuthError,
    CalendarProvider,
    CursorInvalid,
    NotFound,
    OutgoingEvent,
    PreconditionFailed,
    RateLimited,
    RemoteEvent,
    Transient,
    reconcile,
)
from coach_app.calendars.ical import Occurrence, expand

START = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
END = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def appointment(key: str, summary: str = "Coaching: Ada") -> OutgoingEvent:
    return OutgoingEvent(
        key=key, summary=summary, description="Session 3", start=START, end=END
    )


def by_summary(events: list[RemoteEvent]) -> dict[str | None, RemoteEvent]:
    return {event.summary: event for event in events}


def utc(day: int, hour: int, month: int = 1) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


def berlin(day: int, hour: int, month: int = 1, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=BERLIN)


def instances(
    remote: Remote,
    calendar: str,
    events: list[RemoteEvent],
    window: tuple[datetime, datetime, str],
) -> list[tuple[str, Occurrence]]:
    """Where series arrive expanded, one event per instance: each instance
    in ``window`` with its series' id, its recurrence id (its original start)
    taken from the server, in the order of their starts."""
    found = []
    for event in events:
        named = remote.instance_of(calendar, event.id)
        assert named is not None, event.id
        series_id, original = named
        for o in expand(event.raw, *window):
            rid = original.strftime("%Y%m%dT%H%M%SZ")
            found.append((series_id, replace(o, recurrence_id=rid)))
    return sorted(found, key=lambda pair: pair[1].start)


class ProviderContract:
    """Subclasses provide the ``remote`` fixture."""

    @pytest.fixture
    def remote(self) -> Iterator[Remote]:
        raise NotImplementedError("a provider's subclass names its server here")

    @pytest.fixture
    async def provider(self, remote: Remote) -> AsyncIterator[CalendarProvider]:
        client = remote.connect()
        yield client
        await client.aclose()

    @pytest.fixture
    def calendar(self, remote: Remote) -> str:
        """A fresh, empty event calendar (dropped with the remote)."""
        return remote.new_calendar("Scratch")

    # -- the account -------------------------------------------------------

    async def test_provider_satisfies_the_protocol(
        self, provider: CalendarProvider
    ) -> None:
        assert isinstance(provider, CalendarProvider)

    async def test_discover_finds_principal_home_and_server_profile(
        self, provider: CalendarProvider, remote: Remote
    ) -> None:
        account = await provider.discover()
        expected = remote.expectations().account
        assert {name: getattr(account, name) for name in expected} == expected

    async def test_list_calendars_lists_event_calendars_with_access_and_colour(
        self, provider: CalendarProvider, remote: Remote
    ) -> None:
        """Only event calendars (no task lists, no free/busy-only shares), in
        the provider's order, write access from the account's role."""
        calendars = await provider.list_calendars()
        assert [
            (c.name, c.id, c.can_write, c.color) for c in calendars
        ] == remote.expectations().calendars
        assert all(c.ctag for c in calendars)

    async def test_wrong_credentials_raise_auth_error_asking_to_reconnect(
        self, remote: Remote
    ) -> None:
        rejected = remote.connect_rejected()
        try:
            with pytest.raises(AuthError) as caught:
                await rejected.list_calendars()
        finally:
            await rejected.aclose()
        assert remote.quirks.auth_error_detail in str(caught.value)
        assert caught.value.user_message == remote.quirks.reconnect_message

    # -- pulling -------------------------------------------------------------

    async def test_full_pull_returns_every_event_with_etag_and_a_cursor(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        added = {name: remote.add(calendar, name, START) for name in ("A", "B", "C")}
        listing = await provider.changes(calendar, None)
        assert listing.full is True
        assert listing.deleted == []
        assert listing.cursor
        assert {e.summary: (e.id, e.etag, e.uid) for e in listing.changed} == {
            name: (a.id, a.etag, a.uid) for name, a in added.items()
        }
        assert all(e.raw.startswith("BEGIN:VCALENDAR") for e in listing.changed)
        suffix = remote.quirks.foreign_uid_suffix
        assert all(e.uid and e.uid.endswith(suffix) for e in listing.changed)

    async def test_incremental_pull_sees_a_new_a_changed_and_a_deleted_event(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        remote.add(calendar, "Keep", START)
        edit = remote.add(calendar, "Before", START)
        gone = remote.add(calendar, "Gone", START)
        first = await provider.list_all(calendar)

        remote.add(calendar, "New", START)
        new_etag = remote.edit(calendar, edit.id, "After")
        remote.delete(calendar, gone.id)
        delta = await provider.changes(calendar, first.cursor)

        assert delta.full is False
        changed = by_summary(delta.changed)
        assert sorted(s or "" for s in changed) == ["After", "New"]
        assert (changed["After"].id, changed["After"].etag) == (edit.id, new_etag)
        assert delta.deleted == [gone.id]
        assert delta.cursor
        assert delta.cursor != first.cursor

        quiet = await provider.changes(calendar, delta.cursor)
        assert (quiet.changed, quiet.deleted) == ([], [])
        assert quiet.cursor
        if remote.quirks.quiet_pull_keeps_cursor:
            assert quiet.cursor == delta.cursor

    async def test_incremental_pull_of_one_change_costs_the_documented_requests(
        self, remote: Remote, calendar: str
    ) -> None:
        requests: list[str] = []

        async def count(request: httpx.Request) -> None:
            requests.append(f"{request.method} {request.url.path}")

        provider = remote.connect(on_request=count)
        try:
            await provider.discover()
            remote.add(calendar, "One", START)
            cursor = (await provider.list_all(calendar)).cursor
            remote.add(calendar, "Two", START)
            requests.clear()
            delta = await provider.changes(calendar, cursor)
        finally:
            await provider.aclose()

        assert [e.summary for e in delta.changed] == ["Two"]
        expected = remote.quirks.incremental_pull_requests
        assert len(requests) == len(expected), requests
        assert all(
            re.fullmatch(pattern, sent)
            for pattern, sent in zip(expected, requests, strict=True)
        ), requests

    async def test_garbage_cursor_raises_cursor_invalid(
        self, provider: CalendarProvider, calendar: str
    ) -> None:
        with pytest.raises(CursorInvalid):
            await provider.changes(calendar, "garbage-token")

    async def test_rejected_cursor_then_full_listing_reveals_the_deletion_made_in_the_gap(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        added = {name: remote.add(calendar, name, START) for name in ("a", "b", "c")}
        local = await provider.list_all(calendar)
        assert local.cursor is not None
        stale = remote.stale_cursor(calendar, local.cursor)
        remote.delete(calendar, added["b"].id)
        remote.add(calendar, "d", START)

        with pytest.raises(CursorInvalid):
            await provider.changes(calendar, stale)
        listing = await provider.list_all(calendar)

        assert listing.full is True
        assert reconcile([e.id for e in local.changed], listing) == [added["b"].id]
        assert sorted(e.summary or "" for e in listing.changed) == ["a", "c", "d"]

    # -- the app's events ----------------------------------------------------

    async def test_create_with_the_same_key_twice_yields_exactly_one_event(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        first = await provider.create(calendar, appointment("appt-42"), "appt-42")
        second = await provider.create(calendar, appointment("appt-42"), "appt-42")

        assert second == first
        first_id, first_etag = first
        assert first_id == remote.id_for_key(calendar, "appt-42")
        assert remote.ids(calendar) == [first_id]
        stored = await provider.get(calendar, first_id)
        assert stored is not None
        assert (stored.coach_key, stored.etag, stored.summary) == (
            "appt-42",
            first_etag,
            "Coaching: Ada",
        )
        uid_format = remote.quirks.app_event_uid
        made = remote.stored(calendar, first_id).uid if "{uid}" in uid_format else None
        uid = uid_format.format(key="appt-42", id=first_id, uid=made)
        assert stored.uid == uid

    async def test_create_over_a_foreign_event_of_the_same_name_raises_precondition_failed(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        remote.add_foreign_at(calendar, "appt-7")
        if remote.quirks.server_assigns_ids:
            # Nothing stands where the server has not named anything yet: the
            # app's event is made beside the other one, which stays as it was.
            [foreign] = remote.ids(calendar)
            event_id, _ = await provider.create(
                calendar, appointment("appt-7"), "appt-7"
            )
            assert remote.ids(calendar) == sorted([foreign, event_id])
            assert remote.id_for_key(calendar, "appt-7") == event_id
            assert remote.stored(calendar, foreign).summary == "Not ours"
            return
        with pytest.raises(PreconditionFailed):
            await provider.create(calendar, appointment("appt-7"), "appt-7")

    async def test_create_after_the_coach_deleted_the_event_restores_it(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        event_id, _ = await provider.create(calendar, appointment("appt-8"), "appt-8")
        remote.delete(calendar, event_id)
        assert await provider.get(calendar, event_id) is None

        again_id, etag = await provider.create(
            calendar, appointment("appt-8"), "appt-8"
        )

        assert again_id == remote.id_for_key(calendar, "appt-8")
        if remote.quirks.server_assigns_ids:  # put back as a new event
            assert remote.ids(calendar) == [again_id]
        else:
            assert again_id == event_id  # at the same name
        stored = await provider.get(calendar, again_id)
        assert stored is not None
        assert (stored.etag, stored.coach_key) == (etag, "appt-8")

    async def test_update_with_the_current_etag_replaces_the_event_and_returns_a_new_etag(
        self, provider: CalendarProvider, calendar: str
    ) -> None:
        event_id, etag = await provider.create(
            calendar, appointment("appt-1"), "appt-1"
        )
        assert etag
        new_etag = await provider.update(
            calendar, event_id, appointment("appt-1", "Coaching: moved"), etag
        )
        assert new_etag
        assert new_etag != etag
        stored = await provider.get(calendar, event_id)
        assert stored is not None
        assert (stored.summary, stored.etag, stored.coach_key) == (
            "Coaching: moved",
            new_etag,
            "appt-1",
        )

    async def test_update_with_a_stale_etag_raises_precondition_failed(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        event_id, etag = await provider.create(
            calendar, appointment("appt-2"), "appt-2"
        )
        assert etag
        remote.edit(calendar, event_id, "Edited on the phone")
        with pytest.raises(PreconditionFailed):
            await provider.update(calendar, event_id, appointment("appt-2"), etag)
        stored = await provider.get(calendar, event_id)
        assert stored is not None
        assert stored.summary == "Edited on the phone"

    async def test_delete_with_a_stale_etag_raises_precondition_failed_and_keeps_the_event(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        event_id, etag = await provider.create(
            calendar, appointment("appt-3"), "appt-3"
        )
        assert etag
        remote.edit(calendar, event_id, "Edited on the phone")
        with pytest.raises(PreconditionFailed):
            await provider.delete(calendar, event_id, etag)
        assert await provider.get(calendar, event_id) is not None

    async def test_delete_with_the_current_etag_removes_the_event(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        event_id, etag = await provider.create(
            calendar, appointment("appt-4"), "appt-4"
        )
        await provider.delete(calendar, event_id, etag)
        assert await provider.get(calendar, event_id) is None
        assert remote.ids(calendar) == []
        with pytest.raises(NotFound):  # deleting it again: it is gone
            await provider.delete(calendar, event_id, None)

    async def test_events_created_by_the_app_are_pulled_with_their_key(
        self, provider: CalendarProvider, calendar: str
    ) -> None:
        event_id, etag = await provider.create(
            calendar, appointment("appt-5"), "appt-5"
        )
        listing = await provider.list_all(calendar)
        assert [(e.id, e.etag, e.coach_key) for e in listing.changed] == [
            (event_id, etag, "appt-5")
        ]
        [occurrence] = expand(listing.changed[0].raw, START, END, "UTC")
        assert (occurrence.start, occurrence.end, occurrence.busy) == (START, END, True)

    # -- faults ----------------------------------------------------------------

    async def test_rate_limit_raises_rate_limited_with_retry_after(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        remote.fail_next(RATE_LIMIT, retry_after=7)
        with pytest.raises(RateLimited) as caught:
            await provider.changes(calendar, None)
        assert caught.value.retry_after == 7
        assert (await provider.changes(calendar, None)).full  # only that request

    async def test_server_errors_and_dropped_connections_raise_transient(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        for kind in (SERVER_ERROR, DROP):
            remote.fail_next(kind)
            with pytest.raises(Transient):
                await provider.list_all(calendar)
        assert (await provider.list_all(calendar)).full

    async def test_a_slow_answer_beyond_the_timeout_raises_transient(
        self, remote: Remote, calendar: str
    ) -> None:
        provider = remote.connect(timeout=0.3)
        try:
            remote.fail_next(TIMEOUT)
            with pytest.raises(Transient):
                await provider.list_all(calendar)
        finally:
            await provider.aclose()

    # -- recurrence, all-day, free time ------------------------------------------

    async def test_weekly_series_with_exdate_and_moved_instance_expands_exactly_for_8_weeks(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        series = remote.add_series(
            calendar,
            "Team sync",
            berlin(6, 9),
            60,
            ["RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE;TZID=Europe/Berlin:20250120T090000"],
        )
        # Moved from Monday 27 Jan to Tuesday 28 Jan 14:00; 17 Feb deleted.
        remote.move_instance(
            calendar,
            series.id,
            berlin(27, 9),
            berlin(28, 14),
            berlin(28, 15),
            summary="Team sync (moved)",
        )
        remote.cancel_instance(calendar, series.id, berlin(17, 9, month=2))

        changed = (await provider.list_all(calendar)).changed
        window = (utc(6, 0), utc(3, 0, month=3), "America/New_York")
        if remote.quirks.expands_series:
            found = instances(remote, calendar, changed, window)
            assert {series_id for series_id, _ in found} == {series.id}
            occurrences = [o for _, o in found]
        else:
            [stored] = changed
            assert stored.id == series.id
            occurrences = expand(stored.raw, *window)

        assert [(o.recurrence_id, o.start, o.end, o.summary) for o in occurrences] == [
            ("20250106T080000Z", utc(6, 8), utc(6, 9), "Team sync"),
            ("20250113T080000Z", utc(13, 8), utc(13, 9), "Team sync"),
            ("20250127T080000Z", utc(28, 13), utc(28, 14), "Team sync (moved)"),
            ("20250203T080000Z", utc(3, 8, 2), utc(3, 9, 2), "Team sync"),
            ("20250210T080000Z", utc(10, 8, 2), utc(10, 9, 2), "Team sync"),
            ("20250224T080000Z", utc(24, 8, 2), utc(24, 9, 2), "Team sync"),
        ]
        assert all(o.busy and not o.all_day for o in occurrences)
        if not remote.quirks.expands_series:  # (there, each instance has its own)
            assert all(o.uid == series.uid for o in occurrences)

    async def test_a_series_crossing_dst_keeps_its_wall_clock_time(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        remote.add_series(
            calendar,
            "Weekly",
            berlin(24, 9, month=3),
            60,
            ["RRULE:FREQ=WEEKLY;COUNT=2"],
        )
        changed = (await provider.list_all(calendar)).changed
        assert len(changed) == (2 if remote.quirks.expands_series else 1)
        window = (utc(1, 0, 3), utc(1, 0, 5))
        starts = sorted(o.start for e in changed for o in expand(e.raw, *window, "UTC"))
        assert starts == [utc(24, 8, 3), utc(31, 7, 3)]  # 09:00 CET, then CEST

    async def test_moving_one_instance_later_arrives_as_the_whole_series(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        series = remote.add_series(
            calendar, "Daily", berlin(6, 9), 30, ["RRULE:FREQ=DAILY;COUNT=5"]
        )
        first = await provider.list_all(calendar)
        remote.move_instance(
            calendar, series.id, berlin(8, 9), berlin(8, 16), berlin(8, 16, minute=30)
        )
        remote.cancel_instance(calendar, series.id, berlin(9, 9))

        delta = await provider.changes(calendar, first.cursor)

        if remote.quirks.expands_series:
            # Only the changed instances arrive; applied to the first listing,
            # they give the series as it now is.
            held = {e.id: e for e in first.changed}
            [moved] = delta.changed
            assert moved.id in held
            assert remote.instance_of(calendar, moved.id) == (series.id, utc(8, 8))
            assert len(delta.deleted) == 1
            for gone in delta.deleted:
                del held[gone]  # one the first listing had
            held[moved.id] = moved
            events = list(held.values())
        else:
            assert delta.deleted == []
            [whole] = delta.changed
            assert whole.id == series.id
            events = [whole]
        window = (utc(1, 0), utc(31, 0), "UTC")
        starts = sorted(o.start for e in events for o in expand(e.raw, *window))
        assert starts == [utc(6, 8), utc(7, 8), utc(8, 15), utc(10, 8)]

    async def test_deleting_a_whole_series_reports_its_id(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        series = remote.add_series(
            calendar, "Series", utc(6, 9), 60, ["RRULE:FREQ=DAILY;COUNT=3"]
        )
        remote.cancel_instance(calendar, series.id, utc(7, 9))
        listed = await provider.list_all(calendar)
        gone = [series.id]
        if remote.quirks.expands_series:  # listed as its two instances left
            gone = sorted(e.id for e in listed.changed)
            assert len(gone) == 2
            assert {remote.instance_of(calendar, i) for i in gone} == {
                (series.id, utc(6, 9)),
                (series.id, utc(8, 9)),
            }
        remote.delete(calendar, series.id)
        delta = await provider.changes(calendar, listed.cursor)
        assert (delta.changed, delta.deleted) == ([], gone)

    async def test_transparent_declined_and_all_day_events_are_read_as_meant(
        self, provider: CalendarProvider, remote: Remote, calendar: str
    ) -> None:
        me = "kim@example.com"
        remote.add(calendar, "Focus", START, transparent=True)
        remote.add(calendar, "Town hall", START, declined_by=me)
        remote.add_all_day(calendar, "Trip", date(2025, 3, 29), 2)
        events = by_summary((await provider.list_all(calendar)).changed)
        window = (utc(1, 0, 3), utc(1, 0, 4))

        [focus] = expand(events["Focus"].raw, *window, "Europe/Berlin", me)
        [town] = expand(events["Town hall"].raw, *window, "Europe/Berlin", me)
        [trip] = expand(events["Trip"].raw, *window, "Europe/Berlin", me)

        assert not focus.busy
        assert not town.busy
        assert trip.all_day and trip.busy
        # Two days in Berlin across the DST change: 47 hours.
        assert (trip.start, trip.end) == (utc(28, 23, 3), utc(30, 22, 3))
        assert trip.end - trip.start == timedelta(hours=47)
