"""The coach's week grid: create by clicking an empty time (with the conflict
warning over busy time), see details, cancel from them."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import Appointment, Client

from .live_seed import seed_live_coach

pytestmark = pytest.mark.e2e


def _week_of(coach, day: dt.date) -> None:
    today = dt.datetime.now(dt.UTC).date()
    monday = today - dt.timedelta(days=today.weekday())
    for _ in range((day - monday).days // 7):
        coach.get_by_role("button", name="Next week").click()


def _create_at(coach, column, time: str, name: str, email: str) -> None:
    slot = column.locator(f'.empty-slot[data-time="{time}"]')
    # At the right edge: a box over this time leaves that strip free.
    slot.click(position={"x": slot.bounding_box()["width"] - 3, "y": 3})
    dialog = coach.get_by_role("dialog", name="New appointment")
    expect(dialog.get_by_label("Time")).to_have_value(time)
    dialog.get_by_label("Client name").fill(name)
    dialog.get_by_label("Client email").fill(email)
    dialog.get_by_role("button", name="Create appointment").click()


def test_coach_creates_from_the_grid_and_cancels_from_the_details(log_in, app_db_url):
    seeded = seed_live_coach(app_db_url, "grid@example.com", "Greta Grid")
    day = seeded["day"]
    coach = log_in("grid@example.com", "live-password")
    coach.goto(coach.url.rstrip("/") + "/calendar")
    _week_of(coach, day)
    column = coach.locator(f'.cal-day[data-day="{day.isoformat()}"]')
    busy = column.locator(".cal-external.busy", has_text="Dentist")
    expect(busy).to_contain_text("Busy · CalDAV · Work")

    # An empty time: created at once, placed by its time.
    _create_at(coach, column, "10:00", "Nina New", "nina@example.com")
    expect(coach.get_by_role("status")).to_have_text(
        re.compile("Appointment created; the client has been emailed.")
    )
    nina = column.locator(".cal-appointment", has_text="Nina New")
    expect(nina).to_contain_text("10:00–11:00")
    dentist_box, nina_box = busy.bounding_box(), nina.bounding_box()
    assert nina_box["y"] > dentist_box["y"] + dentist_box["height"]
    assert nina_box["height"] == pytest.approx(2 * dentist_box["height"], rel=0.1)

    # Over the busy Dentist: the conflict warning first, then Save anyway.
    _create_at(coach, column, "09:00", "Otto Over", "otto@example.com")
    dialog = coach.get_by_role("dialog", name="New appointment")
    expect(dialog.get_by_role("alert")).to_contain_text("overlaps “Dentist”")
    dialog.get_by_role("button", name="Save anyway").click()
    otto = column.locator(".cal-appointment", has_text="Otto Over")
    expect(otto).to_be_visible()
    # Overlapping boxes sit side by side.
    otto_box, dentist_box = otto.bounding_box(), busy.bounding_box()
    assert otto_box["x"] != dentist_box["x"]
    assert otto_box["width"] < column.bounding_box()["width"] * 0.6

    # Reschedule from the details: the form starts at the current time.
    otto.click()
    details = coach.get_by_role("dialog", name="Otto Over")
    details.get_by_role("button", name="Reschedule").click()
    expect(details.get_by_label("Time")).to_have_value("09:00")
    details.get_by_label("Time").fill("11:00")
    details.get_by_role("button", name="Move appointment").click()
    expect(coach.get_by_role("status")).to_have_text(
        re.compile("Appointment rescheduled; the client has been emailed.")
    )
    expect(otto).to_contain_text("11:00–12:00")

    nina.click()
    details = coach.get_by_role("dialog", name="Nina New")
    expect(details).to_contain_text("nina@example.com")
    details.get_by_role("button", name="Cancel appointment").click()
    details.get_by_role("button", name="Yes, cancel it").click()
    expect(coach.get_by_role("status")).to_have_text(
        re.compile("Appointment cancelled; the client has been emailed.")
    )
    expect(column.locator(".cal-appointment", has_text="Nina New")).to_have_count(0)
    with session_scope(app_db_url) as s:
        statuses = dict(
            s.exec(
                select(Client.name, Appointment.status)
                .join(Client, Client.id == Appointment.client_id)
                .where(Appointment.coach_id == seeded["coach_id"])
            ).all()
        )
    assert statuses == {"Nina New": "cancelled", "Otto Over": "confirmed"}


def test_now_line_shows_in_todays_column(log_in, app_db_url):
    seed_live_coach(app_db_url, "now@example.com", "Noa Now")
    coach = log_in("now@example.com", "live-password")
    coach.goto(coach.url.rstrip("/") + "/calendar")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    expect(coach.locator(f'.cal-day[data-day="{today}"] .now-line')).to_have_count(1)
    expect(coach.locator(".now-line")).to_have_count(1)


def test_day_view_and_busy_free_details(log_in, app_db_url):
    seeded = seed_live_coach(app_db_url, "dayview@example.com", "Dai View")
    day = seeded["day"]
    coach = log_in("dayview@example.com", "live-password")
    coach.goto(coach.url.rstrip("/") + "/calendar")
    _week_of(coach, day)
    coach.get_by_role(
        "button", name=f"Show {day:%A} {day.day} {day:%B} {day.year}"
    ).click()
    expect(coach.locator(".cal-day")).to_have_count(1)
    expect(coach.locator("#range-title")).to_have_text(
        f"{day:%A} {day.day} {day:%B} {day.year}"
    )
    coach.locator(".cal-external", has_text="Dentist").click()
    details = coach.get_by_role("dialog", name="Dentist")
    expect(details).to_contain_text("From CalDAV · Work")
    expect(details.get_by_role("button", name="Cancel appointment")).to_have_count(0)
