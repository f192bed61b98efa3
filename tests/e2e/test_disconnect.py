"""Disconnect asks first, and removes the appointments Coach App pushed to
the calendar only when the coach ticks that (against Radicale)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import AppointmentType, CalendarConnection
from coach_app.services import auth, booking, signin

pytestmark = pytest.mark.e2e


def _run(coro):
    # Playwright's sync API owns this thread's event loop: run async code aside.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _events(client: httpx.Client, calendar: str) -> list[str]:
    found = client.request("PROPFIND", calendar, headers={"Depth": "1"})
    return sorted(set(re.findall(r"<[^>]*href>([^<]+\.ics)</", found.text)))


def _coach_with_a_pushed_appointment(caldav_server, app_db_url, tag: str):
    push = f"{caldav_server.home_url}disconnect-{tag}/"
    admin = caldav_server.admin()
    admin.mkcalendar(push, f"Disconnect {tag}")
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
    push_id = next(c.id for c in found.calendars if c.name == f"Disconnect {tag}")
    email = f"disconnect-{tag}@example.com"
    start = dt.datetime.now(dt.UTC).replace(
        minute=0, second=0, microsecond=0
    ) + dt.timedelta(days=2)
    with session_scope(app_db_url) as s:
        coach = auth.sign_up(s, email, "disconnect-pw", f"Dee {tag}", "UTC")
        type_id = s.exec(
            select(AppointmentType.id).where(AppointmentType.coach_id == coach.id)
        ).one()
        booking.create_by_coach(
            s,
            coach.id,  # type: ignore[arg-type]
            type_id=type_id,  # type: ignore[arg-type]
            start=start,
            client_name="Pat Pushed",
            client_email=f"pat-{tag}@example.com",
        )
        signin.connect(s, coach.id, "caldav", found, [], push_id, True)  # type: ignore[arg-type]
        coach_id = coach.id
    return email, push, coach_id


@pytest.mark.parametrize("remove", [True, False], ids=["removed", "kept"])
def test_disconnect_removes_pushed_appointments_only_when_asked(
    caldav_server, app_db_url, log_in, remove
):
    tag = uuid.uuid4().hex[:8]
    email, push, coach_id = _coach_with_a_pushed_appointment(
        caldav_server, app_db_url, tag
    )
    client = httpx.Client(
        auth=(caldav_server.username, caldav_server.password), timeout=30
    )
    page = log_in(email, "disconnect-pw")
    page.goto(page.url.rstrip("/") + "/settings?tab=integrations")
    card = page.locator(".connection")
    expect(card).to_have_count(1)
    before = int(card.get_attribute("data-syncs-finished") or "0")
    card.locator(".sync-now").click()
    expect(card).to_have_attribute("data-syncs-finished", str(before + 1))
    assert len(_events(client, push)) == 1  # the appointment was pushed

    card.get_by_role("button", name="Disconnect").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Disconnect CalDAV")
    # Changing one's mind keeps everything.
    dialog.get_by_role("button", name="Keep connected").click()
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    expect(card).to_have_count(1)

    card.get_by_role("button", name="Disconnect").click()
    if remove:
        dialog.get_by_text("Also remove the appointments").click()
    dialog.get_by_role("button", name="Disconnect").click()
    expect(page.get_by_text("No calendar is connected yet.")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Calendar disconnected.")

    assert len(_events(client, push)) == (0 if remove else 1)
    with session_scope(app_db_url) as s:
        assert (
            s.exec(
                select(CalendarConnection).where(
                    CalendarConnection.coach_id == coach_id
                )
            ).all()
            == []
        )
