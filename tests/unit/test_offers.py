"""The booking page's offer: same slots as the booking check, read once per
change, and read without SQLite's write lock."""

from __future__ import annotations

import datetime as dt
import threading
import time
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from coach_app import changes
from coach_app.availability import group_by_local_date
from coach_app.db import read_scope, session_scope
from coach_app.models import (
    Appointment,
    AppointmentType,
    CalendarConnection,
    Client,
    Coach,
    ExternalEvent,
    SubCalendar,
)
from coach_app.services import auth, availability, offers, profile, schedule
from coach_app.services.errors import UserError

UTC = dt.UTC
NOW = dt.datetime(2030, 3, 4, 13, 0, tzinfo=UTC)  # a Monday, 5 days before DST
NY = "America/New_York"


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """NOW's date + `day`, at hour:minute New York time, in UTC."""
    local = dt.datetime.combine(
        NOW.date() + dt.timedelta(days=day), dt.time(hour, minute)
    )
    return local.replace(tzinfo=ZoneInfo(NY)).astimezone(UTC)


def _event(coach_id, sub_id, rid, start, minutes, busy=True) -> ExternalEvent:
    return ExternalEvent(
        coach_id=coach_id,
        sub_calendar_id=sub_id,
        remote_id=rid,
        start=start,
        end=start + dt.timedelta(minutes=minutes),
        busy=busy,
    )


def _seed(url: str, email: str = "offer@example.com") -> dict:
    """A New York coach with two active types and one archived, a day off
    and a short day, busy and free events on pulled and unpulled calendars,
    one connection with its conflict check off, and appointments."""
    with session_scope(url) as s:
        coach = auth.sign_up(s, email, "password-1", "Olive Offer", NY)
        cid = coach.id
        session_type = s.exec(
            select(AppointmentType).where(AppointmentType.coach_id == cid)
        ).one()
        session_type.buffer_before_min = 15
        session_type.buffer_after_min = 10
        session_type.min_notice_min = 60
        session_type.horizon_days = 20  # across the clock change (2030-03-10)
        s.add(session_type)
        intro = AppointmentType(
            coach_id=cid,
            name="Intro",
            duration_min=20,
            slot_interval_min=15,
            min_notice_min=0,
            max_per_day=1,
            horizon_days=10,
        )
        archived = AppointmentType(coach_id=cid, name="Old", active=False)
        s.add_all([intro, archived])
        schedule.set_override(s, cid, NOW.date() + dt.timedelta(days=2), [])
        schedule.set_override(
            s, cid, NOW.date() + dt.timedelta(days=3), [(13 * 60, 15 * 60)]
        )
        checked = CalendarConnection(coach_id=cid, provider="caldav")
        unchecked = CalendarConnection(
            coach_id=cid, provider="caldav", check_conflicts=False
        )
        s.add_all([checked, unchecked])
        s.flush()
        work = SubCalendar(connection_id=checked.id, remote_id="/w/", pull=True)
        hidden = SubCalendar(connection_id=checked.id, remote_id="/h/", pull=False)
        other = SubCalendar(connection_id=unchecked.id, remote_id="/o/", pull=True)
        s.add_all([work, hidden, other])
        s.flush()
        s.add_all(
            [
                _event(cid, work.id, "a", _at(1, 9), 60),
                _event(cid, work.id, "b", _at(1, 9, 30), 90),  # overlaps a
                _event(cid, work.id, "c", _at(1, 11), 30),  # touches b's end
                _event(cid, work.id, "free", _at(1, 14), 120, busy=False),
                _event(cid, hidden.id, "hidden", _at(4, 9), 480),
                _event(cid, other.id, "unchecked", _at(5, 9), 480),
                _event(cid, work.id, "long", _at(6, 0), 3 * 24 * 60),
                _event(cid, work.id, "dst", _at(8, 10), 45),
                _event(cid, work.id, "past", _at(-10, 9), 60),
            ]
        )
        client = Client(coach_id=cid, name="C", email="c@example.com")
        s.add(client)
        s.flush()
        s.add_all(
            [
                Appointment(
                    coach_id=cid,
                    client_id=client.id,
                    appointment_type_id=intro.id,
                    start=_at(4, 15),
                    end=_at(4, 15, 20),
                ),
                Appointment(
                    coach_id=cid,
                    client_id=client.id,
                    appointment_type_id=session_type.id,
                    start=_at(1, 13),
                    end=_at(1, 14),
                ),
                Appointment(
                    coach_id=cid,
                    client_id=client.id,
                    appointment_type_id=session_type.id,
                    start=_at(4, 10),
                    end=_at(4, 11),
                    status="cancelled",
                ),
            ]
        )
        return {
            "coach_id": cid,
            "slug": coach.slug,
            "types": [session_type.id, intro.id],
            "archived": archived.id,
            "sub": work.id,
        }


def _reference(url: str, coach_id: int, type_id: int, now: dt.datetime) -> list:
    with session_scope(url) as s:
        coach = s.get(Coach, coach_id)
        return availability.slots(s, coach, s.get(AppointmentType, type_id), now)


def test_the_offer_has_the_slots_the_booking_check_computes(any_db_url):
    seeded = _seed(any_db_url)
    offer = offers.load(seeded["coach_id"], NOW, any_db_url)
    assert offer is not None
    assert [t[0] for t in offer.type_options] == seeded["types"]  # not archived
    for type_id in seeded["types"]:
        expected = _reference(any_db_url, seeded["coach_id"], type_id, NOW)
        assert expected  # the scenario leaves open slots
        assert offer.slots(type_id, NOW) == expected
    assert offer.slots(seeded["archived"], NOW) == []


def test_slots_follow_the_clock_and_group_in_the_invitees_zone(sqlite_url):
    seeded = _seed(sqlite_url)
    offer = offers.load(seeded["coach_id"], NOW, sqlite_url)
    assert offer is not None
    type_id = seeded["types"][0]
    offer.slots(type_id, NOW)  # computed once, then only trimmed
    for later in (NOW + dt.timedelta(hours=2), NOW + dt.timedelta(hours=5)):
        expected = _reference(sqlite_url, seeded["coach_id"], type_id, later)
        assert offer.slots(type_id, later) == expected
        zone = "Asia/Kolkata"
        assert offer.days(type_id, zone, later) == list(
            group_by_local_date(expected, zone).items()
        )


def test_the_offer_is_read_once_per_change(sqlite_url):
    seeded = _seed(sqlite_url)
    coach_id, type_id = seeded["coach_id"], seeded["types"][0]
    before = offers.loads[coach_id]
    first = offers.offer(coach_id, NOW, sqlite_url)
    assert offers.offer(coach_id, NOW, sqlite_url) is first
    assert offers.loads[coach_id] - before == 1
    slot = first.slots(type_id, NOW)[0]

    with session_scope(sqlite_url) as s:
        s.add(_event(coach_id, seeded["sub"], "new", slot, 30))
    # Not announced yet: still what was read.
    assert offers.offer(coach_id, NOW, sqlite_url) is first
    changes.coach_changed(coach_id)
    second = offers.offer(coach_id, NOW, sqlite_url)
    assert slot not in second.slots(type_id, NOW)
    assert offers.loads[coach_id] - before == 2


def test_many_refreshes_after_a_change_share_one_read(sqlite_url):
    coach_id = _seed(sqlite_url)["coach_id"]
    offers.offer(coach_id, NOW, sqlite_url)
    changes.coach_changed(coach_id)
    before = offers.loads[coach_id]
    start = threading.Barrier(12)
    got = []

    def refresh() -> None:
        start.wait()
        got.append(offers.offer(coach_id, NOW, sqlite_url))

    threads = [threading.Thread(target=refresh) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert offers.loads[coach_id] - before == 1
    assert len({id(o) for o in got}) == 1


def test_a_read_that_raced_with_a_change_is_not_kept(sqlite_url, monkeypatch):
    coach_id = _seed(sqlite_url)["coach_id"]
    real_load = offers.load

    def load_during_a_change(*args, **kwargs):
        result = real_load(*args, **kwargs)
        changes.coach_changed(coach_id)  # committed while we were reading
        return result

    monkeypatch.setattr(offers, "load", load_during_a_change)
    offers.offer(coach_id, NOW, sqlite_url)
    monkeypatch.setattr(offers, "load", real_load)
    before = offers.loads[coach_id]
    offers.offer(coach_id, NOW, sqlite_url)
    assert offers.loads[coach_id] - before == 1  # read again


def test_a_changed_booking_link_stops_working(sqlite_url):
    seeded = _seed(sqlite_url)
    assert offers.offer_for_slug(seeded["slug"], NOW, sqlite_url).coach_name == (
        "Olive Offer"
    )
    with session_scope(sqlite_url) as s:  # announces the change on commit
        profile.update_profile(s, seeded["coach_id"], "Olive O.", NY, "olive")
    with pytest.raises(UserError, match="does not exist"):
        offers.offer_for_slug(seeded["slug"], NOW, sqlite_url)
    assert offers.offer_for_slug("Olive", NOW, sqlite_url).coach_name == "Olive O."
    with pytest.raises(UserError, match="does not exist"):
        offers.offer_for_slug("nobody", NOW, sqlite_url)


def test_readers_do_not_wait_for_a_writer(sqlite_url):
    seeded = _seed(sqlite_url)
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with session_scope(sqlite_url) as s:  # BEGIN IMMEDIATE: the write lock
            s.exec(sa.delete(ExternalEvent))
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        offer = offers.load(seeded["coach_id"], NOW, sqlite_url)
        with read_scope(sqlite_url) as s:
            events = len(s.exec(select(ExternalEvent.id)).all())
        waited = time.monotonic() - started
    finally:
        release.set()
        thread.join()
    assert waited < 2.0  # the busy timeout is 30 s: a reader that queued fails
    assert offer is not None and events == 9  # the snapshot before the delete


def test_a_reader_cannot_write(sqlite_url):
    _seed(sqlite_url)
    with (
        pytest.raises(sa.exc.OperationalError, match="readonly"),
        read_scope(sqlite_url) as s,
    ):
        s.exec(sa.delete(ExternalEvent))


@given(
    st.lists(
        st.tuples(st.integers(0, 200), st.integers(0, 60)), min_size=0, max_size=40
    ),
    st.booleans(),
)
def test_merging_in_order_of_end_matches_the_sorting_merge(spans, shuffled):
    from coach_app.availability import merge_intervals

    intervals = [(s, s + length) for s, length in spans]
    ordered = intervals if shuffled else sorted(intervals, key=lambda x: x[1])
    blocks = offers._merge_by_end([s for s, _ in ordered], [e for _, e in ordered])
    starts, ends = merge_intervals(intervals)
    assert sorted(blocks) == list(zip(starts, ends, strict=True))


def test_rows_read_in_a_read_scope_stay_readable_after_it(sqlite_url):
    seeded = _seed(sqlite_url)
    with read_scope(sqlite_url) as s:
        row = s.get(AppointmentType, seeded["types"][1])
    assert (row.name, row.max_per_day) == ("Intro", 1)
