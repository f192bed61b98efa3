"""Scale-out end to end: two hosts on one PostgreSQL and one Redis.

Host A (127.0.0.1, two workers) and host B (127.0.0.2, one worker) are
started with the README's production start (`make serve`), each building and
serving its own frontend on one port. The coach's calendar is on the Google
sandbox. Its push notifications go nowhere on their own
(`COACH_APP_WEBHOOK_BASE_URL` is a closed port): each test delivers them, as
Google would, to the host it chooses. Periodic syncs are off (an hour), so
every sync here was asked for.

Booking pages and the coach's pages are Chromium tabs, or, where twenty must
act at once, clients that speak the app's websocket protocol
(`reflex_ws.BookingPage`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import re
import threading
import time
import urllib.request
from email.utils import format_datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import (
    Appointment,
    AppointmentType,
    CalendarConnection,
    ExternalEvent,
    WatchChannel,
    WorkingHours,
)
from coach_app.security import secrets
from coach_app.services import schedule

from .hosts import Cluster, Host, start_cluster
from .reflex_ws import BookingPage

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

UTC = dt.UTC


@pytest.fixture(scope="module")
def google():
    from sandbox.google import start_google_sandbox

    sandbox = start_google_sandbox()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, google):
    env = {
        **google.env(),
        "COACH_APP_SYNC_INTERVAL": "3600",
        "COACH_APP_WEBHOOK_BASE_URL": "http://127.0.0.1:9",
        # Twenty invitees here share one address; not a flood.
        "COACH_APP_BOOKING_LIMIT_ADDRESS": "1000/600",
        "COACH_APP_BOOKING_LIMIT_COACH": "1000/600",
    }
    started = start_cluster(
        tmp_path_factory.mktemp("scale"), [("127.0.0.1", 2), ("127.0.0.2", 1)], env
    )
    with pytest.MonkeyPatch.context() as mp:
        # This process seeds Google tokens: with the hosts' keys.
        mp.setenv("COACH_APP_SECRET_KEYS", started.env["COACH_APP_SECRET_KEYS"])
        for name, value in google.env().items():
            mp.setenv(name, value)
        secrets.reset_keys()
        try:
            yield started
        finally:
            secrets.reset_keys()
            started.stop()


def _run(coro):
    """Run a coroutine on a loop of its own (Playwright holds this thread's)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Coach:
    """A coach with a Google calendar, working 09:00-12:00 UTC on `day`."""

    def __init__(self, cluster: Cluster, google) -> None:
        from sync.google_world import new_google_world

        self.cluster = cluster
        self.google = google
        self.world = new_google_world(cluster.db_url, google)
        self.day = dt.datetime.now(UTC).date() + dt.timedelta(days=2)
        with session_scope(cluster.db_url) as s:
            s.exec(
                sa.delete(WorkingHours).where(
                    WorkingHours.coach_id == self.world.coach_id
                )
            )
            schedule.set_override(s, self.world.coach_id, self.day, [(540, 720)])
            row = s.get(AppointmentType, self.world.type_id)
            row.min_notice_min = 0
            s.add(row)
        self.busy("Dentist", 9, 0)
        # Due now, whether or not a host already synced the empty calendar.
        with session_scope(cluster.db_url) as s:
            connection = s.get(CalendarConnection, self.world.connection_id)
            connection.next_sync_at = None
            s.add(connection)
        self.wait_synced(events=1)

    def at(self, hour: int, minute: int) -> dt.datetime:
        return dt.datetime.combine(self.day, dt.time(hour, minute), tzinfo=UTC)

    def busy(self, summary: str, hour: int, minute: int) -> None:
        """A 30-minute busy event added in Google."""
        self.world.add(summary, self.at(hour, minute), 30)

    def wait_synced(self, events: int, timeout: float = 60) -> None:
        """Until the app holds `events` pulled events, the pull calendar has a
        live channel, and no sync is running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with session_scope(self.cluster.db_url) as s:
                held = s.exec(
                    select(sa.func.count()).where(
                        ExternalEvent.coach_id == self.world.coach_id
                    )
                ).one()
                channel = s.exec(
                    select(WatchChannel.id).where(
                        WatchChannel.sub_calendar_id == self.world.pull_sub_id,
                        WatchChannel.resource_id != "",
                    )
                ).first()
                connection = s.get(CalendarConnection, self.world.connection_id)
                idle = connection.last_sync_at and connection.lease_owner is None
            if held == events and channel is not None and idle:
                return
            time.sleep(0.2)
        raise AssertionError(f"not synced: {held} events, channel {channel}")

    def notify(self, host: Host) -> None:
        """Google's push notification for the pull calendar, sent to `host`."""
        (channel,) = self.google.state.active_channels(self.world.pull_cal)
        expires = dt.datetime.fromtimestamp(channel.expiration_ms / 1000, UTC)
        request = urllib.request.Request(
            f"{host.url}/webhooks/google",
            method="POST",
            data=b"",
            headers={
                "X-Goog-Channel-ID": channel.id,
                "X-Goog-Channel-Token": channel.token or "",
                "X-Goog-Channel-Expiration": format_datetime(expires, usegmt=True),
                "X-Goog-Resource-ID": channel.resource_id,
                "X-Goog-Resource-URI": channel.resource_uri,
                "X-Goog-Resource-State": "exists",
                "X-Goog-Message-Number": str(int(time.time() * 1000)),
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def lease_owner(self) -> str | None:
        with session_scope(self.cluster.db_url) as s:
            return s.get(CalendarConnection, self.world.connection_id).lease_owner

    def events_listed(self, since: float) -> list[float]:
        """When the sandbox was asked for the pull calendar's events."""
        return [
            r.at
            for r in self.google.state.request_log()
            if r.method == "GET"
            and r.at >= since
            and r.path.endswith(f"{self.world.pull_cal}/events")
        ]


def _owner_pid(owner: str) -> int:
    return int(owner.split(":")[1])  # host:pid:nonce (sync.engine.default_owner)


def _log_in(browser, host: Host, coach: Coach) -> Page:
    page = browser.new_context().new_page()
    page.goto(f"{host.url}/login")
    expect(page.locator("#token")).not_to_have_value("", timeout=60_000)
    page.get_by_label("Email").fill(coach.world.coach_email)
    page.get_by_label("Password").fill("password-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome, Kim Coach")).to_be_visible()
    return page


def _open_booking(browser, host: Host, coach: Coach) -> Page:
    # A 24-hour locale: the booker picks its clock from the browser.
    page = browser.new_context(locale="en-GB").new_page()
    page.goto(f"{host.url}/book/{coach.world.slug}")
    expect(page.locator("#token")).not_to_have_value("", timeout=60_000)
    page.locator(f"#day-{coach.day.isoformat()}").click()
    return page


def test_pages_on_both_hosts_follow_every_change(cluster, google, browser):
    a, b = cluster.hosts
    coach = Coach(cluster, google)
    pages = [_open_booking(browser, a, coach)] + [
        _open_booking(browser, b, coach) for _ in range(2)
    ]

    def all_show(labels: list[str]) -> None:
        for page in pages:
            expect(page.locator("#slot-list button")).to_have_text(
                labels, timeout=15_000
            )

    all_show(["09:30", "10:00", "10:30", "11:00"])

    # The coach flips Check Calendar for Conflicts on host A.
    panel = _log_in(browser, a, coach)
    panel.goto(f"{a.url}/settings?tab=integrations")
    toggle = panel.get_by_role("switch", name="Check Calendar for Conflicts")
    expect(toggle).to_have_attribute("aria-checked", "true")
    toggle.click()
    expect(toggle).to_have_attribute("aria-checked", "false")
    all_show(["09:00", "09:30", "10:00", "10:30", "11:00"])
    toggle.click()
    expect(toggle).to_have_attribute("aria-checked", "true")
    all_show(["09:30", "10:00", "10:30", "11:00"])

    # A new busy event in Google; the notification reaches host A, whose
    # sync pulls it; the pages on host B follow.
    coach.busy("Stand-up", 11, 30)  # 11:30-12:00 leaves no room for 11:00
    coach.notify(a)
    all_show(["09:30", "10:00", "10:30"])

    # Another one, notified to host B: B syncs (the lease names a worker of
    # B while the slowed listing runs) and the page on A follows.
    (b_worker,) = b.worker_pids()
    google.state.inject_fault(
        "slow", 1, delay=1.5, path_prefix="/calendar/v3/calendars"
    )
    coach.busy("Call", 11, 0)  # 11:00-11:30 takes 10:30 too
    coach.notify(b)
    owners = set()
    deadline = time.monotonic() + 15
    while not owners and time.monotonic() < deadline:
        if owner := coach.lease_owner():
            owners.add(_owner_pid(owner))
        time.sleep(0.02)
    assert owners == {b_worker}
    all_show(["09:30", "10:00"])

    # The coach's calendar, open on host B, follows a booking made on A.
    calendar = _log_in(browser, b, coach)
    calendar.goto(f"{b.url}/calendar")
    monday = coach.day - dt.timedelta(days=coach.day.weekday())
    if monday > dt.datetime.now(UTC).date():
        calendar.get_by_role("button", name=re.compile("Next week")).click()
    day_column = calendar.locator(f'[data-day="{coach.day.isoformat()}"]').first
    expect(day_column).to_be_visible()
    expect(calendar.get_by_text("Ada Early")).to_have_count(0)

    # An invitee books 09:30 on host A: 10:00 overlaps it, nothing is left.
    first = pages[0]
    first.locator("#slot-list button", has_text="09:30").click()
    first.get_by_label("Your name").fill("Ada Early")
    first.get_by_label("Your email").fill("ada@example.com")
    first.get_by_role("button", name="Confirm booking").click()
    expect(first.locator("#confirmation")).to_be_visible()
    for page in pages[1:]:
        expect(page.locator("#slot-list button")).to_have_count(0, timeout=15_000)
    expect(calendar.get_by_text("Ada Early")).to_be_visible(timeout=15_000)
    for context in {p.context for p in [*pages, panel, calendar]}:
        context.close()


def test_each_connection_is_synced_by_one_host_at_a_time(cluster, google):
    a, b = cluster.hosts
    coach = Coach(cluster, google)
    delay = 0.8
    google.state.inject_fault(
        "slow", 1000, delay=delay, path_prefix="/calendar/v3/calendars"
    )
    owners: set[int] = set()
    watching = threading.Event()

    def watch_leases() -> None:
        while not watching.is_set():
            if owner := coach.lease_owner():
                owners.add(_owner_pid(owner))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch_leases)
    started = time.time()
    watcher.start()
    try:
        for round_ in range(6):
            # Both hosts hear of the change at once, in turn first.
            first, second = (a, b) if round_ % 2 == 0 else (b, a)
            coach.busy(f"Meeting {round_}", 9 + round_ // 2, 30 * (round_ % 2))
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                sent = [pool.submit(coach.notify, first)]
                time.sleep(0.05)
                sent.append(pool.submit(coach.notify, second))
                for future in sent:
                    future.result()
            coach.wait_synced(events=2 + round_, timeout=60)
    finally:
        watching.set()
        watcher.join()
        google.state.clear_faults()
    listed = sorted(coach.events_listed(started))
    assert len(listed) >= 6
    gaps = [later - earlier for earlier, later in zip(listed, listed[1:], strict=False)]
    # A listing takes `delay`: two syncs at once would start within it.
    assert min(gaps) >= delay - 0.05, gaps
    a_workers, b_workers = a.worker_pids(), b.worker_pids()
    assert owners & a_workers and owners & b_workers, (owners, a_workers, b_workers)


def test_twenty_bookings_of_one_slot_through_both_hosts_make_one(cluster, google):
    a, b = cluster.hosts
    coach = Coach(cluster, google)
    day = coach.day.isoformat()
    slot = coach.at(10, 0).isoformat()

    async def scenario() -> list[BookingPage]:
        pages = [
            BookingPage(host.url, coach.world.slug) for host in [a] * 10 + [b] * 10
        ]
        await asyncio.gather(*(p.open() for p in pages))
        await asyncio.gather(*(p.choose_day(day) for p in pages))
        await asyncio.gather(*(p.choose_slot(slot) for p in pages))
        await asyncio.gather(
            *(
                p.confirm(f"Invitee {i}", f"invitee{i}@example.com")
                for i, p in enumerate(pages)
            )
        )
        await asyncio.gather(*(p.close() for p in pages))
        return pages

    pages = _run(scenario())
    confirmed = [p for p in pages if p.booked]
    assert len(confirmed) == 1
    # The others lost: told at once, either by the booking transaction or,
    # if the live update came first, by the page dropping the taken slot.
    lost = {
        "Sorry, that time was just taken. Please pick another time.",
        "The time you picked is no longer available. Please pick another.",
    }
    assert all(p.state.get("notice") in lost for p in pages if p not in confirmed)
    with session_scope(cluster.db_url) as s:
        booked = s.exec(
            select(Appointment).where(Appointment.coach_id == coach.world.coach_id)
        ).all()
    assert [(x.start, x.status) for x in booked] == [(coach.at(10, 0), "confirmed")]

    # The confirmation is sent once, by whichever worker claims it.
    winner = f"To: invitee{pages.index(confirmed[0])}@example.com"
    mail = Path(cluster.env["COACH_APP_MAIL_DIR"])

    def to_invitees() -> list[str]:
        return [
            line
            for p in mail.glob("*.eml")
            for line in p.read_text(errors="replace").splitlines()
            if line.startswith("To: invitee")
        ]

    deadline = time.monotonic() + 60
    while winner not in to_invitees() and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(6)  # a second delivery round on every worker
    assert to_invitees() == [winner]


def test_the_production_start_runs_the_workers_it_was_asked_for(cluster):
    a, b = cluster.hosts
    assert len(a.worker_pids()) == 2
    assert len(b.worker_pids()) == 1
    for host in (a, b):
        status, body = host.health()
        assert status == 200 and body["status"] == "ok"
        assert body["redis"]["ok"] and body["redis"]["live_updates_subscribed"]
        assert body["sync_loop"]["ok"]
