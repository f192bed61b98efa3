"""The sync engine on Google Calendar, against the local Google sandbox.

The same scenarios as the CalDAV sync tests (same test names where the
behaviour is the same), plus what only Google has: a 410 sync token, access
tokens that expire and are refreshed, a revoked grant, and Google's own
rate-limit error with ``Retry-After``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from coach_app.calendars.errors import RateLimited
from coach_app.calendars.google.config import RECONNECT_MESSAGE
from coach_app.calendars.oauth import OAuthTokens
from coach_app.security import secrets
from coach_app.sync import providers, scheduler
from coach_app.sync.content import MANAGED_NOTE, event_key
from sandbox.google import instance_id

from .conftest import NOW, SimulatedCrash, Spy, at
from .google_world import (
    GoogleWorld,
    google_env,
    google_sandbox,
    google_world,
    sandbox_tokens,
)
from .test_pull import labels

__all__ = ["google_env", "google_sandbox", "google_world"]  # fixtures

TUESDAY = (at(8, 0), at(9, 0))
UTC_ZONE = ZoneInfo("UTC")
WHEN = "Coaching session with Ivy Invitee on Tuesday 8 January 2030 at 10:00"


@pytest.fixture
def google_spy(google_world: GoogleWorld) -> Spy:
    installed = Spy("google")
    installed.install()
    return installed


async def pushed_event(world: GoogleWorld) -> tuple[int, str]:
    appointment_id = world.book(at(8, 10))
    await world.sync()
    [event] = world.push_events()
    return appointment_id, str(event["id"])


# -- pulling ----------------------------------------------------------------------


async def test_external_busy_event_appears_as_busy_and_blocks_its_slot(
    google_world: GoogleWorld,
) -> None:
    world = google_world
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
    google_world: GoogleWorld,
) -> None:
    world = google_world
    world.add("Focus time", at(8, 10), transparency="transparent")
    before = world.slots(*TUESDAY)

    await world.sync()

    [row] = world.external()
    assert (row.summary, row.busy) == ("Focus time", False)
    assert labels(world) == [("Focus time", "Free", "2030-01-08T10:00:00+00:00")]
    assert world.slots(*TUESDAY) == before


async def test_weekly_recurring_event_with_exdate_and_moved_instance_blocks_exactly_8_weeks(
    google_world: GoogleWorld,
) -> None:
    world = google_world
    eight_weeks = (NOW, NOW + dt.timedelta(weeks=8))
    master = world.add(
        "Stand-up",
        at(7, 10).astimezone(UTC_ZONE),
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=8", "EXDATE:20300121T100000Z"],
    )
    moved = world.google.state.move_instance(
        world.pull_cal,
        master,
        at(4, 10, month=2),
        at(5, 14, month=2).astimezone(UTC_ZONE),
        at(5, 15, month=2).astimezone(UTC_ZONE),
    )
    assert moved["id"] == instance_id(master, at(4, 10, month=2))
    before = world.slots(*eight_weeks)

    await world.sync()

    mondays = [at(7, 10), at(14, 10), at(28, 10)] + [
        at(d, 10, month=2) for d in (11, 18, 25)
    ]
    assert [(r.occurrence, r.start, r.end) for r in world.external()] == [
        (m.strftime("%Y%m%dT%H%M%SZ"), m, m + dt.timedelta(hours=1))
        for m in mondays[:3]
    ] + [("20300204T100000Z", at(5, 14, month=2), at(5, 15, month=2))] + [
        (m.strftime("%Y%m%dT%H%M%SZ"), m, m + dt.timedelta(hours=1))
        for m in mondays[3:]
    ]
    blocked = {
        start + dt.timedelta(minutes=offset)
        for start in [*mondays, at(5, 14, month=2)]
        for offset in (-30, 0, 30)
    }
    assert set(before) - set(world.slots(*eight_weeks)) == blocked
    assert set(world.slots(*eight_weeks)) - set(before) == set()


async def test_rejected_cursor_full_listing_finds_a_deletion_made_in_the_gap(
    google_world: GoogleWorld, google_spy: Spy
) -> None:
    """Google's 410 Gone on a sync token: full listing, deletion reconciled."""
    world = google_world
    world.add("Kept", at(8, 10))
    gap = world.add("Deleted in the gap", at(8, 13))
    await world.sync()
    world.delete(gap)
    world.google.state.invalidate_sync_tokens(world.pull_cal)
    google_spy.calls.clear()

    result = await world.sync()

    assert google_spy.called(world.pull_cal) == ["changes", "list_all"]
    assert result.status == "ok"
    assert [r.summary for r in world.external()] == ["Kept"]
    assert at(8, 13) in world.slots(*TUESDAY)


# -- pushing ----------------------------------------------------------------------


async def test_push_creates_exactly_one_event_even_when_retried_after_a_crash(
    google_world: GoogleWorld, google_spy: Spy
) -> None:
    world = google_world
    appointment_id = world.book(at(8, 10))

    async def crash_after_create(name: str, cal: str, result: object) -> object:
        if name == "create":
            raise SimulatedCrash()  # Google made it; we never hear back
        return result

    google_spy.after = crash_after_create
    with pytest.raises(SimulatedCrash):
        await world.sync()
    assert [e["id"] for e in world.push_events()] == [
        world.push_event_id(appointment_id)
    ]
    pushed = world.pushed(appointment_id)
    assert pushed is not None and pushed.remote_id == ""
    assert [p.action for p in world.pending_pushes()] == ["upsert"]

    google_spy.after = None
    result = await world.sync()

    assert (result.status, result.pushed) == ("ok", 1)
    [event] = world.push_events()
    assert event["id"] == world.push_event_id(appointment_id)
    assert event["summary"] == "Coaching session with Ivy Invitee"
    assert event["start"]["dateTime"] == "2030-01-08T10:00:00Z"
    assert event["end"]["dateTime"] == "2030-01-08T11:00:00Z"
    assert event["extendedProperties"]["private"] == {
        "coachAppKey": event_key(appointment_id)
    }
    assert "ivy@example.com" in event["description"]
    assert MANAGED_NOTE.split(" — ")[0] in event["description"]
    pushed = world.pushed(appointment_id)
    assert pushed is not None
    assert (pushed.remote_id, pushed.etag, pushed.pushed_version) == (
        event["id"],
        event["etag"],
        1,
    )
    assert world.pending_pushes() == []
    # Our own write coming back is not an external edit.
    await world.sync()
    assert world.notices() == []
    assert [e["id"] for e in world.push_events()] == [event["id"]]


# -- our pushed events changed in Google --------------------------------------------


async def test_external_deletion_cancels_the_appointment_and_emails_the_client(
    google_world: GoogleWorld,
) -> None:
    world = google_world
    appointment_id, event_id = await pushed_event(world)

    world.delete(event_id, cal=world.push_cal)
    result = await world.sync()

    assert (result.status, result.appointments_changed) == ("ok", True)
    assert world.appointment(appointment_id).status == "cancelled"
    subjects = [m.subject for m in world.emails(to="ivy@example.com")]
    assert len(subjects) == 2
    assert subjects[0].startswith("Confirmed: Coaching session with Kim Coach")
    assert subjects[1].startswith("Cancelled: Coaching session with Kim Coach")
    assert world.notices() == [
        f"{WHEN} was deleted in Coach App, so it was cancelled here and "
        "Ivy Invitee was emailed."
    ]
    assert world.push_events() == []
    assert world.pending_pushes() == []
    await world.sync()
    assert len(world.notices()) == 1


async def test_external_deletion_with_notification_off_puts_it_back_with_a_notice(
    google_world: GoogleWorld,
) -> None:
    world = google_world
    world.update_connection(cancellation_notification=False)
    appointment_id, event_id = await pushed_event(world)

    world.delete(event_id, cal=world.push_cal)
    result = await world.sync()

    assert (result.status, result.appointments_changed) == ("ok", False)
    assert world.appointment(appointment_id).status == "confirmed"
    [event] = world.push_events()
    assert (event["id"], event["status"]) == (event_id, "confirmed")
    assert event["start"]["dateTime"] == "2030-01-08T10:00:00Z"
    assert [m.subject[:10] for m in world.emails(to="ivy@example.com")] == [
        "Confirmed:"
    ]
    assert world.notices() == [
        f"{WHEN} was deleted in Coach App; it is still booked here and was put "
        "back. Cancel it in Coach App if it should go."
    ]
    assert world.pending_pushes() == []


async def test_external_move_is_reverted_with_a_notice(
    google_world: GoogleWorld,
) -> None:
    world = google_world
    appointment_id, event_id = await pushed_event(world)

    world.google.state.move_event(world.push_cal, event_id, at(8, 15), at(8, 16))
    result = await world.sync()

    assert result.status == "ok"
    [event] = world.push_events()
    assert event["id"] == event_id
    assert event["start"]["dateTime"] == "2030-01-08T10:00:00Z"
    assert event["end"]["dateTime"] == "2030-01-08T11:00:00Z"
    appointment = world.appointment(appointment_id)
    assert (appointment.status, appointment.start) == ("confirmed", at(8, 10))
    assert world.notices() == [
        f"{WHEN} was changed in Coach App; changes made there are undone. "
        "Reschedule in Coach App."
    ]
    await world.sync()  # the restored version's echo changes nothing
    assert len(world.notices()) == 1


# -- Google's credentials and limits ------------------------------------------------


async def test_expired_access_token_is_refreshed_and_the_new_tokens_stored_encrypted(
    google_world: GoogleWorld,
) -> None:
    world = google_world
    await world.sync()
    before = world.stored_tokens()
    world.google.state.expire_access_tokens(world.email)
    world.add("Dentist", at(8, 10))
    sent = len(world.google.state.request_log())

    result = await world.sync(now=NOW + dt.timedelta(minutes=1))

    assert (result.status, result.error) == ("ok", "")
    assert [r.summary for r in world.external()] == ["Dentist"]
    token_calls = [
        r.path for r in world.google.state.request_log()[sent:] if r.path == "/token"
    ]
    assert token_calls == ["/token"]  # one refresh, shared by every request
    after = world.stored_tokens()
    assert after.access_token != before.access_token
    assert after.refresh_token == before.refresh_token
    assert after.expires_at > before.expires_at
    secret = world.connection().secret_encrypted
    assert after.access_token not in secret and before.refresh_token not in secret
    # The stored token is the live one: the next sync needs no refresh.
    sent = len(world.google.state.request_log())
    assert (await world.sync(now=NOW + dt.timedelta(minutes=2))).status == "ok"
    assert "/token" not in [r.path for r in world.google.state.request_log()[sent:]]


async def test_revoked_grant_asks_to_reconnect_google_emails_once_and_keeps_busy_times(
    google_world: GoogleWorld,
) -> None:
    world = google_world
    world.add("Dentist", at(8, 10))
    assert (await world.sync()).status == "ok"
    blocked = world.slots(*TUESDAY)
    assert at(8, 10) not in blocked

    assert world.google.state.revoke(email=world.email) == 1
    first = await world.sync(now=NOW + dt.timedelta(minutes=1))
    second = await world.sync(now=NOW + dt.timedelta(minutes=5))

    assert (first.status, second.status) == ("reconnect", "reconnect")
    connection = world.connection()
    assert connection.last_error == RECONNECT_MESSAGE
    assert "reconnect Google" in connection.last_error
    assert (connection.reconnect_notified, connection.sync_failures) == (True, 2)
    assert connection.next_sync_at == NOW + dt.timedelta(minutes=5, seconds=240)
    reconnect_mails = [
        m.subject
        for m in world.emails(to=world.coach_email)
        if "reconnect" in m.subject
    ]
    assert reconnect_mails == [f"Please reconnect your Google calendar ({world.email})"]
    assert [r.summary for r in world.external()] == ["Dentist"]
    assert world.slots(*TUESDAY) == blocked


async def test_rate_limit_keeps_pulled_events_records_the_error_and_backs_off(
    google_world: GoogleWorld,
) -> None:
    """Google's 403 rateLimitExceeded with Retry-After: nothing lost, the
    back-off is honoured even with a booking waiting to be pushed."""
    world = google_world
    world.add("Dentist", at(8, 10))
    await world.sync()
    appointment_id = world.book(at(9, 10))
    world.add("Gym", at(8, 15))
    world.google.state.inject_fault(
        "rate_limit", status=403, reason="rateLimitExceeded", retry_after=600
    )

    later = NOW + dt.timedelta(minutes=2)
    result = await world.sync(now=later)

    assert (result.status, result.error) == ("error", RateLimited().user_message)
    connection = world.connection()
    assert connection.next_sync_at == later + dt.timedelta(seconds=600)
    assert connection.sync_failures == 1
    assert [r.summary for r in world.external()] == ["Dentist"]
    assert at(8, 10) not in world.slots(*TUESDAY)
    assert [p.appointment_id for p in world.pending_pushes()] == [appointment_id]
    assert scheduler.due_connections(world.url, later + dt.timedelta(seconds=599)) == []
    due_at = later + dt.timedelta(seconds=600)
    assert scheduler.due_connections(world.url, due_at) == [world.connection_id]

    retry = await world.sync(now=due_at)

    assert (retry.status, retry.error, retry.pushed) == ("ok", "", 1)
    assert [r.summary for r in world.external()] == ["Dentist", "Gym"]
    assert [e["id"] for e in world.push_events()] == [
        world.push_event_id(appointment_id)
    ]
    assert world.pending_pushes() == []


async def test_a_refresh_never_overwrites_the_grant_of_a_reconnect(
    google_world: GoogleWorld,
) -> None:
    """The coach reconnected Google while a sync refreshed the old grant:
    the new grant is kept."""
    world = google_world
    old = world.stored_tokens()
    save = providers.token_saver(world.url, world.connection_id, old.refresh_token)
    reconnected = sandbox_tokens(world.google, world.email)
    world.update_connection(secret_encrypted=secrets.encrypt(reconnected.to_json()))

    await save(
        OAuthTokens("ya29.refreshed-old-grant", old.refresh_token, old.expires_at)
    )

    assert world.stored_tokens() == reconnected
