"""Convergence under faults: a Hypothesis state machine over the sync engine
(after vdirsyncer's ``tests/unit/sync/test_sync.py``).

Random operations on both sides — invitees book, reschedule and cancel
(through their manage link), the coach reschedules and cancels, the
external calendar adds, moves and deletes events, series gain exceptions,
the coach's phone moves or deletes pushed appointments, switches flip and
calendars are ticked or unticked for pulling — interleave with syncs, time
passing and server faults: rate limits, 5xx, timeouts, an answer lost
after the call was served, the worker dying between the remote write (or
read) and the database write, an invalidated cursor, a listing that
suddenly comes back empty.

Whenever the machine settles (a rule, and always at the end), faults stop,
the clock passes every back-off, and one clean sync runs. Then:

1. the app's pulled view of each calendar equals that calendar (without
   our own appointments; nothing when it is not pulled);
2. with pushing on, every live appointment is in the push calendar exactly
   once, at the app's time, and no cancelled one is;
3. no appointment was cancelled except by an external deletion while
   Cancellation Notification was on;
4. no client got the same email twice.

The machine runs on any ``Backend`` (``convergence_backends``): the
in-memory provider (its server queues the faults) or a real server behind
``FaultGate`` (the faults are raised at the provider's door, writes really
happen first).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
)
from memory_provider import (
    CRASH_AFTER_CALL,
    EMPTY_LISTING,
    LOST_RESPONSE,
    RATE_LIMIT,
    SERVER_ERROR,
    TIMEOUT,
    WorkerCrash,
)
from sqlmodel import select

from coach_app import db
from coach_app.calendars import registry
from coach_app.calendars.base import ChangeSet
from coach_app.calendars.ical import expand
from coach_app.models import (
    Appointment,
    EmailOutbox,
    ExternalEvent,
    PushOutbox,
    SyncCursor,
)
from coach_app.notify.links import manage_token
from coach_app.services import booking, connections, manage
from coach_app.services.errors import UserError
from coach_app.sync.content import appointment_id_from_key, event_key
from coach_app.sync.decide import WIPE_CONFIRM_AFTER

from .convergence_backends import Backend, fresh_database
from .world import NOW, at, connect_world

# Where invitees book and the coach reschedules to (60-minute sessions, inside
# working hours), and where the external calendar puts its events.
SLOTS = [at(day, hour) for day in (8, 9) for hour in (10, 11, 14, 15)]
EXTERNAL = [
    at(day, hour, minute)
    for day in (8, 9)
    for hour in (9, 12, 14)
    for minute in (0, 30)
]
SERIES_START = [at(8, 13), at(8, 16)]
SERIES_COUNT = 3  # daily
WINDOW = (NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=120))

FAULTS = [RATE_LIMIT, SERVER_ERROR, TIMEOUT, LOST_RESPONSE, CRASH_AFTER_CALL]
OPERATIONS = ["changes", "list_all", "get", "create", "update", "delete"]


# -- the machine ----------------------------------------------------------------


@dataclass
class Model:
    """What the machine did, to judge the engine by."""

    now: dt.datetime = NOW
    switches: dict[str, bool] = field(
        default_factory=lambda: {
            "pull_enabled": True,
            "push_enabled": True,
            "cancellation_notification": True,
            "check_conflicts": True,
        }
    )
    ticked: dict[int, bool] = field(default_factory=dict)  # sub → pulled
    live: set[int] = field(default_factory=set)  # booked, not cancelled here
    cancelled_here: set[int] = field(default_factory=set)
    deleted_outside: set[int] = field(default_factory=set)  # not yet seen
    may_cancel: set[int] = field(default_factory=set)
    events: dict[str, dt.datetime] = field(default_factory=dict)  # one-offs
    # series id → (first start, instances given an exception)
    series: dict[str, tuple[dt.datetime, set[dt.datetime]]] = field(
        default_factory=dict
    )
    invitees: itertools.count = field(default_factory=lambda: itertools.count(1))


class SyncMachine(RuleBasedStateMachine):
    """Subclasses set ``make_backend`` (a fresh server account per run)."""

    make_backend: Callable[[], Backend]
    steps = 0  # across every run in this process

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.model = Model()
        self.specs = registry.specs()  # put back after the run
        self.backend = type(self).make_backend()
        self.path, coach = fresh_database()
        self.world = connect_world(f"sqlite:///{self.path}", coach, self.backend.remote)
        self.backend.install()
        self.model.ticked = {
            self.world.pull_sub_id: True,
            self.world.push_sub_id: False,
        }

    # -- helpers ----------------------------------------------------------------

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def _sync(self) -> None:
        with contextlib.suppress(WorkerCrash):  # the next sync starts over
            self._run(self.world.sync(now=self.model.now))

    def _step(self) -> None:
        type(self).steps += 1

    # -- invitees and the coach ----------------------------------------------------

    @initialize()
    def start(self) -> None:
        self._step()

    @rule(slot=st.sampled_from(SLOTS))
    def invitee_books(self, slot: dt.datetime) -> None:
        self._step()
        n = next(self.model.invitees)
        try:
            with db.session_scope(self.world.url) as s:
                done = booking.book(
                    s,
                    slug=self.world.slug,
                    type_id=self.world.type_id,
                    start=slot,
                    name=f"Invitee {n}",
                    email=f"invitee-{n}@example.com",
                    now=self.model.now,
                )
        except UserError:
            return  # taken, or blocked by a busy event
        self.model.live.add(done.appointment_id)

    @precondition(lambda self: self.model.live)
    @rule(data=st.data(), slot=st.sampled_from(SLOTS))
    def coach_reschedules(self, data: st.DataObject, slot: dt.datetime) -> None:
        self._step()
        appointment_id = data.draw(st.sampled_from(sorted(self.model.live)))
        try:
            with db.session_scope(self.world.url) as s:
                booking.reschedule(
                    s,
                    self.world.coach_id,
                    appointment_id,
                    slot,
                    allow_conflict=True,
                    now=self.model.now,
                )
        except UserError:
            return  # overlaps another appointment, or cancelled meanwhile

    @precondition(lambda self: self.model.live)
    @rule(data=st.data(), slot=st.sampled_from(SLOTS))
    def invitee_reschedules(self, data: st.DataObject, slot: dt.datetime) -> None:
        """Through the manage link in the invitee's email."""
        self._step()
        appointment_id = data.draw(st.sampled_from(sorted(self.model.live)))
        try:
            with db.session_scope(self.world.url) as s:
                token = manage_token(self._appointment(s, appointment_id))
                manage.reschedule(s, token, slot, now=self.model.now)
        except UserError:
            return  # not open, or cancelled meanwhile

    @precondition(lambda self: self.model.live)
    @rule(data=st.data(), by_invitee=st.booleans())
    def appointment_cancelled(self, data: st.DataObject, by_invitee: bool) -> None:
        """The invitee cancels through the manage link, or the coach does."""
        self._step()
        appointment_id = data.draw(st.sampled_from(sorted(self.model.live)))
        with db.session_scope(self.world.url) as s:
            row = self._appointment(s, appointment_id)
            if row.status == "cancelled":
                return  # the engine cancelled it already (external deletion)
            if by_invitee:
                manage.cancel(s, manage_token(row), now=self.model.now)
            else:
                booking.cancel(s, self.world.coach_id, appointment_id)
        self.model.live.discard(appointment_id)
        self.model.cancelled_here.add(appointment_id)

    @staticmethod
    def _appointment(s: Any, appointment_id: int) -> Appointment:
        row = s.get(Appointment, appointment_id)
        assert row is not None
        return row

    # -- the external calendar ---------------------------------------------------------

    @rule(
        start=st.sampled_from(EXTERNAL),
        minutes=st.sampled_from([30, 60]),
        transparent=st.booleans(),
    )
    def outside_adds_event(
        self, start: dt.datetime, minutes: int, transparent: bool
    ) -> None:
        self._step()
        added = self.backend.remote.add(
            self.world.pull_cal, "Busy", start, minutes, transparent=transparent
        )
        self.model.events[added.id] = start

    @precondition(lambda self: self.model.events)
    @rule(data=st.data(), start=st.sampled_from(EXTERNAL))
    def outside_moves_event(self, data: st.DataObject, start: dt.datetime) -> None:
        self._step()
        event_id = data.draw(st.sampled_from(sorted(self.model.events)))
        end = start + dt.timedelta(minutes=45)
        self.backend.remote.move(self.world.pull_cal, event_id, start, end)
        self.model.events[event_id] = start

    @precondition(lambda self: self.model.events or self.model.series)
    @rule(data=st.data())
    def outside_deletes_event(self, data: st.DataObject) -> None:
        self._step()
        ids = sorted([*self.model.events, *self.model.series])
        event_id = data.draw(st.sampled_from(ids))
        self.backend.remote.delete(self.world.pull_cal, event_id)
        self.model.events.pop(event_id, None)
        self.model.series.pop(event_id, None)

    @rule(start=st.sampled_from(SERIES_START))
    def outside_adds_series(self, start: dt.datetime) -> None:
        self._step()
        added = self.backend.remote.add_series(
            self.world.pull_cal,
            "Stand-up",
            start,
            30,
            [f"RRULE:FREQ=DAILY;COUNT={SERIES_COUNT}"],
        )
        self.model.series[added.id] = (start, set())

    @precondition(lambda self: self.model.series)
    @rule(data=st.data(), day=st.integers(0, SERIES_COUNT - 1), move=st.booleans())
    def series_gains_exception(self, data: st.DataObject, day: int, move: bool) -> None:
        self._step()
        series_id = data.draw(st.sampled_from(sorted(self.model.series)))
        first, altered = self.model.series[series_id]
        original = first + dt.timedelta(days=day)
        if original in altered:
            return  # one exception per instance
        altered.add(original)
        remote = self.backend.remote
        if move:
            start = original + dt.timedelta(hours=1)
            remote.move_instance(
                self.world.pull_cal,
                series_id,
                original,
                start,
                start + dt.timedelta(minutes=30),
                summary="Stand-up (moved)",
            )
        else:
            remote.cancel_instance(self.world.pull_cal, series_id, original)

    # -- the coach's phone, on pushed appointments ------------------------------------

    def _pushed_ids(self) -> list[str]:
        return self.backend.remote.ids(self.world.push_cal)

    @rule(data=st.data())
    def outside_deletes_pushed_event(self, data: st.DataObject) -> None:
        self._step()
        ids = self._pushed_ids()
        if not ids:
            return
        event_id = data.draw(st.sampled_from(ids))
        stored = self.backend.remote.stored(self.world.push_cal, event_id)
        self.backend.remote.delete(self.world.push_cal, event_id)
        appointment_id = appointment_id_from_key(stored.key)
        if appointment_id is not None:
            self.model.deleted_outside.add(appointment_id)
            if self.model.switches["cancellation_notification"]:
                self.model.may_cancel.add(appointment_id)

    @rule(data=st.data(), start=st.sampled_from(SLOTS), touch=st.booleans())
    def outside_changes_pushed_event(
        self, data: st.DataObject, start: dt.datetime, touch: bool
    ) -> None:
        self._step()
        ids = self._pushed_ids()
        if not ids:
            return
        event_id = data.draw(st.sampled_from(ids))
        if touch:
            self.backend.remote.touch(self.world.push_cal, event_id)
        else:
            end = start + dt.timedelta(hours=1)
            self.backend.remote.move(self.world.push_cal, event_id, start, end)

    # -- switches -----------------------------------------------------------------------

    @rule(
        switch=st.sampled_from(
            [
                "pull_enabled",
                "push_enabled",
                "cancellation_notification",
                "check_conflicts",
            ]
        )
    )
    def coach_flips_switch(self, switch: str) -> None:
        self._step()
        model = self.model
        value = not model.switches[switch]
        with db.session_scope(self.world.url) as s:
            connections.set_switch(
                s, self.world.coach_id, self.world.connection_id, switch, value
            )
        model.switches[switch] = value
        if switch == "cancellation_notification" and value:
            model.may_cancel |= model.deleted_outside

    @rule(work=st.booleans(), coach_app=st.booleans())
    def coach_ticks_calendars(self, work: bool, coach_app: bool) -> None:
        """Which calendars are pulled; the push calendar stays the same."""
        self._step()
        world = self.world
        ticked = {world.pull_sub_id: work, world.push_sub_id: coach_app}
        with db.session_scope(world.url) as s:
            connections.edit_calendars(
                s,
                world.coach_id,
                world.connection_id,
                [sub for sub, on in ticked.items() if on],
                world.push_sub_id,
            )
        self.model.ticked = ticked

    # -- faults, time, syncs ----------------------------------------------------------

    @rule(kind=st.sampled_from(FAULTS), operation=st.sampled_from(OPERATIONS))
    def server_fault(self, kind: str, operation: str) -> None:
        self._step()
        self.backend.inject(kind, operation)

    @rule()
    def listing_comes_back_empty(self) -> None:
        self._step()
        self.backend.inject(EMPTY_LISTING, "list_all")

    @rule(push_calendar=st.booleans())
    def server_forgets_cursor(self, push_calendar: bool) -> None:
        self._step()
        world = self.world
        sub, cal = (
            (world.push_sub_id, world.push_cal)
            if push_calendar
            else (world.pull_sub_id, world.pull_cal)
        )
        if self._cursor(sub):
            self.backend.invalidate_cursor(world, sub, cal)

    @rule()
    def daily_full_listing_due(self) -> None:
        self._step()
        with db.session_scope(self.world.url) as s:
            s.exec(sa.update(SyncCursor).values(full_sync_at=None))

    @rule(seconds=st.sampled_from([1, 30, 300, 1800]))
    def time_passes(self, seconds: int) -> None:
        self._step()
        self.model.now += dt.timedelta(seconds=seconds)

    @rule()
    def sync(self) -> None:
        self._step()
        self._sync()

    @rule()
    def settle(self) -> None:
        self._step()
        self._settle_and_check()

    def teardown(self) -> None:
        try:
            self._settle_and_check()
        finally:
            self.backend.close()
            for spec in self.specs:
                registry.register(spec)
            db.dispose_all()
            self.loop.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    # -- the invariants ----------------------------------------------------------------

    def _cursor(self, sub_id: int) -> str:
        with db.session_scope(self.world.url) as s:
            row = s.exec(
                select(SyncCursor).where(SyncCursor.sub_calendar_id == sub_id)
            ).first()
            return row.cursor if row else ""

    def _settle_and_check(self) -> None:
        """Faults stop, every wait has passed, one clean sync: then check.

        A calendar that really was emptied lists as empty, which the engine
        holds for an hour before believing it (a server hiccup looks the
        same): then the hour passes and one more sync runs."""
        self.backend.clear()
        self._clean_sync()
        if self._empty_since():
            self._clean_sync()
        self._check()

    def _clean_sync(self) -> None:
        with db.session_scope(self.world.url) as s:
            waits = list(
                s.exec(
                    select(PushOutbox.next_attempt_at).where(
                        PushOutbox.done_at.is_(None)  # type: ignore[union-attr]
                    )
                ).all()
            )
        waits += [since + WIPE_CONFIRM_AFTER for since in self._empty_since()]
        self.model.now = max([self.model.now, *waits]) + dt.timedelta(seconds=1)
        self._run(self.world.sync(now=self.model.now))

    def _empty_since(self) -> list[dt.datetime]:
        with db.session_scope(self.world.url) as s:
            return [
                since
                for since in s.exec(select(SyncCursor.empty_since)).all()
                if since is not None
            ]

    def _listing(self, cal: str) -> ChangeSet:
        async def read() -> ChangeSet:
            provider = self.backend.remote.connect()
            try:
                return await provider.list_all(cal)
            finally:
                await provider.aclose()

        return self._run(read())

    def _check(self) -> None:
        self._pulled_view_equals_the_external_calendar()
        self._live_appointments_are_pushed_exactly_once()
        self._nothing_cancelled_without_cause()
        self._no_email_twice()

    def _pulled_view_equals_the_external_calendar(self) -> None:
        world = self.world
        for sub, cal in (
            (world.pull_sub_id, world.pull_cal),
            (world.push_sub_id, world.push_cal),
        ):
            with db.session_scope(world.url) as s:
                rows = s.exec(
                    select(ExternalEvent).where(ExternalEvent.sub_calendar_id == sub)
                ).all()
                pulled = sorted(
                    (r.remote_id, r.occurrence, r.start, r.end, r.busy) for r in rows
                )
            username = world.connection().username
            attendee = username if "@" in username else world.coach_email
            expected: list[tuple] = []
            if self.model.switches["pull_enabled"] and self.model.ticked[sub]:
                for event in self._listing(cal).changed:
                    if event.coach_key:
                        continue  # our own appointments are never busy time
                    expected += [
                        (event.id, o.recurrence_id or "", o.start, o.end, o.busy)
                        for o in expand(event.raw, *WINDOW, "UTC", attendee)
                        if not o.cancelled
                    ]
            assert pulled == sorted(expected), f"the pulled view of {cal} is not it"

    def _live_appointments_are_pushed_exactly_once(self) -> None:
        if not self.model.switches["push_enabled"]:
            return
        by_key: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
        for event in self._listing(self.world.push_cal).changed:
            assert event.coach_key, f"a stranger in the push calendar: {event.id}"
            [occ] = expand(event.raw, *WINDOW, "UTC")
            by_key.setdefault(event.coach_key, []).append((occ.start, occ.end))
        with db.session_scope(self.world.url) as s:
            appointments = s.exec(
                select(Appointment).where(Appointment.coach_id == self.world.coach_id)
            ).all()
        for appointment in appointments:
            assert appointment.id is not None
            found = by_key.pop(event_key(appointment.id), [])
            if appointment.status == "confirmed" and appointment.end > self.model.now:
                assert found == [(appointment.start, appointment.end)], (
                    f"appointment {appointment.id} at {appointment.start:%d %H:%M} "
                    f"is in the push calendar as {found}"
                )
            elif appointment.status == "cancelled":
                assert found == [], f"cancelled appointment {appointment.id} is pushed"
        assert not by_key, f"events of unknown appointments: {sorted(by_key)}"

    def _nothing_cancelled_without_cause(self) -> None:
        with db.session_scope(self.world.url) as s:
            cancelled = set(
                s.exec(
                    select(Appointment.id).where(
                        Appointment.coach_id == self.world.coach_id,
                        Appointment.status == "cancelled",
                    )
                ).all()
            )
        model = self.model
        unexplained = cancelled - model.cancelled_here - model.may_cancel
        assert not unexplained, f"cancelled without cause: {sorted(unexplained)}"
        # The engine's cancellations: no longer live for the machine.
        engine_cancelled = cancelled - model.cancelled_here
        model.live -= engine_cancelled
        model.deleted_outside -= engine_cancelled

    def _no_email_twice(self) -> None:
        with db.session_scope(self.world.url) as s:
            mails = s.exec(select(EmailOutbox.to_addr, EmailOutbox.subject)).all()
        for kind in ("Confirmed:", "Cancelled:"):
            sent = [
                to
                for to, subject in mails
                if subject.startswith(kind) and to.startswith("invitee-")
            ]
            twice = sorted({to for to in sent if sent.count(to) > 1})
            assert not twice, f"{kind} sent twice to {twice}"
