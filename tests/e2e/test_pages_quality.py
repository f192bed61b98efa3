"""Every page we own passes axe-core (no serious or critical finding) and
fits 1280 px and 375 px wide screens: no sideways scrolling, no button cut
off. Settings → Integrations is held by its own tests."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import Appointment, AppointmentType
from coach_app.notify import links
from coach_app.services import booking, schedule

from .live_seed import seed_live_coach
from .page_checks import axe_serious, layout_problems

pytestmark = pytest.mark.e2e
WIDTHS = (1280, 375)


def _check(page: Page, what: str, *, axe: bool = True) -> list[str]:
    width = page.viewport_size["width"] if page.viewport_size else 0
    found = [f"{what} @{width}px: {p}" for p in layout_problems(page)]
    if axe:
        found += [f"{what} @{width}px: {p}" for p in axe_serious(page)]
    return found


@pytest.fixture
def coach(app_db_url) -> dict:
    email = f"quality-{uuid.uuid4().hex[:8]}@example.com"
    seeded = seed_live_coach(app_db_url, email, "Quinn Quality")
    day = seeded["day"]
    with session_scope(app_db_url) as s:
        schedule.set_override(s, seeded["coach_id"], day, [(9 * 60, 17 * 60)])
        appt_type = s.exec(
            select(AppointmentType).where(
                AppointmentType.coach_id == seeded["coach_id"]
            )
        ).one()
        appt_type.description = "An hour on your goals, by video call."
        s.add(appt_type)
        done = booking.book(
            s,
            slug=seeded["slug"],
            type_id=appt_type.id,
            start=dt.datetime.combine(day, dt.time(11), tzinfo=dt.UTC),
            name="Ivy Invitee",
            email="ivy@example.com",
        )
        seeded["token"] = links.manage_token(s.get(Appointment, done.appointment_id))
    return seeded


def test_public_pages_and_every_booking_step(new_page, coach):
    problems: list[str] = []
    for path, what in (
        ("/signup", "sign-up"),
        ("/login", "log-in"),
        ("/terms", "terms"),
        ("/privacy", "privacy"),
    ):
        page = new_page(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        problems += _check(page, what)
    for width in WIDTHS:
        page = new_page(
            f"/book/{coach['slug']}", viewport={"width": width, "height": 800}
        )
        expect(page.locator("#slot-list button").first).to_be_visible()
        problems += _check(page, "booking: pick")
        page.locator("#slot-list button").first.click()
        expect(page.get_by_label("Your name")).to_be_visible()
        problems += _check(page, "booking: details")
        page.get_by_label("Your name").fill(f"Wes {width}")
        page.get_by_label("Your email").fill(f"wes{width}@example.com")
        page.get_by_role("button", name="Confirm booking").click()
        expect(page.locator("#confirmation")).to_be_visible()
        problems += _check(page, "booking: done")
        # The booking page keeps no cookie (as the privacy policy says).
        assert page.context.cookies() == []

        manage = new_page(
            f"/manage/{coach['token']}", viewport={"width": width, "height": 800}
        )
        expect(manage.get_by_role("button", name="Cancel appointment")).to_be_visible()
        problems += _check(manage, "manage")
        manage.get_by_role("link", name="Reschedule").click()
        expect(manage.locator("#slot-list button").first).to_be_visible()
        problems += _check(manage, "booking: reschedule")
        manage.locator("#slot-list button").first.click()
        expect(manage.get_by_role("button", name="Move appointment")).to_be_visible()
        problems += _check(manage, "booking: confirm move")
    refused = new_page(f"/manage/{coach['token']}x")
    expect(refused.locator("#link-error")).to_be_visible()
    problems += _check(refused, "refused link")
    assert problems == [], "\n".join(problems)


def test_coach_pages_at_both_widths(log_in, coach):
    page = log_in(coach["email"], "live-password")
    base = page.url.rstrip("/")
    problems: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(base + "/")
        expect(
            page.get_by_role("heading", name="Welcome, Quinn Quality")
        ).to_be_visible()
        problems += _check(page, "home")

        page.goto(base + "/calendar")
        expect(page.locator(".cal-day").first).to_be_visible()
        if width == 375:  # a phone opens on the day view
            expect(page.locator(".cal-day")).to_have_count(1)
            problems += _check(page, "calendar: day")
            page.get_by_role("radio", name="Week").click()
        expect(page.locator(".cal-day")).to_have_count(7)
        problems += _check(page, "calendar: week")
        page.locator(".cal-day .empty-slot").first.click()
        expect(page.get_by_role("dialog", name="New appointment")).to_be_visible()
        problems += _check(page, "calendar: new appointment")
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog")).to_have_count(0)

        page.goto(base + "/settings")
        for tab in ("Profile", "Working hours", "Appointment types"):
            page.get_by_role("tab", name=tab).click()
            expect(page.get_by_role("tab", name=tab)).to_have_attribute(
                "aria-selected", "true"
            )
            problems += _check(page, f"settings: {tab}")
    assert problems == [], "\n".join(problems)
