"""The Google wizard: consent on (sandbox) Google's page, two pull calendars,
one push; and the ways a sign-in must fail (denied, forged, replayed, Google
down) with a plain message and nothing saved."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect
from sqlmodel import select

from coach_app.calendars.google import GOOGLE_SPEC
from coach_app.calendars.oauth import OAuthTokens
from coach_app.db import session_scope
from coach_app.models import CalendarConnection, SubCalendar
from coach_app.security.secrets import decrypt
from coach_app.services import auth, oauth_signin
from coach_app.services.errors import UserError
from sandbox.google import GoogleSandbox

pytestmark = pytest.mark.e2e

SWITCHES = (
    "Check Calendar for Conflicts",
    "Push Events to Connected Calendar",
    "Pull Events to Coach Calendar",
    "Cancellation Notification",
)
GOOGLE_CALLBACK_PATH = oauth_signin.callback_path("google")
INVALID = oauth_signin.invalid_link_message("Google")


def _google_user(sandbox: GoogleSandbox, email: str, name: str) -> dict[str, str]:
    state = sandbox.state
    state.add_user(email, name, time_zone="Europe/Berlin")
    ids = {n: state.add_calendar(email, n) for n in ("Work", "Family", "Coaching")}
    owner = f"rota-{email}"
    state.add_user(owner, "Team")
    ids["Team rota"] = state.add_calendar(owner, "Team rota")
    state.share_calendar(ids["Team rota"], email, "reader")
    return ids


def _coach(app_db_url: str, email: str) -> int:
    with session_scope(app_db_url) as s:
        return auth.sign_up(s, email, "google-pass", "G Coach", "Europe/Berlin").id


def _connections(app_db_url: str, coach_id: int) -> list[CalendarConnection]:
    with session_scope(app_db_url) as s:
        return list(
            s.exec(
                select(CalendarConnection).where(
                    CalendarConnection.coach_id == coach_id
                )
            ).all()
        )


def _to_google(page: Page, sandbox: GoogleSandbox) -> None:
    """Settings → Integrations → Connect → Google → terms → Continue with Google.
    (The profile menu itself is covered by test_accounts.)"""
    page.goto("/".join(page.url.split("/", 3)[:3]) + "/settings")
    page.get_by_role("tab", name="Integrations").click()
    page.get_by_role("button", name="Connect to Calendar").click()
    page.get_by_role("button", name="Google", exact=True).click()
    page.get_by_role("button", name="Continue with Google").click()
    expect(page.get_by_role("alert")).to_contain_text("agree to the Terms of Service")
    page.get_by_text("I agree to the Terms of Service and Privacy Policy").click()
    page.get_by_role("button", name="Continue with Google").click()
    page.wait_for_url(lambda url: url.startswith(sandbox.auth_url + "?"))


def test_google_wizard_connects_two_pull_calendars_and_one_push(
    new_page, log_in, google_sandbox, coach_app_harness, app_db_url
):
    email = "gale@example.com"
    ids = _google_user(google_sandbox, email, "Gale Coach")
    coach_id = _coach(app_db_url, "gcoach@example.com")
    page = log_in("gcoach@example.com", "google-pass")
    frames: list[str] = []
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))),
    )
    visited: list[str] = []
    page.on("framenavigated", lambda f: visited.append(f.url))

    _to_google(page, google_sandbox)
    # Google's consent page: who asks, for what, for which account.
    expect(
        page.get_by_text("Coach App wants to access your Google Account")
    ).to_be_visible()
    for access in (
        "See and download any calendar you can access",
        "View and edit events on all your calendars",
    ):
        expect(page.get_by_label(access)).to_be_checked()
    account = page.get_by_label("Account")
    expect(account.locator("option", has_text=f"Gale Coach <{email}>")).to_have_count(1)
    account.select_option(email)
    query = parse_qs(urlsplit(page.url).query)
    redirect_uri = coach_app_harness.frontend_url.rstrip("/") + GOOGLE_CALLBACK_PATH
    assert query["redirect_uri"] == [redirect_uri]
    assert query["code_challenge_method"] == ["S256"]
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    assert len(query["state"][0]) >= 32 and "code_verifier" not in query
    page.get_by_role("button", name="Allow").click()

    # Back in the app, at the wizard's calendars step.
    expect(page.locator("#connect-account")).to_have_text(f"Google account: {email}")
    assert re.search(r"/settings\?tab=integrations$", page.url)
    expect(page.get_by_label("Push to Team rota")).to_have_count(0)
    for label in ("Pull from Work", "Pull from Family"):
        page.get_by_label(label).click()
        expect(page.get_by_label(label)).to_have_attribute("aria-checked", "true")
    page.get_by_label("Push to Coaching").click()
    expect(page.get_by_label("Push to Coaching")).to_be_checked()
    page.get_by_role("button", name="Connect", exact=True).click()

    expect(page.get_by_role("status")).to_have_text(
        "Success! Your Google calendar is now connected. The first sync has started."
    )
    card = page.locator(".connection")
    expect(card).to_have_count(1)
    expect(card.get_by_role("heading")).to_have_text(f"Google: {email}")
    expect(card.locator(".pull-calendars")).to_have_text(
        "Pulling busy times from: Family, Work"
    )
    expect(card.locator(".push-calendar")).to_have_text(
        "Pushing appointments to: Coaching"
    )
    for name in SWITCHES:
        expect(card.get_by_role("switch", name=name)).to_have_attribute(
            "aria-checked", "true"
        )

    [conn] = _connections(app_db_url, coach_id)
    assert conn.provider == "google"
    with session_scope(app_db_url) as s:
        subs = {
            c.name: (c.remote_id, c.pull, c.push)
            for c in s.exec(
                select(SubCalendar).where(SubCalendar.connection_id == conn.id)
            ).all()
        }
    assert (conn.username, conn.account_label, conn.server_url) == (email, email, "")
    tokens = OAuthTokens.from_json(decrypt(conn.secret_encrypted))
    assert tokens.refresh_token and tokens.refresh_token not in conn.secret_encrypted
    assert any(
        g.refresh_token == tokens.refresh_token and g.email == email
        for g in google_sandbox.state.grants.values()
    )
    assert subs == {
        email: (email, False, False),
        "Work": (ids["Work"], True, False),
        "Family": (ids["Family"], True, False),
        "Coaching": (ids["Coaching"], False, True),
        "Team rota": (ids["Team rota"], False, False),
    }
    # Tokens never travelled to the browser.
    seen = "".join(str(f) for f in frames)
    assert tokens.access_token not in seen and tokens.refresh_token not in seen

    # The callback link is one use: loading it again is refused.
    callback = next(u for u in visited if GOOGLE_CALLBACK_PATH in u)
    page.goto(callback)
    expect(page.get_by_role("alert")).to_have_text(INVALID)
    assert len(_connections(app_db_url, coach_id)) == 1

    # Leave the shared database as found: Disconnect.
    page.get_by_role("button", name="Back to Integrations").click()
    page.locator(".connection").get_by_role("button", name="Disconnect").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Disconnect").click()
    expect(page.get_by_text("No calendar is connected yet.")).to_be_visible()
    assert _connections(app_db_url, coach_id) == []


def test_google_denied_forged_and_down_save_nothing(
    new_page, log_in, google_sandbox, coach_app_harness, app_db_url
):
    email = "dora@example.com"
    _google_user(google_sandbox, email, "Dora Denied")
    coach_id = _coach(app_db_url, "dcoach@example.com")
    page = log_in("dcoach@example.com", "google-pass")

    # Cancel on Google's page.
    _to_google(page, google_sandbox)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "You did not allow access to your Google calendar"
    )

    # A callback this browser did not start (forged state) is refused…
    frontend = coach_app_harness.frontend_url.rstrip("/")
    page.goto(f"{frontend}{GOOGLE_CALLBACK_PATH}?state=forged-state&code=4/stolen")
    expect(page.get_by_role("alert")).to_have_text(INVALID)

    # …and so is a genuine one delivered into another browser (login CSRF).
    page.get_by_role("button", name="Back to Integrations").click()

    # Google's answer to Allow is caught before this browser follows it.
    stolen: list[str] = []

    def is_consent(url: str) -> bool:
        return url.startswith(google_sandbox.base_url + "/o/oauth2/v2/auth/consent")

    def catch(route: Route) -> None:
        answer = route.fetch(max_redirects=0)
        stolen.append(answer.headers["location"])
        route.fulfill(status=200, body="caught", content_type="text/plain")

    page.route(is_consent, catch)
    _to_google(page, google_sandbox)
    page.get_by_label("Account").select_option(email)
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_text("caught")).to_be_visible()
    page.unroute(is_consent)
    assert GOOGLE_CALLBACK_PATH in stolen[0] and "code=" in stolen[0]
    other_id = _coach(app_db_url, "other@example.com")
    other = log_in("other@example.com", "google-pass")
    other.goto(stolen[0])
    expect(other.get_by_role("alert")).to_have_text(INVALID)

    # The genuine browser still may use it: Google's token endpoint is down
    # now, which gives a plain message and saves nothing.
    google_sandbox.state.inject_fault("server_error", 1, path_prefix="/token")
    page.goto(stolen[0])
    expect(page.get_by_role("alert")).to_have_text(
        oauth_signin.unreachable_message("Google")
    )

    assert _connections(app_db_url, coach_id) == []
    assert _connections(app_db_url, other_id) == []


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("http://localhost:3000", "http://localhost:3000/oauth/google/callback"),
        (
            "https://coach.example.com/",
            "https://coach.example.com/oauth/google/callback",
        ),
        ("https://evil.example.com/x?y#z", None),
        ("javascript://x", None),
        ("https://user@coach.example.com", None),
        ("", None),
    ],
)
def test_redirect_uri_is_the_exact_origin(monkeypatch, origin, expected):
    monkeypatch.delenv("COACH_APP_PUBLIC_URL", raising=False)
    if expected is None:
        with pytest.raises(UserError):
            oauth_signin.redirect_uri("google", origin)
    else:
        assert oauth_signin.redirect_uri("google", origin) == expected
    monkeypatch.setenv("COACH_APP_PUBLIC_URL", "https://app.example.org/")
    assert (
        oauth_signin.redirect_uri("google", origin)
        == "https://app.example.org/oauth/google/callback"
    )


async def _consent(
    sandbox: GoogleSandbox, url: str, email: str, scopes: list[str]
) -> dict[str, str]:
    """Allow on the consent page without a browser; the callback's parameters."""
    async with httpx.AsyncClient(trust_env=False) as client:
        page = await client.get(url)
        request_id = re.search(r'name="request_id" value="([^"]+)"', page.text)
        assert request_id is not None
        answer = await client.post(
            sandbox.base_url + "/o/oauth2/v2/auth/consent",
            data={
                "request_id": request_id.group(1),
                "decision": "allow",
                "account": email,
                "scope": scopes,
            },
        )
    assert answer.status_code == 302
    return dict(parse_qsl(urlsplit(answer.headers["location"]).query))


def test_used_code_and_missing_permission_are_plain_messages(
    google_sandbox: GoogleSandbox,
):
    """invalid_grant (a code used twice) and an unticked permission: a plain
    message, and a grant we will not keep is revoked at Google."""
    # In a thread: Playwright's sync API may hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(
            asyncio.run, _used_code_and_missing_permission(google_sandbox)
        ).result()


async def _used_code_and_missing_permission(google_sandbox: GoogleSandbox) -> None:
    origin = "http://127.0.0.1:9"
    google_sandbox.state.add_client(
        google_sandbox.client_id,
        google_sandbox.client_secret,
        [origin + GOOGLE_CALLBACK_PATH],
    )
    email = google_sandbox.state.add_user("ivy@example.com", "Ivy")
    scopes = list(GOOGLE_SPEC.oauth.config().scopes)

    url, sign_in = await oauth_signin.begin("google", 7, origin)
    params = await _consent(google_sandbox, url, email, scopes)
    found = await oauth_signin.finish(sign_in, params)
    tokens = OAuthTokens.from_json(found.credentials.secret)
    assert found.label == email and tokens.refresh_token
    with pytest.raises(UserError) as used:
        await oauth_signin.finish(sign_in, params)
    assert str(used.value) == oauth_signin.expired_code_message("Google")

    url, sign_in = await oauth_signin.begin("google", 7, origin)
    params = await _consent(google_sandbox, url, email, scopes[:1])
    before = {g.id for g in google_sandbox.state.grants.values()}
    with pytest.raises(UserError) as partial:
        await oauth_signin.finish(sign_in, params)
    assert str(partial.value) == oauth_signin.scopes_message("Google")
    [new_grant] = [
        g for g in google_sandbox.state.grants.values() if g.id not in before
    ]
    assert new_grant.revoked

    with pytest.raises(UserError) as forged:
        await oauth_signin.finish(sign_in, {**params, "state": "forged"})
    assert str(forged.value) == INVALID
