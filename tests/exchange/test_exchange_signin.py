"""Signing in to Exchange: the EWS address completed from what a coach
types, POX Autodiscover with its redirects, and the URL guard on every hop."""

from __future__ import annotations

import pytest

from coach_app.calendars.errors import AuthError, NotCalendarServer, UrlNotAllowed
from coach_app.calendars.exchange import (
    AutodiscoverFailed,
    autodiscover,
    connect,
    ews_url_from_input,
)
from coach_app.calendars.exchange.autodiscover import candidates
from sandbox.ews import EwsSandbox, Mailbox
from sandbox.ews.autodiscover import AutodiscoverRedirect
from tests.exchange.conftest import LOOPBACK, PASSWORD

REFUSED = "http://[::1]:9/autodiscover/autodiscover.xml"  # loopback, not allow-listed


@pytest.mark.parametrize(
    ("typed", "ews_url"),
    [
        ("mail.example.com", "https://mail.example.com/EWS/Exchange.asmx"),
        ("  https://mail.example.com  ", "https://mail.example.com/EWS/Exchange.asmx"),
        ("https://mail.example.com/", "https://mail.example.com/EWS/Exchange.asmx"),
        ("https://mail.example.com/owa/", "https://mail.example.com/EWS/Exchange.asmx"),
        ("https://mail.example.com/EWS", "https://mail.example.com/EWS/Exchange.asmx"),
        ("mail.example.com:8443", "https://mail.example.com:8443/EWS/Exchange.asmx"),
        (
            "HTTPS://mail.example.com/ews/exchange.asmx",
            "https://mail.example.com/ews/exchange.asmx",
        ),
        (
            "https://proxy.example.com/exchange/",
            "https://proxy.example.com/exchange/EWS/Exchange.asmx",
        ),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/EWS/Exchange.asmx"),
    ],
)
def test_any_form_of_the_server_address_is_completed(typed: str, ews_url: str) -> None:
    assert ews_url_from_input(typed) == ews_url


@pytest.mark.parametrize("typed", ["", "   ", "ftp://mail.example.com", "https://"])
def test_what_is_no_address_is_refused_with_a_message(typed: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        ews_url_from_input(typed)


def test_autodiscover_candidates_follow_the_documented_order() -> None:
    assert candidates("ana@Coach.Example") == [
        "https://coach.example/autodiscover/autodiscover.xml",
        "https://autodiscover.coach.example/autodiscover/autodiscover.xml",
    ]


async def test_autodiscover_finds_the_ews_address(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    found = await autodiscover(
        mailbox.email, PASSWORD, urls=[ews.autodiscover_url], allow_hosts=LOOPBACK
    )
    assert found.ews_url == ews.ews_url
    assert (found.email, found.display_name) == (mailbox.email, "Coach")


async def test_autodiscover_follows_a_redirect_to_another_address(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    alias = "alias-" + mailbox.email
    ews.state.redirects[alias] = AutodiscoverRedirect("addr", mailbox.email)
    found = await autodiscover(
        alias,
        PASSWORD,
        username=mailbox.email,
        urls=[ews.autodiscover_url],
        allow_hosts=LOOPBACK,
    )
    assert (found.ews_url, found.email) == (ews.ews_url, mailbox.email)


@pytest.mark.parametrize("kind", ["url", "http"])
async def test_autodiscover_redirects_pass_the_url_guard(
    ews: EwsSandbox, mailbox: Mailbox, kind: str
) -> None:
    ews.state.redirects[mailbox.email] = AutodiscoverRedirect(kind, REFUSED)
    ews.state.clear_log()
    with pytest.raises(AutodiscoverFailed, match="not allowed|loopback"):
        await autodiscover(
            mailbox.email, PASSWORD, urls=[ews.autodiscover_url], allow_hosts=LOOPBACK
        )


async def test_autodiscover_redirect_loops_end_at_the_hop_limit(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    ews.state.redirects[mailbox.email] = AutodiscoverRedirect(
        "http", ews.autodiscover_url
    )
    with pytest.raises(AutodiscoverFailed, match="redirects"):
        await autodiscover(
            mailbox.email, PASSWORD, urls=[ews.autodiscover_url], allow_hosts=LOOPBACK
        )


async def test_autodiscover_with_a_wrong_password_is_an_auth_error(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    with pytest.raises(AuthError):
        await autodiscover(
            mailbox.email, "wrong", urls=[ews.autodiscover_url], allow_hosts=LOOPBACK
        )


async def test_autodiscover_that_finds_nothing_asks_for_the_address(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    ews.state.autodiscover_enabled = False
    try:
        with pytest.raises(AutodiscoverFailed) as raised:
            await autodiscover(
                mailbox.email,
                PASSWORD,
                urls=[ews.autodiscover_url],
                allow_hosts=LOOPBACK,
            )
    finally:
        ews.state.autodiscover_enabled = True
    assert "address" in raised.value.user_message


async def test_autodiscover_refuses_private_candidates_without_sending(
    mailbox: Mailbox,
) -> None:
    with pytest.raises(AutodiscoverFailed, match="loopback"):
        await autodiscover(
            mailbox.email, PASSWORD, urls=[REFUSED], allow_hosts=LOOPBACK
        )


async def test_connect_by_autodiscover(ews: EwsSandbox, mailbox: Mailbox) -> None:
    provider = await connect(
        mailbox.email,
        PASSWORD,
        autodiscover_urls=[ews.autodiscover_url],
        allow_hosts=LOOPBACK,
    )
    async with provider:
        assert provider.ews_url == ews.ews_url
        assert [c.name for c in await provider.list_calendars()] == ["Calendar"]


@pytest.mark.parametrize("suffix", ["", "/", "/owa", "/EWS/Exchange.asmx"])
async def test_connect_with_the_address_in_any_form(
    ews: EwsSandbox, mailbox: Mailbox, suffix: str
) -> None:
    provider = await connect(
        mailbox.email, PASSWORD, server=ews.base_url + suffix, allow_hosts=LOOPBACK
    )
    async with provider:
        assert provider.ews_url == ews.ews_url


async def test_connect_with_a_wrong_password_is_refused(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    with pytest.raises(AuthError):
        await connect(mailbox.email, "wrong", server=ews.base_url, allow_hosts=LOOPBACK)


async def test_connect_to_something_that_is_not_ews(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    with pytest.raises(NotCalendarServer):
        await connect(
            mailbox.email,
            PASSWORD,
            server=ews.base_url + "/elsewhere/service.asmx",
            allow_hosts=LOOPBACK,
        )


async def test_connect_refuses_a_private_server_address(mailbox: Mailbox) -> None:
    with pytest.raises(UrlNotAllowed):
        await connect(
            mailbox.email, PASSWORD, server="http://192.168.1.20", allow_hosts=LOOPBACK
        )
