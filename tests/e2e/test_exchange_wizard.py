"""The Exchange wizard against the EWS sandbox: a wrong password is refused
with nothing saved; Autodiscover fails, the coach types the server address
and connects two pull folders and one push folder; a booking reaches the
push folder, and deleting it there cancels it and emails the client. A coach
who knows the address can open its field before trying; on a server with
Basic turned off the wizard connects with NTLM."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import Appointment, AppointmentType, CalendarConnection
from coach_app.security.secrets import decrypt
from coach_app.services import auth, booking

pytestmark = pytest.mark.e2e

PASSWORD = "Exchange-Pass-1"


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("the condition did not become true in time")


def _sign_in(page: Page, email: str, password: str, server: str | None = None) -> None:
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    if server is not None:
        page.get_by_label("Exchange server address").fill(server)
    page.get_by_role("button", name="Continue").click()


def _coach_on_the_exchange_step(log_in, app_db_url: str, name: str) -> tuple[Page, int]:
    """A new coach, logged in, on the wizard's Exchange sign-in step with the
    terms agreed."""
    login = f"{name.lower()}-coach@example.com"
    with session_scope(app_db_url) as s:
        coach = auth.sign_up(s, login, f"{name.lower()}-pass", name, "UTC")
        coach_id = coach.id
    page = log_in(login, f"{name.lower()}-pass")
    page.goto(page.url.rstrip("/") + "/settings?tab=integrations")
    page.get_by_role("button", name="Connect to Calendar").click()
    page.get_by_role("button", name="Exchange", exact=True).click()
    page.get_by_text("I agree to the Terms of Service and Privacy Policy").click()
    assert coach_id is not None
    return page, coach_id


def _connections(app_db_url: str, coach_id: int) -> list[CalendarConnection]:
    with session_scope(app_db_url) as s:
        return list(
            s.exec(
                select(CalendarConnection).where(
                    CalendarConnection.coach_id == coach_id
                )
            ).all()
        )


def test_exchange_wizard_connects_after_autodiscover_fails_and_follows_the_push_folder(
    ews_sandbox, log_in, app_db_url, smtp_inbox
):
    email = "erin@corp.example"
    mailbox = ews_sandbox.state.add_user(email, PASSWORD, "Erin Exchange")
    mailbox.create_folder("Clients")
    mailbox.create_folder("Coaching")
    page, coach_id = _coach_on_the_exchange_step(log_in, app_db_url, "Erin")
    expect(page.locator("#sign-in-help")).to_contain_text("Outlook on the web")

    # Email and password only: the server address waits until it is needed.
    expect(page.get_by_label("Exchange server address")).to_have_count(0)
    expect(page.get_by_role("button", name="I know my server address")).to_be_visible()
    # Autodiscover finds nothing here, so the coach is asked for the address
    # and told where to find it; the field appears, focused.
    _sign_in(page, email, PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text(
        "could not find your Exchange server automatically"
    )
    expect(page.get_by_label("Exchange server address")).to_be_focused()
    # A wrong password, with the address typed: refused, nothing saved.
    _sign_in(page, email, "not-the-password", ews_sandbox.base_url)
    expect(page.get_by_role("alert")).to_contain_text("did not accept")
    assert _connections(app_db_url, coach_id) == []

    # The host is enough: the EWS path is completed.
    _sign_in(page, email, PASSWORD, ews_sandbox.base_url)
    expect(page.locator("#connect-account")).to_have_text(f"Exchange account: {email}")
    for label in ("Pull from Calendar", "Pull from Clients"):
        page.get_by_label(label).click()
        expect(page.get_by_label(label)).to_have_attribute("aria-checked", "true")
    page.get_by_label("Push to Coaching").click()
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(
        "Success! Your Exchange calendar is now connected."
    )
    card = page.locator(".connection")
    expect(card.locator(".pull-calendars")).to_have_text(
        "Pulling busy times from: Calendar, Clients"
    )
    expect(card.locator(".push-calendar")).to_have_text(
        "Pushing appointments to: Coaching"
    )
    [conn] = _connections(app_db_url, coach_id)
    assert conn.provider == "exchange"
    assert conn.server_url == ews_sandbox.ews_url
    assert PASSWORD not in conn.secret_encrypted
    assert decrypt(conn.secret_encrypted) == PASSWORD

    # A booking: the appointment appears in the push folder.
    start = dt.datetime.now(dt.UTC).replace(
        minute=0, second=0, microsecond=0
    ) + dt.timedelta(days=3)
    start = start.replace(hour=10)
    with session_scope(app_db_url) as s:
        type_id = s.exec(
            select(AppointmentType.id).where(AppointmentType.coach_id == coach_id)
        ).one()
        appointment = booking.create_by_coach(
            s,
            coach_id,  # type: ignore[arg-type]
            type_id=type_id,  # type: ignore[arg-type]
            start=start,
            client_name="Cleo Client",
            client_email="cleo@example.com",
        )
        appointment_id = appointment.id
    coaching = mailbox.folder("Coaching")
    [item] = _wait_for(lambda: list(coaching.items.values()))
    assert "Cleo Client" in item.subject
    assert item.start == start

    # Deleted in Outlook: the next sync cancels it here and emails the client.
    mailbox.delete_item(item.id)
    before = int(card.get_attribute("data-syncs-finished") or "0")
    card.locator(".sync-now").click()
    expect(card).to_have_attribute("data-syncs-finished", str(before + 1))
    with session_scope(app_db_url) as s:
        assert s.get(Appointment, appointment_id).status == "cancelled"  # type: ignore[union-attr]
    smtp_inbox.wait_for(
        lambda m: m["To"] == "cleo@example.com" and "ancel" in m["Subject"]
    )


def test_a_coach_who_knows_the_server_address_can_type_it_first(
    ews_ntlm_sandbox, log_in, app_db_url
):
    """On a server that takes only NTLM (Basic turned off): a wrong password
    is refused with nothing saved; the right one connects with NTLM."""
    email = "ezra@corp.example"
    ews_ntlm_sandbox.state.add_user(email, PASSWORD, "Ezra Exchange")
    page, coach_id = _coach_on_the_exchange_step(log_in, app_db_url, "Ezra")

    page.get_by_role("button", name="I know my server address").click()
    expect(page.get_by_label("Exchange server address")).to_be_focused()
    _sign_in(page, email, "not-the-password", ews_ntlm_sandbox.base_url)
    expect(page.get_by_role("alert")).to_contain_text("did not accept")
    assert _connections(app_db_url, coach_id) == []
    _sign_in(page, email, PASSWORD, ews_ntlm_sandbox.base_url)
    expect(page.locator("#connect-account")).to_have_text(f"Exchange account: {email}")
    page.get_by_label("Pull from Calendar").click()
    page.get_by_label("Push to Calendar").click()
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(
        "Success! Your Exchange calendar is now connected."
    )
    [conn] = _connections(app_db_url, coach_id)
    assert (conn.server_url, conn.server_profile) == (
        ews_ntlm_sandbox.ews_url,
        "ntlm",
    )
    assert ews_ntlm_sandbox.state.auth.handshakes > 0
