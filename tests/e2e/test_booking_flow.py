"""An invitee books; emails arrive; the coach sees and cancels the appointment."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import icalendar
import pytest
from playwright.sync_api import expect
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import Appointment, Client
from coach_app.services import auth

pytestmark = pytest.mark.e2e
INVITEE_ZONE = "Asia/Kathmandu"  # UTC+5:45


def _ics(message) -> icalendar.Calendar:
    parts = [p for p in message.iter_attachments() if p.get_filename() == "invite.ics"]
    assert len(parts) == 1
    return icalendar.Calendar.from_ical(parts[0].get_content())


def test_invitee_books_coach_sees_it_and_cancelling_emails_client(
    new_page, log_in, smtp_inbox, app_db_url
):
    with session_scope(app_db_url) as s:
        rita = auth.sign_up(
            s, "rita@example.com", "rita-password", "Rita Booker", "UTC"
        )
        rita_id = rita.id

    page = new_page("/book/rita-booker", timezone_id=INVITEE_ZONE)
    expect(
        page.get_by_role("heading", name="Book a session with Rita Booker")
    ).to_be_visible()
    expect(page.locator("#invitee-timezone")).to_have_value(INVITEE_ZONE)
    first_slot = page.locator("#slot-list button").first
    expect(first_slot).to_be_visible()
    slot_time = first_slot.inner_text()
    first_slot.click()
    page.get_by_label("Your name").fill("Ivy Invitee")
    page.get_by_label("Your email").fill("ivy@example.com")
    page.get_by_role("button", name="Confirm booking").click()
    expect(page.locator("#confirmation")).to_contain_text(
        "Coaching session with Rita Booker"
    )

    with session_scope(app_db_url) as s:
        appt = s.exec(
            select(Appointment)
            .join(Client, Client.id == Appointment.client_id)
            .where(
                Appointment.coach_id == rita_id,
                Appointment.status == "confirmed",
                Client.email == "ivy@example.com",
            )
        ).one()
    local = appt.start.astimezone(ZoneInfo(INVITEE_ZONE))
    assert f"{local:%H:%M}" == slot_time

    confirmation = smtp_inbox.wait_for(
        lambda m: (
            m["To"] == "ivy@example.com"
            and m["Subject"].startswith("Confirmed: Coaching session with Rita Booker")
        )
    )
    event = _ics(confirmation).walk("VEVENT")[0]
    assert event.decoded("DTSTART") == appt.start
    assert event.decoded("DTEND") == appt.end

    coach = log_in("rita@example.com", "rita-password")
    coach.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Calendar"
    ).click()
    expect(coach.get_by_role("heading", name="Calendar", exact=True)).to_be_visible()
    today = dt.datetime.now(dt.UTC).date()
    weeks_ahead = (
        appt.start.date() - (today - dt.timedelta(days=today.weekday()))
    ).days // 7
    for _ in range(weeks_ahead):
        coach.get_by_role("button", name="Next week").click()
    event = coach.locator(".cal-appointment", has_text="Ivy Invitee")
    expect(event).to_contain_text(f"{appt.start:%H:%M}")
    event.click()
    details = coach.get_by_role("dialog")
    expect(details).to_contain_text("ivy@example.com")
    details.get_by_role("button", name="Cancel appointment").click()
    details.get_by_role("button", name="Yes, cancel it").click()
    expect(coach.get_by_role("status")).to_have_text(
        re.compile("Appointment cancelled; the client has been emailed.")
    )
    expect(coach.locator(".cal-appointment", has_text="Ivy Invitee")).to_have_count(0)

    cancellation = smtp_inbox.wait_for(
        lambda m: (
            m["To"] == "ivy@example.com"
            and m["Subject"].startswith("Cancelled: Coaching session with Rita Booker")
        )
    )
    assert _ics(cancellation)["METHOD"] == "CANCEL"
