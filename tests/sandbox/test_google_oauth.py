"""The sandbox's OAuth 2.0 server, driven the way a browser and the app do:
the app's own helpers (authlib) build the consent URL and trade the code, and
httpx "clicks" through the consent page by submitting its form."""

from __future__ import annotations

import html.parser
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest
import pytest_asyncio

from coach_app.calendars import AuthError
from coach_app.calendars.google import GoogleProvider, oauth_config
from coach_app.calendars.oauth import (
    OAuthConfig,
    code_from_callback,
    exchange_code,
    refresh_access_token,
    revoke_token,
    start_authorization,
)
from coach_app.services import oauth_signin
from sandbox.google import GoogleSandbox, start_google_sandbox

pytestmark = pytest.mark.asyncio

REDIRECT = "http://127.0.0.1:3000/oauth/google/callback"
EVENTS_SCOPE = "https://www.googleapis.com/auth/calendar.events"


class _Form(html.parser.HTMLParser):
    """The consent page's form: its action, fields and buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: list[tuple[str, str]] = []
        self.buttons: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input" and (a.get("type") == "hidden" or "checked" in a):
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a["value"]))
        elif tag == "button":
            self.buttons[a["value"]] = a["name"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


@pytest.fixture(scope="module")
def google() -> Iterator[GoogleSandbox]:
    sandbox = start_google_sandbox(redirect_uris=[REDIRECT])
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def config(google: GoogleSandbox) -> OAuthConfig:
    return oauth_config(google.env())


@pytest.fixture
def email(google: GoogleSandbox) -> str:
    google.state.add_user("someone-else@example.com")
    return google.state.add_user(f"coach-{uuid.uuid4().hex[:8]}@example.com")


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        yield client


async def consent(
    browser: httpx.AsyncClient,
    url: str,
    *,
    decision: str = "allow",
    untick: tuple[str, ...] = (),
) -> dict[str, str]:
    """Open the consent page, submit its form, return the redirect's query."""
    page = await browser.get(url)
    assert page.status_code == 200, page.text
    form = _Form()
    form.feed(page.text)
    fields = [(k, v) for k, v in form.fields if not (k == "scope" and v in untick)]
    fields.append((form.buttons[decision], decision))
    answer = await browser.post(
        urljoin(url, form.action),
        content=urlencode(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def test_code_and_pkce_flow_through_the_consent_page_gives_working_tokens(
    google: GoogleSandbox, config: OAuthConfig, email: str, browser: httpx.AsyncClient
) -> None:
    request = await start_authorization(config, REDIRECT, login_hint=email)
    query = parse_qs(urlsplit(request.url).query)
    assert {k: v[0] for k, v in query.items() if k != "code_challenge"} == {
        "response_type": "code",
        "client_id": google.client_id,
        "redirect_uri": REDIRECT,
        "scope": " ".join(config.scopes),
        "state": request.state,
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
        "login_hint": email,
    }
    assert len(query["code_challenge"][0]) == 43

    callback = await consent(browser, request.url)
    code = code_from_callback(callback, request.state)
    tokens = await exchange_code(
        config, code=code, redirect_uri=REDIRECT, code_verifier=request.code_verifier
    )

    assert tokens.refresh_token and tokens.access_token
    assert set(tokens.scope.split()) == set(config.scopes)
    async with GoogleProvider(
        tokens.access_token, api_base=google.api_base
    ) as provider:
        assert (await provider.discover()).principal_url == email  # login_hint chose it
    with pytest.raises(AuthError):  # a code works once
        await exchange_code(
            config,
            code=code,
            redirect_uri=REDIRECT,
            code_verifier=request.code_verifier,
        )


async def test_a_wrong_code_verifier_is_invalid_grant(
    google: GoogleSandbox, config: OAuthConfig, email: str, browser: httpx.AsyncClient
) -> None:
    request = await start_authorization(config, REDIRECT, login_hint=email)
    code = (await consent(browser, request.url))["code"]
    response = await browser.post(
        google.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": "x" * 64,
            "client_id": google.client_id,
            "client_secret": google.client_secret,
        },
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid code verifier.",
    }
    with pytest.raises(AuthError) as caught:  # the app's helper says the same
        await exchange_code(
            config, code=code, redirect_uri=REDIRECT, code_verifier="y" * 64
        )
    assert "invalid_grant" in str(caught.value)


async def test_a_redirect_uri_that_is_not_registered_is_refused_without_redirecting(
    google: GoogleSandbox, config: OAuthConfig, email: str, browser: httpx.AsyncClient
) -> None:
    for wrong in (
        REDIRECT + "/",
        "http://127.0.0.1:3000/oauth/google/callback?x=1",
        "http://evil.example/callback",
    ):
        request = await start_authorization(config, wrong)
        page = await browser.get(request.url)
        assert page.status_code == 400
        assert "location" not in page.headers
        assert "redirect_uri_mismatch" in page.text

    # The token endpoint insists on the redirect URI the code was issued for.
    request = await start_authorization(config, REDIRECT, login_hint=email)
    code = (await consent(browser, request.url))["code"]
    response = await browser.post(
        google.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:3000/other",
            "code_verifier": request.code_verifier,
        },
        auth=(google.client_id, google.client_secret),
    )
    assert (response.status_code, response.json()["error"]) == (
        400,
        "redirect_uri_mismatch",
    )


async def test_unknown_client_and_wrong_secret_are_refused(
    google: GoogleSandbox, config: OAuthConfig, browser: httpx.AsyncClient
) -> None:
    other = replace(
        config, client_id="nobody.apps.googleusercontent.com", client_secret="x"
    )
    page = await browser.get((await start_authorization(other, REDIRECT)).url)
    assert page.status_code == 401 and "invalid_client" in page.text
    response = await browser.post(
        google.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "1//x"},
        auth=(google.client_id, "wrong-secret"),
    )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


async def test_cancel_on_the_consent_page_comes_back_as_access_denied(
    config: OAuthConfig, email: str, browser: httpx.AsyncClient
) -> None:
    request = await start_authorization(config, REDIRECT, login_hint=email)
    callback = await consent(browser, request.url, decision="deny")
    assert callback == {"error": "access_denied", "state": request.state}
    with pytest.raises(AuthError):
        code_from_callback(callback, request.state)
    assert "did not allow access" in (
        oauth_signin.callback_error("google", callback) or ""
    )


async def test_a_callback_with_a_foreign_state_is_rejected(
    config: OAuthConfig, email: str, browser: httpx.AsyncClient
) -> None:
    request = await start_authorization(config, REDIRECT, login_hint=email)
    callback = await consent(browser, request.url)
    with pytest.raises(AuthError):
        code_from_callback(callback, "some-other-state")


async def test_unticking_a_scope_grants_less(
    google: GoogleSandbox, config: OAuthConfig, email: str, browser: httpx.AsyncClient
) -> None:
    request = await start_authorization(config, REDIRECT, login_hint=email)
    callback = await consent(browser, request.url, untick=(EVENTS_SCOPE,))
    assert EVENTS_SCOPE not in callback["scope"].split()
    tokens = await exchange_code(
        config,
        code=code_from_callback(callback, request.state),
        redirect_uri=REDIRECT,
        code_verifier=request.code_verifier,
    )
    assert EVENTS_SCOPE not in tokens.scope.split()
    assert tokens.refresh_token
    refreshed = await refresh_access_token(config, tokens.refresh_token)
    assert refreshed.scope == tokens.scope  # a refresh never asks for more


async def test_refresh_gives_a_new_access_token_and_keeps_the_refresh_token(
    google: GoogleSandbox, config: OAuthConfig, email: str
) -> None:
    issued = google.state.issue_tokens(email)
    assert issued.refresh_token
    refreshed = await refresh_access_token(config, issued.refresh_token)
    assert refreshed.access_token != issued.access_token
    assert refreshed.refresh_token == issued.refresh_token
    assert refreshed.expires_at > refreshed.expires_at.now(refreshed.expires_at.tzinfo)
    async with GoogleProvider(
        refreshed.access_token, api_base=google.api_base
    ) as provider:
        assert (await provider.discover()).principal_url == email


async def test_revoking_the_grant_makes_refresh_invalid_grant_and_access_tokens_401(
    google: GoogleSandbox, config: OAuthConfig, email: str, browser: httpx.AsyncClient
) -> None:
    issued = google.state.issue_tokens(email)
    assert issued.refresh_token
    await revoke_token(config, issued.refresh_token)

    response = await browser.post(
        google.token_url,
        data={"grant_type": "refresh_token", "refresh_token": issued.refresh_token},
        auth=(google.client_id, google.client_secret),
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    with pytest.raises(AuthError) as caught:
        await refresh_access_token(config, issued.refresh_token)
    assert "reconnect Google" in caught.value.user_message
    api = await browser.get(
        google.api_base + "/users/me/calendarList",
        headers={"Authorization": f"Bearer {issued.access_token}"},
    )
    assert api.status_code == 401
    assert api.json()["error"]["errors"][0]["reason"] == "authError"
    again = await browser.post(google.revoke_url, data={"token": issued.refresh_token})
    assert (again.status_code, again.json()["error"]) == (400, "invalid_token")


async def test_prompt_none_without_an_earlier_grant_asks_for_consent(
    google: GoogleSandbox, email: str, browser: httpx.AsyncClient
) -> None:
    response = await browser.get(
        google.auth_url,
        params={
            "client_id": google.client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": EVENTS_SCOPE,
            "state": "s1",
            "prompt": "none",
            "login_hint": email,
        },
    )
    assert response.status_code == 302
    assert response.headers["location"] == f"{REDIRECT}?error=consent_required&state=s1"
