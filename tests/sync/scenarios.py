"""The sync engine's scenarios, written once and run on every provider.

A provider's test is a small subclass with one fixture, ``new_remote``: a
callable giving a fresh account on its server (``remotes.Remote``, with the
provider's quirks as data). Everything else — the coach, the connection,
changes made in the coach's calendar app, server faults — goes through the
world and the remote, so nothing here knows which provider it runs on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from remotes import RATE_LIMIT, Remote
from sqlmodel import select

from coach_app import changes
from coach_app.calendars import registry
from coach_app.calendars.base import ChangeSet, RemoteEvent
from coach_app.calendars.errors import RateLimited, Transient
from coach_app.db import session_scope
from coach_app.models import SyncCursor
from coach_app.services import booking, calendar_view
from coach_app.sync import scheduler
from coach_app.sync.content import MANAGED_NOTE, event_key
from coach_app.sync.engine import SyncResult
from coach_app.sync.switches import on_pull_switch

from .world import NOW, AppWorld, SimulatedCrash, Spy, World, at, build_world

TUESDAY = (at(8, 0), at(9, 0))
WHEN = "Coaching session with Ivy Invitee on Tuesday 8 January 2030 at 10:00"


def _push_calendar(world: World) -> str:
    """How a notice names the push calendar: the service and its name."""
    return f"your {registry.service_label(world.provider_key)} calendar “Coach App”"


def deleted_cancelled(world: World) -> str:
    return (
        f"{WHEN} was deleted in {_push_calendar(world)}, so it was cancelled "
        "here and Ivy Invitee was emailed."
    )


def deleted_put_back(world: World) -> str:
    return (
        f"{WHEN} was deleted in {_push_calendar(world)}; it is still booked here "
        "and was put back. Cancel it in Coach App if it should go."
    )


def moved_undone(world: World) -> str:
    return (
        f"{WHEN} was changed in {_push_calendar(world)}; changes made there are "
        "undone. Reschedule in Coach App."
    )


WorldFactory = Callable[..., World]


def labels(world: AppWorld, monday: dt.date = dt.date(2030, 1, 7)) -> list[tuple]:
    """What the coach's calendar page shows for external events."""
    with session_scope(world.url) as s:
        _, days = calendar_view.week_items(s, world.coach_id, monday)
    return [
        (i.title, i.label, i.start.isoformat())
        for items in days.values()
        for i in items
        if i.kind == "external"
    ]


def occurrence(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def instance_of(world: World, remote_id: str) -> dt.datetime:
    """The original start of an instance of a series in the pull calendar
    (where the server lists each instance as an event of its own)."""
    named = world.remote.instance_of(world.pull_cal, remote_id)
    assert named is not None, remote_id
    return named[1]


async def pushed_event(world: World) -> tuple[int, str]:
    """An appointment booked and pushed; its id and its event's id."""
    appointment_id = world.book(at(8, 10))
    await world.sync()
    [event_id] = world.push_ids()
    return appointment_id, event_id


def assert_put_back(world: World, appointment_id: int, deleted_id: str) -> None:
    """The appointment's event is in the push calendar again, alone, and the
    app knows where: at its old name, or where the server put it when the
    server names events."""
    [event_id] = world.push_ids()
    assert event_id == world.push_event_id(appointment_id)
    if world.remote.quirks.server_assigns_ids:
        assert event_id != deleted_id  # a new event, where the server put it
    else:
        assert event_id == deleted_id
    pushed = world.pushed(appointment_id)
    assert pushed is not None and pushed.remote_id == event_id


def broken_calendar() -> str:
    """An entry whose recurrence rule cannot be read."""
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Tests//Phone//EN",
            "BEGIN:VEVENT",
            "UID:broken-1",
            "DTSTAMP:20250101T000000Z",
            "DTSTART:20300108T120000Z",
            "DTEND:20300108T130000Z",
            "RRULE:FREQ=SOMETIMES",
            "SUMMARY:Broken lunch",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


class EngineScenarios:
    """Subclasses provide ``new_remote``: timezone → a fresh ``Remote``."""

    @pytest.fixture
    def new_remote(self) -> Callable[[str], Remote]:
        raise NotImplementedError("a provider's subclass names its server here")

    @pytest.fixture
    def make_world(
        self, sqlite_url: str, new_remote: Callable[[str], Remote]
    ) -> Iterator[WorldFactory]:
        remotes: list[Remote] = []

        def make(timezone: str = "UTC", url: str | None = None) -> World:
            remote = new_remote(timezone)
            remotes.append(remote)
            return build_world(url or sqlite_url, remote, timezone)

        yield make
        for remote in remotes:
            remote.close()

    @pytest.fixture
    def world(self, make_world: WorldFactory) -> World:
        return make_world()

    @pytest.fixture
    def spy(self, world: World) -> Spy:
        installed = Spy(world.provider_key)
        installed.install()
        return installed

    # -- pulling ---------------------------------------------------------------

    async def test_external_busy_event_appears_as_busy_and_blocks_its_slot(
        self, world: World
    ) -> None:
        world.add("Dentist", at(8, 10))
        before = world.slots(*TUESDAY)

        result = await world.sync()

        assert (result.status, result.error, result.events_changed) == ("ok", "", True)
        [row] = world.external()
        assert (row.summary, row.busy, row.all_day, row.start, row.end) == (
            "Dentist",
            True,
            False,
            at(8, 10),
            at(8, 11),
        )
        assert labels(world) == [("Dentist", "Busy", "2030-01-08T10:00:00+00:00")]
        assert sorted(set(before) - set(world.slots(*TUESDAY))) == [
            at(8, 9, 30),
            at(8, 10),
            at(8, 10, 30),
        ]

    async def test_transparent_event_appears_as_free_and_blocks_nothing(
        self, world: World
    ) -> None:
        world.add("Focus time", at(8, 10), transparent=True)
        before = world.slots(*TUESDAY)

        await world.sync()

        [row] = world.external()
        assert (row.summary, row.busy) == ("Focus time", False)
        assert labels(world) == [("Focus time", "Free", "2030-01-08T10:00:00+00:00")]
        assert world.slots(*TUESDAY) == before

    async def test_weekly_recurring_event_with_exdate_and_moved_instance_blocks_exactly_8_weeks(
        self, world: World
    ) -> None:
        eight_weeks = (NOW, NOW + dt.timedelta(weeks=8))
        series = world.remote.add_series(
            world.pull_cal,
            "Stand-up",
            at(7, 10),
            60,
            ["RRULE:FREQ=WEEKLY;COUNT=8", "EXDATE:20300121T100000Z"],
        )
        world.remote.move_instance(
            world.pull_cal,
            series.id,
            at(4, 10, month=2),
            at(5, 14, month=2),
            at(5, 15, month=2),
            summary="Stand-up (moved)",
        )
        before = world.slots(*eight_weeks)

        await world.sync()

        mondays = [at(7, 10), at(14, 10), at(28, 10)] + [
            at(d, 10, month=2) for d in (11, 18, 25)
        ]
        hour = dt.timedelta(hours=1)
        rows = [(r.occurrence, r.start, r.end) for r in world.external()]
        if world.remote.quirks.expands_series:
            # One event per instance: its original start from the server.
            rows = [
                (occurrence(instance_of(world, r.remote_id)), r.start, r.end)
                for r in world.external()
            ]
        assert rows == [(occurrence(m), m, m + hour) for m in mondays[:3]] + [
            ("20300204T100000Z", at(5, 14, month=2), at(5, 15, month=2))
        ] + [(occurrence(m), m, m + hour) for m in mondays[3:]]
        blocked = {
            start + dt.timedelta(minutes=offset)
            for start in [*mondays, at(5, 14, month=2)]
            for offset in (-30, 0, 30)
        }
        assert set(before) - set(world.slots(*eight_weeks)) == blocked
        assert set(world.slots(*eight_weeks)) - set(before) == set()

    async def test_all_day_event_blocks_the_coachs_whole_local_day(
        self, make_world: WorldFactory
    ) -> None:
        world = make_world("America/New_York")
        world.remote.add_all_day(world.pull_cal, "School trip", dt.date(2030, 1, 9), 1)
        # Local days in New York (UTC-5 in January).
        wednesday = (at(9, 5), at(10, 5))
        thursday = (at(10, 5), at(11, 5))
        before_wed, before_thu = world.slots(*wednesday), world.slots(*thursday)
        assert len(before_wed) == 15  # 09:00 … 16:00 local, every 30 minutes

        await world.sync()

        [row] = world.external()
        assert (row.all_day, row.busy, row.start, row.end) == (
            True,
            True,
            at(9, 5),
            at(10, 5),
        )
        assert world.slots(*wednesday) == []
        assert world.slots(*thursday) == before_thu

    async def test_busy_event_deleted_externally_stops_blocking_after_next_sync(
        self, world: World
    ) -> None:
        dentist = world.add("Dentist", at(8, 10))
        free = world.slots(*TUESDAY)
        await world.sync()
        assert at(8, 10) not in world.slots(*TUESDAY)

        world.remote.delete(world.pull_cal, dentist.id)
        result = await world.sync()

        assert (result.status, result.events_changed) == ("ok", True)
        assert world.external() == []
        assert world.slots(*TUESDAY) == free

    async def test_rejected_cursor_full_listing_finds_a_deletion_made_in_the_gap(
        self, world: World, spy: Spy
    ) -> None:
        world.add("Kept", at(8, 10))
        gap = world.add("Deleted in the gap", at(8, 13))
        await world.sync()
        world.remote.delete(world.pull_cal, gap.id)
        world.reject_cursor(world.pull_sub_id, world.pull_cal, world.remote)
        spy.calls.clear()

        result = await world.sync()

        assert spy.called(world.pull_cal) == ["changes", "list_all"]
        assert result.status == "ok"
        assert [r.summary for r in world.external()] == ["Kept"]
        assert at(8, 13) in world.slots(*TUESDAY)

    async def test_malformed_entry_is_skipped_and_reported_while_the_rest_syncs(
        self, world: World, spy: Spy
    ) -> None:
        dentist = world.add("Dentist", at(8, 10))
        if not world.remote.quirks.refuses_unreadable_entries:
            world.remote.add_text(world.pull_cal, "broken-1", broken_calendar())
        else:
            # The server cannot hand one out: the listing gets it injected, as
            # a less careful server (iCloud has been seen to) would serve it.
            async def inject(name: str, cal: str, result: object) -> object:
                if name == "list_all" and cal == world.pull_cal:
                    assert isinstance(result, ChangeSet)
                    broken = RemoteEvent(
                        id=dentist.id + "-broken",
                        etag='"1"',
                        uid="broken-1",
                        raw=broken_calendar(),
                        summary="Broken lunch",
                    )
                    return ChangeSet([*result.changed, broken], [], result.cursor, True)
                return result

            spy.after = inject

        result = await world.sync()

        note = "1 calendar entry could not be read and was skipped: Broken lunch"
        assert (result.status, result.error) == ("ok", note)
        assert world.connection().last_error == note
        assert [r.summary for r in world.external()] == ["Dentist"]
        # The report stays while the entry is unreadable, not just for one sync.
        world.add("Later", at(9, 10))
        await world.sync()
        assert world.connection().last_error == note
        assert [r.summary for r in world.external()] == ["Dentist", "Later"]

    async def test_pull_switch_off_removes_pulled_events_and_on_resyncs_in_full(
        self, world: World, spy: Spy
    ) -> None:
        world.add("Dentist", at(8, 10))
        await world.sync()
        assert len(world.external()) == 1

        with session_scope(world.url) as s:
            on_pull_switch(s, world.connection_id, False)
        assert world.external() == []
        world.add("Gym", at(8, 15))
        spy.calls.clear()
        await world.sync()
        assert spy.called(world.pull_cal) == []
        assert world.external() == []

        with session_scope(world.url) as s:
            on_pull_switch(s, world.connection_id, True)
        spy.calls.clear()
        await world.sync()
        assert spy.called(world.pull_cal) == ["list_all"]
        assert [r.summary for r in world.external()] == ["Dentist", "Gym"]

    async def test_empty_listing_keeps_busy_times_until_it_stays_empty_for_an_hour(
        self, world: World
    ) -> None:
        dentist = world.add("Dentist", at(8, 10))
        await world.sync()
        world.remote.delete(world.pull_cal, dentist.id)
        with session_scope(world.url) as s:
            cursor = s.exec(
                select(SyncCursor).where(
                    SyncCursor.sub_calendar_id == world.pull_sub_id
                )
            ).one()
            cursor.full_sync_at = None  # the daily full listing is due
            s.add(cursor)

        first = await world.sync()

        assert first.status == "error"
        assert first.error.startswith("“Work” came back empty although Coach App knows")
        assert [r.summary for r in world.external()] == ["Dentist"]
        assert at(8, 10) not in world.slots(*TUESDAY)

        later = await world.sync(now=NOW + dt.timedelta(minutes=61))

        assert (later.status, later.error) == ("ok", "")
        assert world.external() == []

    # -- pushing ---------------------------------------------------------------

    async def test_push_creates_exactly_one_event_even_when_retried_after_a_crash(
        self, world: World, spy: Spy
    ) -> None:
        appointment_id = world.book(at(8, 10))

        async def crash_after_create(name: str, cal: str, result: object) -> object:
            if name == "create":
                raise SimulatedCrash()  # the server made it; we never hear back
            return result

        spy.after = crash_after_create
        with pytest.raises(SimulatedCrash):
            await world.sync()
        assert world.push_ids() == [world.push_event_id(appointment_id)]
        pushed = world.pushed(appointment_id)
        assert pushed is not None and pushed.remote_id == ""
        assert [p.action for p in world.pending_pushes()] == ["upsert"]

        spy.after = None
        result = await world.sync()

        assert (result.status, result.pushed) == ("ok", 1)
        [event_id] = world.push_ids()
        assert event_id == world.push_event_id(appointment_id)
        event = world.push_event(appointment_id)
        assert (event.summary, event.start, event.end, event.key) == (
            "Coaching session with Ivy Invitee",
            at(8, 10),
            at(8, 11),
            event_key(appointment_id),
        )
        assert "ivy@example.com" in event.description
        assert MANAGED_NOTE.split(" — ")[0] in event.description
        pushed = world.pushed(appointment_id)
        assert pushed is not None
        assert (pushed.remote_id, pushed.etag, pushed.pushed_version) == (
            event_id,
            event.etag,
            1,
        )
        assert world.pending_pushes() == []
        # Our own write coming back is not an external edit.
        await world.sync()
        assert world.notices() == []
        assert world.push_ids() == [event_id]

    async def test_reschedule_updates_and_cancel_removes_the_pushed_event(
        self, world: World
    ) -> None:
        appointment_id, event_id = await pushed_event(world)

        with session_scope(world.url) as s:
            booking.reschedule(s, world.coach_id, appointment_id, at(9, 14), now=NOW)
        result = await world.sync()

        assert (result.status, result.pushed) == ("ok", 1)
        assert world.push_ids() == [event_id]
        event = world.push_event(appointment_id)
        assert (event.start, event.end) == (at(9, 14), at(9, 15))
        pushed = world.pushed(appointment_id)
        assert pushed is not None and pushed.pushed_version == 2

        with session_scope(world.url) as s:
            booking.cancel(s, world.coach_id, appointment_id)
        result = await world.sync()

        assert (result.status, result.pushed) == ("ok", 1)
        assert world.push_ids() == []
        assert world.pushed(appointment_id) is None
        assert world.pending_pushes() == []
        # Our own deletion coming back is not an external deletion.
        await world.sync()
        assert world.notices() == []
        assert world.appointment(appointment_id).status == "cancelled"

    async def test_a_failed_push_is_recorded_and_retried_with_backoff(
        self, world: World, spy: Spy
    ) -> None:
        appointment_id = world.book(at(8, 10))

        async def server_error(name: str, cal: str) -> None:
            if name == "create":
                raise Transient("503")

        spy.before = server_error
        result = await world.sync()

        assert (result.status, result.push_failures) == ("error", 1)
        assert result.error == (
            "An appointment could not be written to “Coach App”: "
            + Transient().user_message
        )
        [row] = world.pending_pushes()
        assert (row.attempts, row.next_attempt_at) == (
            1,
            NOW + dt.timedelta(seconds=30),
        )
        assert row.last_error == result.error
        assert world.push_ids() == []

        spy.before = None
        retry = await world.sync(now=NOW + dt.timedelta(seconds=30))

        assert (retry.status, retry.pushed) == ("ok", 1)
        assert world.pending_pushes() == []
        pushed = world.pushed(appointment_id)
        assert pushed is not None and pushed.remote_id == world.push_ids()[0]

    # -- our pushed events changed outside ---------------------------------------

    async def test_external_deletion_cancels_the_appointment_and_emails_the_client(
        self, world: World
    ) -> None:
        appointment_id, event_id = await pushed_event(world)

        world.remote.delete(world.push_cal, event_id)
        result = await world.sync()

        assert (result.status, result.appointments_changed) == ("ok", True)
        assert world.appointment(appointment_id).status == "cancelled"
        subjects = [m.subject for m in world.emails(to="ivy@example.com")]
        assert len(subjects) == 2
        assert subjects[0].startswith("Confirmed: Coaching session with Kim Coach")
        assert subjects[1].startswith("Cancelled: Coaching session with Kim Coach")
        assert world.notices() == [deleted_cancelled(world)]
        assert world.push_ids() == []
        assert world.pending_pushes() == []
        await world.sync()
        assert len(world.notices()) == 1

    async def test_external_deletion_with_notification_off_puts_it_back_with_a_notice(
        self, world: World
    ) -> None:
        world.update_connection(cancellation_notification=False)
        appointment_id, event_id = await pushed_event(world)

        world.remote.delete(world.push_cal, event_id)
        result = await world.sync()

        assert (result.status, result.appointments_changed) == ("ok", False)
        assert world.appointment(appointment_id).status == "confirmed"
        assert_put_back(world, appointment_id, event_id)
        assert world.push_event(appointment_id).start == at(8, 10)
        assert [m.subject[:10] for m in world.emails(to="ivy@example.com")] == [
            "Confirmed:"
        ]
        assert world.notices() == [deleted_put_back(world)]
        assert world.pending_pushes() == []

    async def test_external_move_is_reverted_with_a_notice(self, world: World) -> None:
        appointment_id, event_id = await pushed_event(world)

        world.remote.move(world.push_cal, event_id, at(8, 15), at(8, 16))
        assert world.push_event(appointment_id).start == at(8, 15)
        result = await world.sync()

        assert result.status == "ok"
        assert world.push_ids() == [event_id]
        event = world.push_event(appointment_id)
        assert (event.start, event.end) == (at(8, 10), at(8, 11))
        appointment = world.appointment(appointment_id)
        assert (appointment.status, appointment.start) == ("confirmed", at(8, 10))
        assert world.notices() == [moved_undone(world)]
        await world.sync()  # the restored version's echo changes nothing
        assert len(world.notices()) == 1

    async def test_same_content_etag_change_only_stores_the_new_etag(
        self, world: World
    ) -> None:
        appointment_id, event_id = await pushed_event(world)
        old_etag = world.push_event(appointment_id).etag

        new_etag = world.remote.touch(world.push_cal, event_id)
        assert new_etag != old_etag
        result = await world.sync()

        assert (result.status, result.pushed) == ("ok", 0)
        assert world.notices() == []
        pushed = world.pushed(appointment_id)
        assert pushed is not None and pushed.etag == new_etag
        assert world.remote.touched(world.push_cal, event_id)

    async def test_push_calendar_listed_empty_puts_appointments_back_never_cancels(
        self, world: World
    ) -> None:
        appointment_id, event_id = await pushed_event(world)
        world.remote.delete(world.push_cal, event_id)
        # Rejected: the next pull is a full listing, and it is empty.
        world.reject_cursor(world.push_sub_id, world.push_cal, world.remote)

        first = await world.sync()

        assert first.status == "error"
        assert world.appointment(appointment_id).status == "confirmed"
        assert world.push_ids() == []

        later = await world.sync(now=NOW + dt.timedelta(minutes=61))

        assert later.status == "ok"
        assert world.appointment(appointment_id).status == "confirmed"
        assert_put_back(world, appointment_id, event_id)
        assert [m.subject[:10] for m in world.emails(to="ivy@example.com")] == [
            "Confirmed:"
        ]
        assert world.notices() == [deleted_put_back(world)]

    # -- the engine around pulls and pushes ------------------------------------------

    async def test_revoked_credentials_ask_to_reconnect_email_once_and_keep_busy_times(
        self, world: World
    ) -> None:
        world.update_connection(**world.remote.require_credentials())
        world.add("Dentist", at(8, 10))
        assert (await world.sync()).status == "ok"
        blocked = world.slots(*TUESDAY)
        assert at(8, 10) not in blocked

        world.update_connection(**world.remote.revoke_credentials())
        first = await world.sync(now=NOW + dt.timedelta(minutes=1))
        second = await world.sync(now=NOW + dt.timedelta(minutes=5))

        assert (first.status, second.status) == ("reconnect", "reconnect")
        connection = world.connection()
        assert connection.last_error == world.remote.quirks.reconnect_message
        assert (connection.reconnect_notified, connection.sync_failures) == (True, 2)
        # Backed off: not every minute against a revoked sign-in.
        assert connection.next_sync_at == NOW + dt.timedelta(minutes=5, seconds=240)
        reconnect_mails = [
            m.subject
            for m in world.emails(to=world.coach_email)
            if "reconnect" in m.subject
        ]
        subject = world.remote.quirks.reconnect_subject
        assert reconnect_mails == [subject.format(account=connection.account_label)]
        assert [r.summary for r in world.external()] == ["Dentist"]
        assert world.slots(*TUESDAY) == blocked

        world.update_connection(**world.remote.restore_credentials())
        fixed = await world.sync(now=NOW + dt.timedelta(minutes=10))

        assert (fixed.status, fixed.error) == ("ok", "")
        connection = world.connection()
        assert (connection.reconnect_notified, connection.sync_failures) == (False, 0)
        assert connection.next_sync_at == NOW + dt.timedelta(minutes=11)

    @pytest.mark.parametrize("database", ["sqlite", "postgres"])
    async def test_two_concurrent_syncs_of_one_connection_one_runs_and_one_skips(
        self, make_world: WorldFactory, request: pytest.FixtureRequest, database: str
    ) -> None:
        world = make_world(url=request.getfixturevalue(f"{database}_url"))
        spy = Spy(world.provider_key)
        spy.install()
        inside, release = asyncio.Event(), asyncio.Event()

        async def hold_the_first(name: str, cal: str) -> None:
            inside.set()
            await release.wait()

        spy.before = hold_the_first
        first = asyncio.create_task(world.sync())
        second = asyncio.create_task(world.sync())

        done, pending = await asyncio.wait(
            {first, second}, timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        [skipped], [running] = done, pending
        assert skipped.result() == SyncResult(world.connection_id, ran=False)
        await asyncio.wait_for(inside.wait(), timeout=30)  # the winner, mid-sync
        spy.before = None
        release.set()
        ran = await running

        assert (ran.ran, ran.status) == (True, "ok")
        connection = world.connection()
        assert (connection.lease_owner, connection.lease_until) == (None, None)

    async def test_a_new_booking_makes_its_connection_due_before_the_next_poll(
        self, world: World
    ) -> None:
        await world.sync()
        assert scheduler.due_connections(world.url, NOW) == []

        world.book(at(8, 10))

        assert scheduler.due_connections(world.url, NOW) == [world.connection_id]
        [result] = await scheduler.run_due(world.url, now=NOW)
        assert (result.ran, result.pushed) == (True, 1)
        assert scheduler.due_connections(world.url, NOW) == []

    async def test_rate_limit_keeps_pulled_events_records_the_error_and_backs_off(
        self, world: World
    ) -> None:
        """Nothing is lost, and the back-off is honoured even with a booking
        waiting to be pushed."""
        world.add("Dentist", at(8, 10))
        await world.sync()
        appointment_id = world.book(at(9, 10))
        world.add("Gym", at(8, 15))
        world.remote.fail_next(RATE_LIMIT, retry_after=600)

        later = NOW + dt.timedelta(minutes=2)
        result = await world.sync(now=later)

        assert (result.status, result.error) == ("error", RateLimited().user_message)
        connection = world.connection()
        assert connection.next_sync_at == later + dt.timedelta(seconds=600)
        assert connection.sync_failures == 1
        assert [r.summary for r in world.external()] == ["Dentist"]
        assert at(8, 10) not in world.slots(*TUESDAY)
        assert [p.appointment_id for p in world.pending_pushes()] == [appointment_id]
        almost = later + dt.timedelta(seconds=599)
        assert scheduler.due_connections(world.url, almost) == []
        due_at = later + dt.timedelta(seconds=600)
        assert scheduler.due_connections(world.url, due_at) == [world.connection_id]

        retry = await world.sync(now=due_at)

        assert (retry.status, retry.error, retry.pushed) == ("ok", "", 1)
        assert [r.summary for r in world.external()] == ["Dentist", "Gym"]
        assert world.push_ids() == [world.push_event_id(appointment_id)]
        assert world.pending_pushes() == []

    async def test_change_listeners_hear_about_syncs_that_changed_something(
        self, world: World
    ) -> None:
        heard: list[int] = []
        changes.on_coach_change(heard.append)
        try:
            await world.sync()
            world.add("Dentist", at(8, 10))
            await world.sync()
            await world.sync()
        finally:
            changes.remove_listener(heard.append)
        assert heard == [world.coach_id]
