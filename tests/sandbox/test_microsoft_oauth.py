"""The Microsoft sandbox's identity platform, driven as a browser and an app
would: authorize, the consent page's form, the token endpoint."""

from __future__ import annotations

import base64
import hashlib
import html.parser
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from sandbox.microsoft import MicrosoftSandbox, start_microsoft_sandbox

REDIRECT = "http://127.0.0.1:3000/oauth/office365/callback"
SCOPES = "offline_access User.Read Calendars.ReadWrite"


class _Form(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: list[tuple[str, str]] = []
        self.accounts: list[str] = []
        self.buttons: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a["action"]
        elif tag == "input" and a.get("type") == "hidden":
            self.fields.append((a["name"], a["value"]))
        elif tag == "option":
            self.accounts.append(a["value"])
        elif tag == "button":
            self.buttons[a["value"]] = a["name"]


@pytest.fixture(scope="module")
def microsoft() -> Iterator[MicrosoftSandbox]:
    sandbox = start_microsoft_sandbox(redirect_uris=[REDIRECT])
    sandbox.state.add_account("work@contoso.example", "Wendy Work", kind="work")
    sandbox.state.add_account("me@outlook.example", "Pat Personal", kind="personal")
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False, trust_env=False) as client:
        yield client


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _authorize(
    microsoft: MicrosoftSandbox,
    browser: httpx.Client,
    tenant: str,
    *,
    redirect: str = REDIRECT,
    scope: str = SCOPES,
    challenge: str | None = None,
) -> tuple[httpx.Response, _Form]:
    params = {
        "client_id": microsoft.client_id,
        "response_type": "code",
        "redirect_uri": redirect,
        "scope": scope,
        "state": "st-1",
        "response_mode": "query",
    }
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    page = browser.get(microsoft.authorize_url(tenant), params=params)
    form = _Form()
    form.feed(page.text)
    return page, form


def _decide(
    browser: httpx.Client,
    page: httpx.Response,
    form: _Form,
    account: str,
    decision: str,
) -> dict[str, str]:
    answer = browser.post(
        urljoin(str(page.url), form.action),
        content=urlencode(
            [*form.fields, ("account", account), (form.buttons[decision], decision)]
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 302, answer.text
    return {
        k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()
    }


def _token(
    microsoft: MicrosoftSandbox, browser: httpx.Client, tenant: str, **form: str
) -> httpx.Response:
    return browser.post(
        microsoft.token_url(tenant),
        data={
            "client_id": microsoft.client_id,
            "client_secret": microsoft.client_secret,
            **form,
        },
    )


def test_code_with_pkce_gives_rolling_refresh_tokens(
    microsoft: MicrosoftSandbox, browser: httpx.Client
) -> None:
    verifier, challenge = _pkce()
    page, form = _authorize(microsoft, browser, "organizations", challenge=challenge)
    assert page.status_code == 200 and "Coach App" in page.text
    callback = _decide(browser, page, form, "work@contoso.example", "allow")
    assert callback["state"] == "st-1" and callback["code"]

    first = _token(
        microsoft,
        browser,
        "organizations",
        grant_type="authorization_code",
        code=callback["code"],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
        scope=SCOPES,
    ).json()
    assert first["token_type"] == "Bearer" and first["expires_in"] == 3599
    assert "Calendars.ReadWrite" in first["scope"].split()
    assert first["refresh_token"] and first["access_token"]

    again = _token(
        microsoft,
        browser,
        "organizations",
        grant_type="refresh_token",
        refresh_token=first["refresh_token"],
        scope=SCOPES,
    ).json()
    assert again["refresh_token"] != first["refresh_token"]  # refresh tokens roll
    assert again["access_token"] != first["access_token"]
    me = browser.get(
        microsoft.graph_base + "/me",
        headers={"Authorization": f"Bearer {again['access_token']}"},
    )
    assert me.json()["userPrincipalName"] == "work@contoso.example"


def test_tenants_offer_only_their_own_kind_of_account(
    microsoft: MicrosoftSandbox, browser: httpx.Client
) -> None:
    expected = {
        "organizations": ["work@contoso.example"],
        "consumers": ["me@outlook.example"],
        "common": ["me@outlook.example", "work@contoso.example"],
    }
    for tenant, accounts in expected.items():
        _, form = _authorize(microsoft, browser, tenant)
        assert form.accounts == accounts, tenant
    unknown, _ = _authorize(microsoft, browser, "no-such-tenant")
    assert unknown.status_code == 400 and "not found" in unknown.text

    # A work account's code cannot be redeemed at the consumers endpoint.
    page, form = _authorize(microsoft, browser, "common")
    code = _decide(browser, page, form, "work@contoso.example", "allow")["code"]
    refused = _token(
        microsoft,
        browser,
        "consumers",
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
    )
    assert refused.status_code == 400
    assert refused.json()["error_codes"] == [50020]


def test_cancel_comes_back_as_access_denied_with_aadsts65004(
    microsoft: MicrosoftSandbox, browser: httpx.Client
) -> None:
    page, form = _authorize(microsoft, browser, "consumers")
    callback = _decide(browser, page, form, "me@outlook.example", "deny")
    assert callback["error"] == "access_denied" and callback["state"] == "st-1"
    assert callback["error_description"].startswith("AADSTS65004")
    assert "code" not in callback


@pytest.mark.parametrize(
    ("reason", "code"),
    [("inactive", 700082), ("password_changed", 50173), ("mfa_required", 50076)],
)
def test_a_revoked_grant_answers_invalid_grant_with_its_aadsts_code(
    microsoft: MicrosoftSandbox, browser: httpx.Client, reason: str, code: int
) -> None:
    issued = microsoft.state.issue_tokens("work@contoso.example")
    assert issued.refresh_token
    microsoft.state.revoke(issued.refresh_token, reason=reason)
    refused = _token(
        microsoft,
        browser,
        "organizations",
        grant_type="refresh_token",
        refresh_token=issued.refresh_token,
    )
    body = refused.json()
    assert refused.status_code == 400
    assert body["error"] == "invalid_grant" and body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= body.keys()
    api = browser.get(
        microsoft.graph_base + "/me",
        headers={"Authorization": f"Bearer {issued.access_token}"},
    )
    assert api.status_code == 401
    assert api.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_code_misuse_and_client_errors_have_their_aadsts_codes(
    microsoft: MicrosoftSandbox, browser: httpx.Client
) -> None:
    verifier, challenge = _pkce()
    page, form = _authorize(microsoft, browser, "common", challenge=challenge)
    code = _decide(browser, page, form, "me@outlook.example", "allow")["code"]
    redeem = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
    }
    wrong = _token(microsoft, browser, "common", **redeem, code_verifier="x" * 50)
    assert wrong.json()["error_codes"] == [501481]
    ok = _token(microsoft, browser, "common", **redeem, code_verifier=verifier)
    assert ok.status_code == 200
    replay = _token(microsoft, browser, "common", **redeem, code_verifier=verifier)
    assert replay.json()["error_codes"] == [54005]
    bad_secret = browser.post(
        microsoft.token_url("common"),
        data={"client_id": microsoft.client_id, "client_secret": "no", **redeem},
    )
    assert bad_secret.status_code == 401
    assert bad_secret.json()["error_codes"] == [7000215]


def test_loopback_redirects_match_any_port_but_not_another_path(
    microsoft: MicrosoftSandbox, browser: httpx.Client
) -> None:
    other_port = REDIRECT.replace(":3000", ":54321")
    page, form = _authorize(microsoft, browser, "common", redirect=other_port)
    assert page.status_code == 200
    answer = browser.post(
        urljoin(str(page.url), form.action),
        content=urlencode(
            [*form.fields, ("account", "me@outlook.example"), ("decision", "allow")]
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.headers["location"].startswith(other_port + "?")
    wrong, _ = _authorize(microsoft, browser, "common", redirect=REDIRECT + "/x")
    assert wrong.status_code == 400 and "location" not in wrong.headers


def test_without_offline_access_there_is_no_refresh_token(
    microsoft: MicrosoftSandbox, browser: httpx.Client
) -> None:
    page, form = _authorize(
        microsoft, browser, "consumers", scope="User.Read Calendars.Read"
    )
    code = _decide(browser, page, form, "me@outlook.example", "allow")["code"]
    body = _token(
        microsoft,
        browser,
        "consumers",
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
    ).json()
    assert body["access_token"] and "refresh_token" not in body
