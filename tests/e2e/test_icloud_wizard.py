"""The iCloud wizard: app-specific password, two pull calendars, one push."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import CalendarConnection, SubCalendar
from coach_app.security.secrets import decrypt
from coach_app.services import auth

pytestmark = pytest.mark.e2e

SWITCHES = (
    "Check Calendar for Conflicts",
    "Push Events to Connected Calendar",
    "Pull Events to Coach Calendar",
    "Cancellation Notification",
)


def test_icloud_wizard_connects_two_pull_calendars_and_one_push(
    new_page, log_in, caldav_server, app_db_url
):
    with session_scope(app_db_url) as s:
        coach_id = auth.sign_up(
            s, "wiz@example.com", "wizard-pass", "Wiz Coach", "Europe/Paris"
        ).id
    # Other tests of the session connect calendars too: look at this coach's.
    mine = select(CalendarConnection).where(CalendarConnection.coach_id == coach_id)
    page = log_in("wiz@example.com", "wizard-pass")
    page.get_by_role("button", name="Your Profile").click()
    page.get_by_role("menuitem", name="My Settings").click()
    page.get_by_role("tab", name="Integrations").click()
    expect(page.get_by_text("No calendar is connected yet.")).to_be_visible()

    page.get_by_role("button", name="Connect to Calendar").click()
    expect(page.get_by_role("button", name="Office 365 (coming soon)")).to_be_disabled()
    page.get_by_role("button", name="iCloud", exact=True).click()

    help_box = page.locator("#sign-in-help")
    expect(help_box).to_contain_text("not your Apple ID password")
    expect(help_box.locator("ol > li")).to_have_count(4)  # numbered steps
    expect(help_box).to_contain_text("App-Specific Passwords")
    expect(
        page.get_by_role("link", name="Open your Apple Account page")
    ).to_have_attribute("href", "https://account.apple.com")

    page.get_by_label("Apple ID (email address)").fill(caldav_server.username)
    page.get_by_label("App-specific password").fill("not-the-right-one")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("agree to the Terms of Service")

    page.get_by_text("I agree to the Terms of Service and Privacy Policy").click()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "app-specific password was rejected"
    )
    with session_scope(app_db_url) as s:
        assert s.exec(mine).all() == []

    page.get_by_label("App-specific password").fill(caldav_server.password)
    page.get_by_role("button", name="Continue").click()
    # The choice round-trips through the server, so click and wait for the state.
    for label in ("Pull from Work", "Pull from Family"):
        page.get_by_label(label).click()
        expect(page.get_by_label(label)).to_have_attribute("aria-checked", "true")
    page.get_by_label("Push to Personal").click()
    expect(page.get_by_label("Push to Personal")).to_be_checked()
    page.get_by_role("button", name="Connect", exact=True).click()

    expect(page.get_by_role("status")).to_have_text(
        "Success! Your iCloud calendar is now connected. The first sync has started."
    )
    card = page.locator(".connection")
    expect(card).to_have_count(1)
    expect(card.locator(".pull-calendars")).to_have_text(
        "Pulling busy times from: Family, Work"
    )
    expect(card.locator(".push-calendar")).to_have_text(
        "Pushing appointments to: Personal"
    )
    for name in SWITCHES:
        expect(card.get_by_role("switch", name=name)).to_have_attribute(
            "aria-checked", "true"
        )
    # The first sync started on Connect; the card follows it without a reload
    # or a Sync now, and then shows its real last and next sync.
    expect(card.locator(".sync-times")).not_to_contain_text("not yet", timeout=30_000)
    expect(card.locator(".sync-progress")).to_have_count(0)

    with session_scope(app_db_url) as s:
        conn = s.exec(mine).one()
        rows = s.exec(select(SubCalendar).where(SubCalendar.connection_id == conn.id))
        subs = {c.name: (c.pull, c.push) for c in rows.all()}
    assert conn.provider == "icloud"
    assert caldav_server.password not in conn.secret_encrypted
    assert decrypt(conn.secret_encrypted) == caldav_server.password
    chosen = {name: flags for name, flags in subs.items() if any(flags)}
    assert chosen == {
        "Work": (True, False),
        "Family": (True, False),
        "Personal": (False, True),
    }
    # Every calendar of the account is kept (the shared server has others,
    # made by other tests): none of them pulled or pushed to.
    assert {"Work", "Family", "Personal"} <= set(subs)
