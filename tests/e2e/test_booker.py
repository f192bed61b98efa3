"""The booking page by keyboard alone, its clock and zone, and refused links."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import Appointment, AppointmentType, Client
from coach_app.notify import links
from coach_app.services import booking, manage, schedule

from .live_seed import seed_live_coach

pytestmark = pytest.mark.e2e


def _focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id") or ""


def test_invitee_books_using_the_keyboard_only(new_page, app_db_url, smtp_inbox):
    seeded = seed_live_coach(app_db_url, "keys@example.com", "Kay Keys")
    first, later = seeded["day"], seeded["day"] + dt.timedelta(days=7)
    with session_scope(app_db_url) as s:
        schedule.set_override(s, seeded["coach_id"], later, [(14 * 60, 16 * 60)])
    page = new_page(f"/book/{seeded['slug']}")
    expect(page.locator("#slot-list button").first).to_be_visible()

    # Tab from the top of the page to the month grid (one tab stop).
    for _ in range(15):
        page.keyboard.press("Tab")
        if _focused_id(page).startswith("day-"):
            break
    expect(page.locator(f"#day-{first.isoformat()}")).to_be_focused()

    # Arrows move by a day and a week (crossing into the next month if need be).
    page.keyboard.press("ArrowRight")
    expect(
        page.locator(f"#day-{(first + dt.timedelta(days=1)).isoformat()}")
    ).to_be_focused()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowDown")
    target = page.locator(f"#day-{later.isoformat()}")
    expect(target).to_be_focused()
    page.keyboard.press("Enter")
    expect(target).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#slot-list button")).to_have_text(["14:00", "14:30", "15:00"])

    # From the grid, Tab reaches the day's times.
    page.keyboard.press("Tab")
    expect(page.locator("#slot-list button").first).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # 14:30
    expect(page.get_by_label("Your name")).to_be_focused()
    page.keyboard.type("Kim Keyboard")
    page.keyboard.press("Tab")
    page.keyboard.type("kim.keys@example.com")
    page.keyboard.press("Enter")
    done = page.locator("#confirmation")
    expect(done).to_contain_text("Coaching session with Kay Keys")
    expect(page.locator("#done-heading")).to_be_focused()
    # The summary replaces the picker; Add to calendar and the manage link.
    expect(page.locator(".month-grid")).to_have_count(0)
    google = page.locator("#google-calendar-link").get_attribute("href") or ""
    start = dt.datetime.combine(later, dt.time(14, 30), tzinfo=dt.UTC)
    assert google.startswith("https://calendar.google.com/calendar/render?")
    assert f"{start:%Y%m%dT%H%M%SZ}" in google
    with page.expect_download() as download:
        page.get_by_role("button", name="Download .ics file").click()
    ics = Path(download.value.path()).read_text(encoding="utf-8")
    assert f"DTSTART:{start:%Y%m%dT%H%M%SZ}" in ics

    with session_scope(app_db_url) as s:
        booked = s.exec(
            select(Appointment)
            .join(Client, Client.id == Appointment.client_id)
            .where(Client.email == "kim.keys@example.com")
        ).one()
    assert booked.start == start
    manage_href = page.locator("#manage-link").get_attribute("href") or ""
    mail = smtp_inbox.wait_for(
        lambda m: (
            m["To"] == "kim.keys@example.com" and m["Subject"].startswith("Confirmed")
        )
    )
    assert manage_href in mail.get_body(("plain",)).get_content()


def test_twelve_hour_clock_and_zone_search_relabel_the_times(new_page, app_db_url):
    seeded = seed_live_coach(app_db_url, "clock@example.com", "Cleo Clock")
    page = new_page(f"/book/{seeded['slug']}")
    slots = page.locator("#slot-list button")
    expect(slots).to_have_text(["09:30", "10:00", "10:30", "11:00"])
    page.get_by_role("switch", name="12-hour clock").click()
    expect(slots).to_have_text(["9:30 am", "10:00 am", "10:30 am", "11:00 am"])
    zone = page.get_by_label("Time zone")
    zone.fill("asia/kathmandu")  # any case; +05:45
    expect(zone).to_have_value("Asia/Kathmandu")
    expect(slots).to_have_text(["3:15 pm", "3:45 pm", "4:15 pm", "4:45 pm"])
    zone.fill("Mars/Olympus")
    zone.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("is not a time zone we know")
    expect(slots).to_have_text(["3:15 pm", "3:45 pm", "4:15 pm", "4:45 pm"])


def test_altered_or_expired_manage_link_is_refused_in_plain_words(new_page, app_db_url):
    seeded = seed_live_coach(app_db_url, "refuse@example.com", "Ray Refuse")
    start = dt.datetime.combine(seeded["day"], dt.time(10), tzinfo=dt.UTC)
    with session_scope(app_db_url) as s:
        type_id = s.exec(
            select(AppointmentType.id).where(
                AppointmentType.coach_id == seeded["coach_id"]
            )
        ).one()
        done = booking.book(
            s,
            slug=seeded["slug"],
            type_id=type_id,
            start=start,
            name="Tess",
            email="tess@example.com",
        )
        appt = s.get(Appointment, done.appointment_id)
        token = links.manage_token(appt)
        expired = links.manage_token(
            appt, expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        )
    payload, expiry, signature = token.split(".")
    tampered = f"{payload}.{int(expiry) + 86400}.{signature}"
    for bad, message in (
        (tampered, manage.INVALID),
        (expired, manage.EXPIRED),
        (f"/book/{seeded['slug']}?reschedule={tampered}", manage.INVALID),
    ):
        path = bad if bad.startswith("/") else f"/manage/{bad}"
        page = new_page(path)
        expect(
            page.get_by_role("heading", name="This link does not work")
        ).to_be_visible()
        expect(page.locator("#link-error")).to_have_text(message)
        expect(page.get_by_role("button", name="Cancel appointment")).to_have_count(0)
    with session_scope(app_db_url) as s:
        assert s.get(Appointment, done.appointment_id).status == "confirmed"
