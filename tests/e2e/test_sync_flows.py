"""The product's calendar flows end to end, against Radicale on loopback.

A coach's account on Radicale has a pull calendar and a push calendar. The
coach presses Sync now in the browser; invitee pages are open meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import re
import uuid

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import Appointment, AppointmentType, Client, WorkingHours
from coach_app.services import auth, schedule, signin

pytestmark = pytest.mark.e2e


def _ics(
    uid: str, summary: str, start: dt.datetime, minutes: int, extra: str = ""
) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    end = start + dt.timedelta(minutes=minutes)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Other Client//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        f"DTSTART:{start:{fmt}}",
        f"DTEND:{end:{fmt}}",
        f"SUMMARY:{summary}",
        *([extra] if extra else []),
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(lines)


class Account:
    """The coach's external calendars, driven as another client would."""

    def __init__(self, server, tag: str) -> None:
        self.server = server
        self.client = httpx.Client(auth=(server.username, server.password), timeout=30)
        self.work = f"{server.home_url}flow-work-{tag}/"
        self.push = f"{server.home_url}flow-push-{tag}/"
        admin = server.admin()
        admin.mkcalendar(self.work, f"Flow Work {tag}")
        admin.mkcalendar(self.push, f"Flow Push {tag}")
        admin.close()

    def put(self, url: str, body: str) -> None:
        r = self.client.put(
            url, content=body, headers={"Content-Type": "text/calendar"}
        )
        assert r.status_code in (201, 204), r.text

    def pushed(self) -> list[tuple[str, str]]:
        r = self.client.request("PROPFIND", self.push, headers={"Depth": "1"})
        hrefs = sorted(set(re.findall(r"<[^>]*href>([^<]+\.ics)</", r.text)))
        base = httpx.URL(self.push)
        return [(h, self.client.get(base.join(h)).text) for h in hrefs]


def _run(coro):
    # Playwright's sync API owns this thread's event loop: run async code aside.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def world(caldav_server, app_db_url, log_in, new_page):
    tag = uuid.uuid4().hex[:8]
    account = Account(caldav_server, tag)
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3)
    email = f"flow-{tag}@example.com"
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
    ids = {c.name: c.id for c in found.calendars}
    with session_scope(app_db_url) as s:
        coach = auth.sign_up(s, email, "flow-password", f"Flow {tag}", "UTC")
        s.exec(sa.delete(WorkingHours).where(WorkingHours.coach_id == coach.id))
        schedule.set_override(s, coach.id, day, [(9 * 60, 12 * 60)])
        t = s.exec(
            select(AppointmentType).where(AppointmentType.coach_id == coach.id)
        ).one()
        t.min_notice_min = 0
        s.add(t)
        signin.connect(
            s,
            coach.id,
            "caldav",
            found,
            [ids[f"Flow Work {tag}"]],
            ids[f"Flow Push {tag}"],
            True,
        )
        slug = coach.slug
    coach_page = log_in(email, "flow-password")
    coach_page.goto(coach_page.url.rstrip("/") + "/settings?tab=integrations")
    expect(coach_page.locator(".connection")).to_have_count(1)

    def sync_now() -> None:
        card = coach_page.locator(".connection")
        before = int(card.get_attribute("data-syncs-finished") or "0")
        coach_page.locator(".sync-now").click()
        expect(card).to_have_attribute(
            "data-syncs-finished", str(before + 1), timeout=30_000
        )

    def invitee():
        page = new_page(f"/book/{slug}")
        page.locator(f"#day-{day.isoformat()}").click()
        return page

    return {
        "account": account,
        "day": day,
        "coach": coach_page,
        "sync_now": sync_now,
        "invitee": invitee,
        "nine": dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC),
        "slug": slug,
    }


def _book(page, time_label: str, name: str, email: str) -> None:
    page.locator("#slot-list button", has_text=time_label).click()
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Your email").fill(email)
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.locator("#confirmation")).to_be_visible()


def test_external_busy_and_free_events_reach_calendar_and_open_booking_page(world):
    acc, nine, coach = world["account"], world["nine"], world["coach"]
    invitee = world["invitee"]()
    slots = invitee.locator("#slot-list button")
    expect(slots).to_have_text(["09:00", "09:30", "10:00", "10:30", "11:00"])

    acc.put(acc.work + "dentist.ics", _ics("dentist", "Dentist", nine, 30))
    acc.put(
        acc.work + "gym.ics",
        _ics("gym", "Gym", nine + dt.timedelta(hours=1), 60, "TRANSP:TRANSPARENT"),
    )
    world["sync_now"]()
    # Busy 09:00-09:30 hides 09:00; the free event hides nothing.
    expect(slots).to_have_text(["09:30", "10:00", "10:30", "11:00"])

    toggle = coach.get_by_role("switch", name="Check Calendar for Conflicts")
    toggle.click()
    expect(slots).to_have_text(["09:00", "09:30", "10:00", "10:30", "11:00"])
    toggle.click()
    expect(slots).to_have_text(["09:30", "10:00", "10:30", "11:00"])

    coach.goto(coach.url.split("/settings")[0] + "/calendar")
    today = dt.datetime.now(dt.UTC).date()
    for _ in range(
        (world["day"] - (today - dt.timedelta(days=today.weekday()))).days // 7
    ):
        coach.get_by_role("button", name="Next week").click()
    day_column = coach.locator(f'.cal-day[data-day="{world["day"].isoformat()}"]')
    expect(day_column.locator(".cal-external", has_text="Dentist")).to_contain_text(
        "Busy"
    )
    expect(day_column.locator(".cal-external", has_text="Gym")).to_contain_text("Free")


def test_booking_is_pushed_and_external_deletion_cancels_and_emails(
    world, smtp_inbox, app_db_url
):
    acc = world["account"]
    _book(world["invitee"](), "11:00", "Della Deleted", "della@example.com")
    world["sync_now"]()
    pushed = acc.pushed()
    assert len(pushed) == 1
    href, body = pushed[0]
    assert "Coaching session with Della Deleted" in body.replace("\r\n ", "")

    acc.client.delete(httpx.URL(acc.push).join(href))
    world["sync_now"]()
    with session_scope(app_db_url) as s:
        appt = s.exec(
            select(Appointment)
            .join(Client, Client.id == Appointment.client_id)
            .where(Client.email == "della@example.com")
        ).one()
    assert appt.status == "cancelled"
    mail = smtp_inbox.wait_for(
        lambda m: m["To"] == "della@example.com" and "ancel" in m["Subject"]
    )
    assert "invite.ics" in [p.get_filename() for p in mail.iter_attachments()]


def test_external_move_of_a_pushed_appointment_is_reverted(world, app_db_url):
    acc, nine = world["account"], world["nine"]
    _book(world["invitee"](), "10:00", "Molly Moved", "molly@example.com")
    world["sync_now"]()
    [(href, body)] = acc.pushed()
    assert "DTSTART:" + f"{nine + dt.timedelta(hours=1):%Y%m%dT%H%M%SZ}" in body

    moved_start = (nine + dt.timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")
    moved_end = (nine + dt.timedelta(hours=3)).strftime("%Y%m%dT%H%M%SZ")
    moved = re.sub(r"DTSTART:\d{8}T\d{6}Z", f"DTSTART:{moved_start}", body)
    moved = re.sub(r"DTEND:\d{8}T\d{6}Z", f"DTEND:{moved_end}", moved)
    acc.put(str(httpx.URL(acc.push).join(href)), moved)
    world["sync_now"]()

    [(_, restored)] = acc.pushed()
    assert f"DTSTART:{nine + dt.timedelta(hours=1):%Y%m%dT%H%M%SZ}" in restored
    expect(world["coach"].locator(".notice", has_text="Molly Moved")).to_contain_text(
        "changes made there are undone. Reschedule in Coach App."
    )
