"""The Office 365 and Outlook.com specs: registered, offered when a client
is configured, signing in through the shared OAuth flow against the
sandbox's consent page, and reading webhook requests."""

from __future__ import annotations

import html.parser
import json
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from coach_app.calendars import registry
from coach_app.calendars.microsoft import OFFICE365_SPEC, OUTLOOK_SPEC
from coach_app.calendars.oauth import (
    StaticToken,
    code_from_callback,
    exchange_code,
    refresh_access_token,
    start_authorization,
)
from coach_app.calendars.spec import Credentials, ProviderSpec
from sandbox.microsoft import MicrosoftSandbox

from .conftest import REDIRECT


class _Consent(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.hidden: list[tuple[str, str]] = []
        self.accounts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a["action"]
        elif tag == "input" and a.get("type") == "hidden":
            self.hidden.append((a["name"], a["value"]))
        elif tag == "option":
            self.accounts.append(a["value"])


@pytest.fixture
def configured(
    graph: MicrosoftSandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    for name, value in graph.env().items():
        monkeypatch.setenv(name, value)
    yield


def test_both_presets_are_registered_and_offered_only_when_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert registry.spec_for("office365") is OFFICE365_SPEC
    assert registry.spec_for("outlook") is OUTLOOK_SPEC
    labels = {key: label for key, label, spec in registry.menu() if spec}
    assert (labels["office365"], labels["outlook"]) == ("Office 365", "Outlook.com")
    monkeypatch.delenv("COACH_APP_MICROSOFT_CLIENT_ID", raising=False)
    assert not OFFICE365_SPEC.is_available()
    monkeypatch.setenv("COACH_APP_MICROSOFT_CLIENT_ID", "id")
    monkeypatch.setenv("COACH_APP_MICROSOFT_CLIENT_SECRET", "secret")
    assert OFFICE365_SPEC.is_available() and OUTLOOK_SPEC.is_available()


@pytest.mark.parametrize(
    ("spec", "kind", "tenant"),
    [
        (OFFICE365_SPEC, "work", "organizations"),
        (OUTLOOK_SPEC, "personal", "consumers"),
    ],
)
async def test_sign_in_through_the_consent_page_and_list_calendars(
    graph: MicrosoftSandbox,
    configured: None,
    spec: ProviderSpec,
    kind: str,
    tenant: str,
) -> None:
    domain = "contoso.example" if kind == "work" else "outlook.example"
    email = graph.state.add_account(
        f"{tenant}-{uuid.uuid4().hex[:6]}@{domain}", kind=kind
    )  # type: ignore[arg-type]
    read_only = graph.state.add_calendar(email, "Shared", can_edit=False)
    assert spec.oauth is not None
    config = spec.oauth.config()
    assert f"/{tenant}/oauth2/v2.0/authorize" in config.authorize_url
    request = await start_authorization(config, REDIRECT)
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as browser:
        page = await browser.get(request.url)
        form = _Consent()
        form.feed(page.text)
        assert email in form.accounts
        answer = await browser.post(
            urljoin(request.url, form.action),
            content=urlencode(
                [*form.hidden, ("account", email), ("decision", "allow")]
            ),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    params = {
        k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()
    }
    tokens = await exchange_code(
        config,
        code=code_from_callback(params, request.state),
        redirect_uri=REDIRECT,
        code_verifier=request.code_verifier,
    )
    assert tokens.refresh_token
    rolled = await refresh_access_token(config, tokens.refresh_token)
    assert rolled.refresh_token and rolled.refresh_token != tokens.refresh_token

    found = await spec.check(
        spec,
        Credentials(secret=tokens.to_json()),
        StaticToken(tokens.access_token, reconnect_message=spec.reconnect_message),
    )
    assert found.label == email
    assert [c.can_write for c in found.calendars if c.id == read_only] == [False]
    assert found.calendars[0].can_write


def test_webhook_requests_become_handshakes_notifications_and_lifecycle_events() -> (
    None
):
    push = OFFICE365_SPEC.push
    assert push is not None
    handshake = push.parse({}, {"validationToken": "Validation: a b"}, b"")
    assert handshake.answer == (200, "text/plain; charset=utf-8", "Validation: a b")
    body = {
        "value": [
            {
                "subscriptionId": "s1",
                "clientState": "secret",
                "changeType": "updated",
                "resource": "Users/u/Events/e",
                "resourceData": {"id": "e"},
            },
            {
                "subscriptionId": "s1",
                "clientState": "secret",
                "lifecycleEvent": "reauthorizationRequired",
            },
            {
                "subscriptionId": "s2",
                "clientState": "x",
                "lifecycleEvent": "subscriptionRemoved",
            },
        ]
    }
    reply = push.parse({}, {}, json.dumps(body).encode())
    assert reply.status == 202 and reply.answer is None
    assert [
        (n.resource_id, n.token, n.changed, n.lifecycle) for n in reply.notifications
    ] == [
        ("s1", "secret", True, ""),
        ("s1", "secret", False, "renew"),
        ("s2", "x", False, "removed"),
    ]
    assert push.parse({}, {}, b"<html>").answer == (400, "text/plain", "")
