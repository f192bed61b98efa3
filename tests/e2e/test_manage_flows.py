"""An invitee reschedules and cancels through the emailed manage link; the
coach's push calendar (Radicale) follows, the coach is emailed, and an open
booking page sees the old time reopen without a reload."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import re
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import AppointmentType, WorkingHours
from coach_app.services import auth, booking, schedule, signin

pytestmark = pytest.mark.e2e


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def _run(coro):
    # Playwright's sync API owns this thread's event loop: run async code aside.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class PushCalendar:
    """The coach's push calendar on Radicale, read as another client would."""

    def __init__(self, server, url: str) -> None:
        self.url = url
        self.client = httpx.Client(auth=(server.username, server.password), timeout=30)

    def starts(self) -> list[str]:
        r = self.client.request("PROPFIND", self.url, headers={"Depth": "1"})
        hrefs = sorted(set(re.findall(r"<[^>]*href>([^<]+\.ics)</", r.text)))
        bodies = [self.client.get(httpx.URL(self.url).join(h)).text for h in hrefs]
        return [m for b in bodies for m in re.findall(r"DTSTART:(\d{8}T\d{6}Z)", b)]

    def wait_for(self, expected: list[str], timeout: float = 60.0) -> None:
        """Until the push outbox (worked off by the app's sync loop) got there."""
        deadline = time.monotonic() + timeout
        while (seen := self.starts()) != expected and time.monotonic() < deadline:
            time.sleep(0.25)
        assert seen == expected


@pytest.fixture
def booked(caldav_server, app_db_url, coach_app_harness, smtp_inbox):
    """A coach pushing to Radicale, open 09:00-12:00 on one day, and Ada's
    10:00 booking, pushed, with her confirmation email."""
    tag = uuid.uuid4().hex[:8]
    push_url = f"{caldav_server.home_url}manage-push-{tag}/"
    admin = caldav_server.admin()
    admin.mkcalendar(push_url, f"Manage Push {tag}")
    admin.close()
    found = _run(
        signin.check_password(
            "caldav",
            {
                "server_url": caldav_server.base_url,
                "username": caldav_server.username,
                "password": caldav_server.password,
            },
        )
    )
    push_id = next(c.id for c in found.calendars if c.name == f"Manage Push {tag}")
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3)
    email, client = f"coach-{tag}@example.com", f"ada-{tag}@example.com"
    base = coach_app_harness.frontend_url.rstrip("/")
    with session_scope(app_db_url) as s:
        coach = auth.sign_up(s, email, "manage-password", f"Manage {tag}", "UTC")
        s.exec(sa.delete(WorkingHours).where(WorkingHours.coach_id == coach.id))
        schedule.set_override(s, coach.id, day, [(9 * 60, 12 * 60)])
        appt_type = s.exec(
            select(AppointmentType).where(AppointmentType.coach_id == coach.id)
        ).one()
        appt_type.min_notice_min = 0
        s.add(appt_type)
        signin.connect(s, coach.id, "caldav", found, [], push_id, True)
        s.flush()
        booking.book(
            s,
            slug=coach.slug,
            type_id=appt_type.id,
            start=dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC),
            name="Ada",
            email=client,
            base_url=base,
        )
        slug = coach.slug
    push = PushCalendar(caldav_server, push_url)
    push.wait_for([f"{day:%Y%m%d}T100000Z"])
    mail = smtp_inbox.wait_for(
        lambda m: m["To"] == client and m["Subject"].startswith("Confirmed")
    )
    link = re.search(r"To reschedule or cancel: (\S+)", _text(mail)).group(1)
    assert link.startswith(f"{base}/manage/")
    return {
        "day": day,
        "slug": slug,
        "push": push,
        "coach_email": email,
        "client": client,
        "path": link[len(base) :],
    }


def _open_booking_page(new_page, booked):
    page = new_page(f"/book/{booked['slug']}")
    day = booked["day"]
    page.locator(f"#day-{day.isoformat()}").click()
    return page.locator("#slot-list button")


def test_invitee_reschedules_through_the_emailed_link(new_page, booked, smtp_inbox):
    day = booked["day"]
    other_slots = _open_booking_page(new_page, booked)
    # Ada holds 10:00-11:00, so 09:30 and 10:30 do not fit either.
    expect(other_slots).to_have_text(["09:00", "11:00"])

    page = new_page(booked["path"])
    expect(page.get_by_role("main")).to_contain_text("10:00–11:00 (UTC)")
    page.get_by_role("link", name="Reschedule").click()
    expect(
        page.get_by_role("heading", name=re.compile("^Reschedule your session"))
    ).to_be_visible()
    page.locator(f"#day-{day.isoformat()}").click()
    page.locator("#slot-list button", has_text="11:00").click()
    page.get_by_role("button", name="Move appointment").click()
    expect(
        page.get_by_role("heading", name="Your appointment has moved")
    ).to_be_visible()

    # The old time reopened live on the other invitee's page; 11:00 is gone.
    expect(other_slots).to_have_text(["09:00", "09:30", "10:00"])
    booked["push"].wait_for([f"{day:%Y%m%d}T110000Z"])
    told = smtp_inbox.wait_for(
        lambda m: (
            m["To"] == booked["coach_email"] and "Rescheduled by Ada" in m["Subject"]
        )
    )
    assert "Was: " in _text(told)
    moved = smtp_inbox.wait_for(
        lambda m: m["To"] == booked["client"] and m["Subject"].startswith("Moved")
    )
    assert "/manage/" in _text(moved)


def test_invitee_cancels_through_the_emailed_link(new_page, booked, smtp_inbox):
    other_slots = _open_booking_page(new_page, booked)
    expect(other_slots).to_have_text(["09:00", "11:00"])

    page = new_page(booked["path"])
    page.get_by_role("button", name="Cancel appointment").click()
    page.get_by_role("button", name="Yes, cancel it").click()
    expect(page.locator("#manage-status")).to_have_text(
        "Your appointment is cancelled. A confirmation email is on its way."
    )
    expect(other_slots).to_have_text(["09:00", "09:30", "10:00", "10:30", "11:00"])
    booked["push"].wait_for([])
    smtp_inbox.wait_for(
        lambda m: (
            m["To"] == booked["coach_email"] and "Cancelled by Ada" in m["Subject"]
        )
    )
    # The link now only says so; it cannot cancel or move twice.
    again = new_page(booked["path"])
    expect(again.locator("#manage-status")).to_have_text(
        "This appointment was cancelled."
    )
    expect(again.get_by_role("button", name="Cancel appointment")).to_have_count(0)
