"""Settings → Integrations passes axe-core (no serious or critical finding)
and fits 1280 px and 375 px wide screens, on every step of the wizard, a
connection's card, its Disconnect question and the OAuth return page."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid

import pytest
from playwright.sync_api import Page, expect

from coach_app.db import session_scope
from coach_app.services import auth, signin

from .page_checks import axe_serious, layout_problems

pytestmark = pytest.mark.e2e
WIDTHS = (1280, 375)


def _check(page: Page, what: str) -> list[str]:
    width = page.viewport_size["width"] if page.viewport_size else 0
    found = layout_problems(page) + axe_serious(page)
    return [f"{what} @{width}px: {p}" for p in found]


def _run(coro):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def connected_coach(caldav_server, app_db_url, google_sandbox) -> str:
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
    email = f"integrations-{uuid.uuid4().hex[:8]}@example.com"
    with session_scope(app_db_url) as s:
        coach = auth.sign_up(s, email, "quality-pass", "Ira Integrations", "UTC")
        ids = [c.id for c in found.calendars]
        signin.connect(s, coach.id, "caldav", found, ids[:1], ids[-1], True)  # type: ignore[arg-type]
    return email


def test_integrations_tab_and_every_wizard_step_at_both_widths(
    log_in, connected_coach, caldav_server
):
    page = log_in(connected_coach, "quality-pass")
    base = page.url.rstrip("/")
    problems: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(base + "/settings?tab=integrations")
        card = page.locator(".connection")
        expect(card).to_have_count(1)
        problems += _check(page, "card")

        card.get_by_role("button", name="Disconnect").click()
        expect(page.get_by_role("alertdialog")).to_be_visible()
        problems += _check(page, "disconnect question")
        page.get_by_role("button", name="Keep connected").click()

        card.get_by_role("button", name="Edit calendars").click()
        expect(card.get_by_role("button", name="Save calendars")).to_be_visible()
        problems += _check(page, "edit calendars")
        card.get_by_role("button", name="Close").click()

        page.get_by_role("button", name="Connect to Calendar").click()
        expect(page.get_by_text("Step 1 of 3")).to_be_visible()
        problems += _check(page, "wizard: service")

        page.get_by_role("button", name="Google", exact=True).click()
        expect(page.get_by_role("button", name="Continue with Google")).to_be_visible()
        problems += _check(page, "wizard: OAuth consent step")
        page.get_by_role("button", name="Back").click()

        page.get_by_role("button", name="iCloud", exact=True).click()
        expect(page.locator("#sign-in-help")).to_be_visible()
        problems += _check(page, "wizard: password step")
        page.get_by_label("Apple ID (email address)").fill(caldav_server.username)
        page.get_by_label("App-specific password").fill(caldav_server.password)
        page.get_by_text("I agree to the Terms of Service and Privacy Policy").click()
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_text("Step 3 of 3")).to_be_visible()
        problems += _check(page, "wizard: calendars step")
        page.get_by_role("button", name="Cancel").click()

        page.goto(base + "/oauth/google/callback?state=forged&code=x")
        expect(page.get_by_role("alert")).to_be_visible()
        problems += _check(page, "OAuth return page")
    assert problems == [], "\n".join(problems)
