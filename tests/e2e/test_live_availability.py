"""Open booking pages follow every change without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .live_seed import seed_live_coach

pytestmark = pytest.mark.e2e


def _open_day(page, day) -> None:
    page.locator(f"#day-{day.isoformat()}").click()


def test_conflict_toggle_and_a_booking_change_open_pages_live(
    new_page, log_in, app_db_url
):
    seeded = seed_live_coach(app_db_url, "live@example.com", "Liv Live")
    invitee = new_page(f"/book/{seeded['slug']}")
    slots = invitee.locator("#slot-list button")
    _open_day(invitee, seeded["day"])
    expect(slots).to_have_text(["09:30", "10:00", "10:30", "11:00"])

    coach = log_in("live@example.com", "live-password")
    coach.goto(coach.url.rstrip("/") + "/settings?tab=integrations")
    toggle = coach.get_by_role("switch", name="Check Calendar for Conflicts")
    expect(toggle).to_have_attribute("aria-checked", "true")

    toggle.click()
    expect(toggle).to_have_attribute("aria-checked", "false")
    expect(slots).to_have_text(["09:00", "09:30", "10:00", "10:30", "11:00"])

    toggle.click()
    expect(toggle).to_have_attribute("aria-checked", "true")
    expect(slots).to_have_text(["09:30", "10:00", "10:30", "11:00"])

    other = new_page(f"/book/{seeded['slug']}")
    _open_day(other, seeded["day"])
    other.locator("#slot-list button", has_text="10:00").click()
    other.get_by_label("Your name").fill("Otto Other")
    other.get_by_label("Your email").fill("otto@example.com")
    other.get_by_role("button", name="Confirm booking").click()
    expect(other.locator("#confirmation")).to_be_visible()

    # 10:00-11:00 is taken: 09:30 and 10:30 overlap it, 11:00 still fits.
    expect(slots).to_have_text(["11:00"])


def test_selected_slot_taken_meanwhile_shows_a_notice(new_page, app_db_url):
    seeded = seed_live_coach(app_db_url, "race@example.com", "Rae Race")
    first = new_page(f"/book/{seeded['slug']}")
    _open_day(first, seeded["day"])
    first.locator("#slot-list button", has_text="10:30").click()
    expect(first.get_by_label("Your name")).to_be_visible()

    second = new_page(f"/book/{seeded['slug']}")
    _open_day(second, seeded["day"])
    second.locator("#slot-list button", has_text="10:30").click()
    second.get_by_label("Your name").fill("Quick Quinn")
    second.get_by_label("Your email").fill("quinn@example.com")
    second.get_by_role("button", name="Confirm booking").click()
    expect(second.locator("#confirmation")).to_be_visible()

    expect(first.get_by_role("alert")).to_have_text(
        "The time you picked is no longer available. Please pick another."
    )
    expect(first.get_by_label("Your name")).to_have_count(0)
    expect(first.locator("#slot-list button")).to_have_text(["09:30"])


def test_one_change_is_computed_once_however_many_pages_are_open(
    new_page, log_in, app_db_url
):
    from coach_app import live

    seeded = seed_live_coach(app_db_url, "share@example.com", "Sha Red")
    pages = [new_page(f"/book/{seeded['slug']}") for _ in range(4)]
    for page in pages:
        _open_day(page, seeded["day"])
        expect(page.locator("#slot-list button")).to_have_text(
            ["09:30", "10:00", "10:30", "11:00"]
        )
    coach = log_in("share@example.com", "live-password")
    coach.goto(coach.url.rstrip("/") + "/settings?tab=integrations")
    toggle = coach.get_by_role("switch", name="Check Calendar for Conflicts")
    expect(toggle).to_have_attribute("aria-checked", "true")
    before = live.recompute_count.get(seeded["coach_id"], 0)
    toggle.click()
    for page in pages:
        expect(page.locator("#slot-list button")).to_have_text(
            ["09:00", "09:30", "10:00", "10:30", "11:00"]
        )
    assert live.recompute_count.get(seeded["coach_id"], 0) - before == 1
