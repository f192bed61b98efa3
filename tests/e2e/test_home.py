"""The coach's home: the full booking link (Copy, Open), upcoming
appointments, calendar health and notices that can be dismissed."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import AppointmentType, CalendarConnection, CoachNotice
from coach_app.services import booking

from .live_seed import seed_live_coach

pytestmark = pytest.mark.e2e


def test_home_shows_link_upcoming_health_and_dismissible_notices(new_page, app_db_url):
    seeded = seed_live_coach(app_db_url, "home@example.com", "Hana Home")
    with session_scope(app_db_url) as s:
        type_id = s.exec(
            select(AppointmentType.id).where(
                AppointmentType.coach_id == seeded["coach_id"]
            )
        ).one()
        booking.book(
            s,
            slug=seeded["slug"],
            type_id=type_id,
            start=dt.datetime.combine(seeded["day"], dt.time(10), tzinfo=dt.UTC),
            name="Una Upcoming",
            email="una@example.com",
        )
        for text in ("First notice.", "Second notice."):
            s.add(CoachNotice(coach_id=seeded["coach_id"], message=text))
        # As after a failed sync (the seeded server is a closed port).
        conn = s.exec(
            select(CalendarConnection).where(
                CalendarConnection.coach_id == seeded["coach_id"]
            )
        ).one()
        conn.status, conn.last_error = "error", "The calendar server did not answer."
        s.add(conn)

    page = new_page("/login", permissions=["clipboard-read", "clipboard-write"])
    page.get_by_label("Email").fill("home@example.com")
    page.get_by_label("Password").fill("live-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome, Hana Home")).to_be_visible()

    origin = page.url.split("/", 3)[:3]
    url = "/".join(origin) + f"/book/{seeded['slug']}"
    expect(page.locator("#booking-url")).to_have_text(url)
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("status").filter(has_text="Link copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == url
    expect(page.get_by_role("link", name="Open booking page")).to_have_attribute(
        "href", url
    )

    day = seeded["day"]
    expect(page.locator(".upcoming")).to_have_text(
        [f"{day:%a} {day.day} {day:%b}, 10:00–11:00Una Upcoming · Coaching session"]
    )
    health = page.locator(".health")
    expect(health).to_contain_text("Seeded account")
    expect(health).to_contain_text("Sync problem")
    expect(health).to_contain_text("Last sync:")
    expect(page.locator(".health-error")).not_to_have_count(0)

    notices = page.locator("#coach-notices .notice")
    expect(notices).to_have_count(2)
    notices.filter(has_text="First notice.").get_by_role(
        "button", name="Dismiss this notice"
    ).click()
    expect(notices).to_have_text([re.compile("Second notice.")])
    page.reload()
    expect(notices).to_have_text([re.compile("Second notice.")])
    notices.get_by_role("button", name="Dismiss this notice").click()
    expect(page.locator("#coach-notices")).to_have_count(0)
