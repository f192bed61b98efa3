"""The Office 365 and Outlook.com wizards: consent on the (sandbox)
Microsoft page, two pull calendars and one push; Cancel on that page, a
forged ``state`` and a failing token endpoint each save nothing."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from coach_app.calendars.oauth import OAuthTokens
from coach_app.db import session_scope
from coach_app.models import CalendarConnection, SubCalendar
from coach_app.security.secrets import decrypt
from coach_app.services import auth, oauth_signin

pytestmark = pytest.mark.e2e

PRESETS = [
    ("office365", "Office 365", "work", "organizations"),
    ("outlook", "Outlook.com", "personal", "consumers"),
]


@pytest.fixture
def microsoft(microsoft_sandbox, coach_app_harness):
    frontend = coach_app_harness.frontend_url.rstrip("/")
    microsoft_sandbox.state.add_client(
        redirect_uris=[frontend + oauth_signin.callback_path(k) for k, *_ in PRESETS]
    )
    return microsoft_sandbox


def _account(sandbox, kind: str) -> tuple[str, dict[str, str]]:
    email = f"{kind}-{uuid.uuid4().hex[:6]}@contoso.example"
    sandbox.state.add_account(email, "Morgan Microsoft", kind=kind)
    ids = {"Calendar": sandbox.state.store.calendar_of(email.lower(), None).id}
    for name in ("Clients", "Coaching"):
        ids[name] = sandbox.state.add_calendar(email, name)
    ids["Holidays"] = sandbox.state.add_calendar(email, "Holidays", can_edit=False)
    return email, ids


def _coach(app_db_url: str) -> tuple[int, str]:
    email = f"ms-coach-{uuid.uuid4().hex[:6]}@example.com"
    with session_scope(app_db_url) as s:
        coach_id = auth.sign_up(s, email, "ms-pass-1", "M Coach", "UTC").id
    return coach_id, email  # type: ignore[return-value]


def _connections(app_db_url: str, coach_id: int) -> list[CalendarConnection]:
    with session_scope(app_db_url) as s:
        return list(
            s.exec(
                select(CalendarConnection).where(
                    CalendarConnection.coach_id == coach_id
                )
            ).all()
        )


def _to_consent(page: Page, label: str) -> None:
    page.goto("/".join(page.url.split("/", 3)[:3]) + "/settings?tab=integrations")
    page.get_by_role("button", name="Connect to Calendar").click()
    page.get_by_role("button", name=label, exact=True).click()
    page.get_by_text("I agree to the Terms of Service and Privacy Policy").click()
    page.get_by_role("button", name=f"Continue with {label}").click()
    expect(page.get_by_role("heading", name="Permissions requested")).to_be_visible()


@pytest.mark.parametrize(("key", "label", "kind", "tenant"), PRESETS)
def test_microsoft_wizard_connects_two_pull_calendars_and_one_push(
    microsoft, log_in, app_db_url, key, label, kind, tenant
):
    email, ids = _account(microsoft, kind)
    coach_id, coach_email = _coach(app_db_url)
    page = log_in(coach_email, "ms-pass-1")
    _to_consent(page, label)
    assert f"/{tenant}/oauth2/v2.0/authorize" in page.url
    page.get_by_label("Account").select_option(email)
    page.get_by_role("button", name="Allow").click()

    expect(page.locator("#connect-account")).to_have_text(f"{label} account: {email}")
    expect(page.get_by_label("Push to Holidays")).to_have_count(0)  # read-only
    for name in ("Calendar", "Clients"):
        page.get_by_label(f"Pull from {name}").click()
    page.get_by_label("Push to Coaching").click()
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Success! Your {label} calendar is now connected."
    )
    card = page.locator(".connection")
    expect(card.get_by_role("heading")).to_have_text(f"{label}: {email}")
    expect(card.locator(".pull-calendars")).to_have_text(
        "Pulling busy times from: Calendar, Clients"
    )
    expect(card.locator(".push-calendar")).to_have_text(
        "Pushing appointments to: Coaching"
    )

    [conn] = _connections(app_db_url, coach_id)
    assert (conn.provider, conn.account_label) == (key, email)
    tokens = OAuthTokens.from_json(decrypt(conn.secret_encrypted))
    assert tokens.refresh_token and tokens.refresh_token not in conn.secret_encrypted
    with session_scope(app_db_url) as s:
        subs = {
            c.remote_id: (c.pull, c.push)
            for c in s.exec(
                select(SubCalendar).where(SubCalendar.connection_id == conn.id)
            ).all()
        }
    assert subs == {
        ids["Calendar"]: (True, False),
        ids["Clients"]: (True, False),
        ids["Coaching"]: (False, True),
        ids["Holidays"]: (False, False),
    }


@pytest.mark.parametrize(("key", "label", "kind", "tenant"), PRESETS)
def test_microsoft_cancel_forged_state_and_failing_token_endpoint_save_nothing(
    microsoft, log_in, app_db_url, coach_app_harness, key, label, kind, tenant
):
    email, _ = _account(microsoft, kind)
    coach_id, coach_email = _coach(app_db_url)
    page = log_in(coach_email, "ms-pass-1")

    _to_consent(page, label)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("alert")).to_have_text(oauth_signin.denied_message(label))

    frontend = coach_app_harness.frontend_url.rstrip("/")
    page.goto(f"{frontend}{oauth_signin.callback_path(key)}?state=forged&code=stolen")
    expect(page.get_by_role("alert")).to_have_text(
        oauth_signin.invalid_link_message(label)
    )

    page.get_by_role("button", name="Back to Integrations").click()
    _to_consent(page, label)
    page.get_by_label("Account").select_option(email)
    microsoft.state.inject_fault(
        "server_error", 1, path_prefix=f"/{tenant}/oauth2/v2.0/token"
    )
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("alert")).to_have_text(
        oauth_signin.unreachable_message(label)
    )
    assert _connections(app_db_url, coach_id) == []
