"""The Exchange spec: the wizard's form, and the sign-in check against the
sandbox — Autodiscover, or the address in any form; nothing stored on failure."""

from __future__ import annotations

import pytest

from coach_app.calendars import registry
from coach_app.calendars.errors import AuthError
from coach_app.calendars.exchange import AutodiscoverFailed
from coach_app.calendars.exchange.spec import AUTODISCOVER_ENV, EXCHANGE_SPEC
from coach_app.calendars.spec import SignInError
from coach_app.services import signin
from coach_app.services.errors import AsksFor, UserError
from sandbox.ews import EwsSandbox, Mailbox
from tests.exchange.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _loopback(monkeypatch: pytest.MonkeyPatch, ews: EwsSandbox) -> None:
    monkeypatch.setenv("COACH_APP_URL_ALLOWLIST", "127.0.0.1")
    monkeypatch.setenv(AUTODISCOVER_ENV, ews.autodiscover_url)


def _form(
    mailbox: Mailbox, server: str = "", password: str = PASSWORD
) -> dict[str, str]:
    return {"username": mailbox.email, "password": password, "server_url": server}


def test_exchange_is_registered_and_offered() -> None:
    assert registry.spec_for("exchange") is EXCHANGE_SPEC
    assert ("exchange", "Exchange", EXCHANGE_SPEC) in registry.menu()
    assert EXCHANGE_SPEC.password is not None
    server_field = EXCHANGE_SPEC.password.fields[-1]
    assert (server_field.name, server_field.required) == ("server_url", False)


def test_the_form_completes_the_server_address(mailbox: Mailbox) -> None:
    assert EXCHANGE_SPEC.password is not None
    read = EXCHANGE_SPEC.password.credentials
    assert (
        read(_form(mailbox, "mail.corp.example")).server_url
        == "https://mail.corp.example/EWS/Exchange.asmx"
    )
    assert read(_form(mailbox)).server_url == ""
    with pytest.raises(SignInError):
        read({"username": "not-an-email", "password": "x", "server_url": ""})
    with pytest.raises(SignInError):
        read(_form(mailbox, "ftp://mail.corp.example"))


async def test_sign_in_by_autodiscover(ews: EwsSandbox, mailbox: Mailbox) -> None:
    mailbox.create_folder("Clients")
    assert EXCHANGE_SPEC.password is not None
    credentials = EXCHANGE_SPEC.password.credentials(_form(mailbox))
    found = await EXCHANGE_SPEC.check(EXCHANGE_SPEC, credentials, None)
    assert found.credentials.server_url == ews.ews_url
    assert found.label == mailbox.email
    assert [c.name for c in found.calendars] == ["Calendar", "Clients"]


async def test_autodiscover_failing_asks_for_the_address_then_it_connects(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    assert EXCHANGE_SPEC.password is not None
    ews.state.autodiscover_enabled = False
    try:
        with pytest.raises(AutodiscoverFailed) as raised:
            await EXCHANGE_SPEC.check(
                EXCHANGE_SPEC, EXCHANGE_SPEC.password.credentials(_form(mailbox)), None
            )
        assert "address" in raised.value.user_message
        # the coach pastes the host, without /EWS/Exchange.asmx
        credentials = EXCHANGE_SPEC.password.credentials(_form(mailbox, ews.base_url))
        found = await EXCHANGE_SPEC.check(EXCHANGE_SPEC, credentials, None)
    finally:
        ews.state.autodiscover_enabled = True
    assert found.credentials.server_url == ews.ews_url


async def test_a_wrong_password_is_refused(ews: EwsSandbox, mailbox: Mailbox) -> None:
    assert EXCHANGE_SPEC.password is not None
    credentials = EXCHANGE_SPEC.password.credentials(
        _form(mailbox, ews.base_url, "wrong")
    )
    with pytest.raises(AuthError):
        await EXCHANGE_SPEC.check(EXCHANGE_SPEC, credentials, None)


async def test_the_stored_credentials_build_a_working_provider(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    assert EXCHANGE_SPEC.password is not None
    found = await EXCHANGE_SPEC.check(
        EXCHANGE_SPEC, EXCHANGE_SPEC.password.credentials(_form(mailbox)), None
    )
    provider = EXCHANGE_SPEC.build(found.credentials, None)
    try:
        account = await provider.discover()
    finally:
        await provider.aclose()
    assert account.provider == EXCHANGE_SPEC.key


def test_the_server_address_field_waits_until_it_is_needed() -> None:
    assert EXCHANGE_SPEC.password is not None
    [server_field] = [
        f for f in EXCHANGE_SPEC.password.fields if f.name == "server_url"
    ]
    assert server_field.ask_when_needed and server_field.open_label
    asked = [f for f in EXCHANGE_SPEC.password.fields if not f.ask_when_needed]
    assert [f.name for f in asked] == ["username", "password"]


async def test_the_wizard_is_asked_for_the_address_when_autodiscover_fails(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    """Through the sign-in service the wizard uses: nothing found → the
    coach is asked for exactly the server address field, nothing else."""
    ews.state.autodiscover_enabled = False
    try:
        with pytest.raises(AsksFor) as raised:
            await signin.check_password("exchange", _form(mailbox))
    finally:
        ews.state.autodiscover_enabled = True
    assert raised.value.fields == ("server_url",)
    assert "could not find your Exchange server" in str(raised.value)
    # A wrong password with the address is a plain refusal, asking for nothing.
    with pytest.raises(UserError) as refused:
        await signin.check_password(
            "exchange", _form(mailbox, ews.base_url, "wrong-password")
        )
    assert not isinstance(refused.value, AsksFor)
