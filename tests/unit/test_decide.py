"""The pure decision step of a pull: plain values in, actions out."""

from __future__ import annotations

import datetime as dt

from coach_app.calendars.base import ChangeSet, OutgoingEvent, RemoteEvent
from coach_app.calendars.ical import build_vevent
from coach_app.sync.content import event_hash
from coach_app.sync.decide import (
    CANCELLED,
    CHANGED,
    PUT_BACK,
    AppointmentState,
    Cancel,
    DeleteEvents,
    HoldEmptyListing,
    Local,
    Notify,
    Pulled,
    PushedState,
    RecordPushed,
    ReplaceEvents,
    Repush,
    SaveCursor,
    decide,
)

NOW = dt.datetime(2030, 1, 7, tzinfo=dt.UTC)
START = dt.datetime(2030, 1, 8, 10, tzinfo=dt.UTC)
KEY = "coachapp-appt-7"
OURS = OutgoingEvent(KEY, "Coaching with Ivy", START, START + dt.timedelta(hours=1))
PUSHED = PushedState(1, 7, KEY, "ev-7", '"1"', event_hash(OURS))
LIVE = AppointmentState(7, coach_id=3, confirmed=True, end=OURS.end)


def push_calendar(**changes: object) -> Local:
    values: dict = dict(
        name="Coach App",
        coach_id=3,
        stores=False,
        push_calendar=True,
        push_enabled=True,
        cancellation_notification=True,
        event_ids=frozenset(),
        pushed=(PUSHED,),
        appointments={7: LIVE},
    )
    values.update(changes)
    return Local(**values)


def ours(etag: str, event: OutgoingEvent = OURS) -> RemoteEvent:
    return RemoteEvent("ev-7", etag, KEY, build_vevent(event), event.summary, KEY)


def incremental(*changed: RemoteEvent, deleted: tuple[str, ...] = ()) -> Pulled:
    return Pulled(ChangeSet(list(changed), list(deleted), "c2"), ours=tuple(changed))


def test_our_own_echo_changes_nothing_but_the_cursor() -> None:
    plan = decide(push_calendar(), incremental(ours('"1"')), NOW)
    assert plan.actions == [SaveCursor("c2", full=False, stored=False, skipped={})]


def test_a_same_content_rewrite_only_stores_the_new_etag() -> None:
    plan = decide(push_calendar(), incremental(ours('"2"')), NOW)
    assert plan.actions[:-1] == [
        RecordPushed(PushedState(1, 7, KEY, "ev-7", '"2"', PUSHED.content_hash))
    ]
    assert plan.notices == 0


def test_an_external_move_is_pushed_back_with_a_notice() -> None:
    moved = OutgoingEvent(
        KEY, OURS.summary, START.replace(hour=15), OURS.end.replace(hour=16)
    )
    plan = decide(push_calendar(), incremental(ours('"2"', moved)), NOW)
    assert plan.actions[1:-1] == [Repush(7, "upsert"), Notify(7, CHANGED)]


def test_an_external_deletion_cancels_with_notification_on_and_puts_back_with_it_off() -> (
    None
):
    gone = incremental(deleted=("ev-7",))
    cleared = RecordPushed(PushedState(1, 7, KEY, "", "", ""))

    on = decide(push_calendar(), gone, NOW)
    off = decide(push_calendar(cancellation_notification=False), gone, NOW)

    assert on.actions[:-1] == [
        DeleteEvents(("ev-7",)),
        cleared,
        Cancel(7),
        Notify(7, CANCELLED),
    ]
    assert on.appointments_changed
    assert off.actions[:-1] == [
        DeleteEvents(("ev-7",)),
        cleared,
        Repush(7, "upsert"),
        Notify(7, PUT_BACK),
    ]


def test_an_empty_listing_is_held_then_believed_an_hour_later_but_never_cancels() -> (
    None
):
    empty = Pulled(ChangeSet([], [], "c9", full=True))

    first = decide(push_calendar(), empty, NOW)
    later = NOW + dt.timedelta(hours=1)
    confirmed = decide(push_calendar(empty_since=NOW), empty, later)

    assert first.actions == [HoldEmptyListing(NOW)]
    assert first.error and first.error.startswith("“Coach App” came back empty")
    assert Cancel(7) not in confirmed.actions
    assert Repush(7, "upsert") in confirmed.actions
    assert confirmed.actions[-1] == SaveCursor("", full=True, stored=False, skipped={})


def test_a_lost_create_is_adopted_and_pushed_again() -> None:
    unrecorded = PushedState(1, 7, KEY, "", "", "")
    plan = decide(push_calendar(pushed=(unrecorded,)), incremental(ours('"5"')), NOW)
    assert plan.actions[:-1] == [
        RecordPushed(PushedState(1, 7, KEY, "ev-7", '"5"', "")),
        Repush(7, "upsert"),
    ]


def test_pulled_events_are_replaced_and_deleted_ones_go() -> None:
    local = push_calendar(
        stores=True, push_calendar=False, event_ids=frozenset({"a", "b"}), pushed=()
    )
    pulled = Pulled(
        ChangeSet([], ["b"], "c3"), expanded=("c",), malformed={"d": "Broken"}
    )
    plan = decide(local, pulled, NOW)
    assert plan.actions == [
        ReplaceEvents(("c",)),
        DeleteEvents(("b",)),
        SaveCursor("c3", full=False, stored=True, skipped={"d": "Broken"}),
    ]
    assert plan.events_changed
