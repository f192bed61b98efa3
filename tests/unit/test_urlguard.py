"""The URL guard keeps user-entered server URLs off private networks."""

from __future__ import annotations

import socket

import httpx
import pytest

from coach_app.calendars.caldav.transport import DavHttp
from coach_app.calendars.errors import InvalidServerAddress, UrlNotAllowed
from coach_app.security.urlguard import (
    Resolver,
    UrlRefused,
    allowlist_from_env,
    check_url,
)


def resolver_to(*addresses: str) -> Resolver:
    """A stand-in for getaddrinfo that answers with ``addresses``."""

    def resolve(host: str, port: int, *args: object) -> list[tuple]:
        family = socket.AF_INET6
        return [
            (
                family if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port),
            )
            for a in addresses
        ]

    return resolve


def no_resolver(*args: object) -> list[tuple]:
    raise AssertionError("must not resolve")


BLOCKED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.10", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("224.0.0.251", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("0.0.0.0", "unspecified"),
    ("100.64.0.1", "non-global"),  # carrier-grade NAT
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("2002:7f00:1::", "loopback"),  # 6to4 wrapping 127.0.0.1
]


@pytest.mark.parametrize(("address", "reason"), BLOCKED, ids=[a for a, _ in BLOCKED])
def test_ip_literals_of_every_internal_class_are_refused(
    address: str, reason: str
) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(UrlRefused, match=reason):
        check_url(f"https://{host}/dav/", frozenset(), no_resolver)


@pytest.mark.parametrize(("address", "reason"), BLOCKED, ids=[a for a, _ in BLOCKED])
def test_names_resolving_to_internal_addresses_are_refused(
    address: str, reason: str
) -> None:
    with pytest.raises(UrlRefused, match=reason):
        check_url("https://calendar.example.com/", frozenset(), resolver_to(address))


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "17.253.144.10", "2606:4700::6810:84e5"]
)
def test_public_addresses_pass(address: str) -> None:
    check_url("https://caldav.example.com/", frozenset(), resolver_to(address))


def test_one_internal_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(UrlRefused, match="private"):
        check_url(
            "https://c.example.com/", set(), resolver_to("93.184.216.34", "10.0.0.7")
        )


def test_an_unresolvable_name_is_refused() -> None:
    def fail(*args: object) -> list[tuple]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UrlRefused, match="cannot resolve"):
        check_url("https://nowhere.invalid/", set(), fail)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://caldav.example.com/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://caldav.example.com/",
        "caldav.example.com/no-scheme",
        "http:///no-host",
        "http://[::1/",
    ],
)
def test_non_http_schemes_and_broken_urls_are_refused(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_url(url, {"caldav.example.com"}, resolver_to("93.184.216.34"))


def test_an_allow_listed_host_name_passes_without_resolving() -> None:
    check_url("http://LocalHost.:5232/", {"localhost"}, no_resolver)


def test_an_allow_listed_ip_passes_for_a_name_resolving_to_it() -> None:
    check_url("http://dev-box/", {"127.0.0.1"}, resolver_to("127.0.0.1"))


def test_the_allow_list_covers_only_the_addresses_it_names() -> None:
    with pytest.raises(UrlRefused, match="::1"):
        check_url("http://localhost/", {"127.0.0.1"}, resolver_to("127.0.0.1", "::1"))


def test_an_allow_listed_ipv4_also_allows_its_ipv4_mapped_form() -> None:
    check_url("http://[::ffff:127.0.0.1]/", {"127.0.0.1"}, no_resolver)


def test_an_allow_listed_ipv6_literal_passes() -> None:
    check_url("http://[::1]:8080/", {"[::1]"}, no_resolver)


def test_the_allow_list_comes_from_the_environment() -> None:
    env = {"COACH_APP_URL_ALLOWLIST": " 127.0.0.1, LOCALHOST ,,"}
    assert allowlist_from_env(env) == frozenset({"127.0.0.1", "localhost"})
    assert allowlist_from_env({}) == frozenset()


# --- redirects through the CalDAV HTTP client --------------------------------


def redirecting_transport(location: str, seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "dav.example.com":
            return httpx.Response(302, headers={"Location": location})
        return httpx.Response(207, content=b"<multistatus xmlns='DAV:'/>")

    return httpx.MockTransport(handler)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/dav/",
        "http://[::ffff:127.0.0.1]/",
        "file:///etc/passwd",
    ],
)
async def test_every_redirect_hop_is_checked_before_it_is_requested(
    location: str,
) -> None:
    seen: list[str] = []
    http = DavHttp(
        username="u",
        password="p",
        auth_error_message="",
        allow_hosts={"dav.example.com"},
        transport=redirecting_transport(location, seen),
    )
    try:
        with pytest.raises(UrlNotAllowed):
            await http.request("PROPFIND", "https://dav.example.com/")
    finally:
        await http.aclose()
    assert seen == ["https://dav.example.com/"]


@pytest.mark.asyncio
async def test_a_redirect_to_an_allowed_host_is_followed() -> None:
    seen: list[str] = []
    http = DavHttp(
        username="u",
        password="p",
        auth_error_message="",
        allow_hosts={"dav.example.com", "p42-caldav.example.com"},
        transport=redirecting_transport("https://p42-caldav.example.com/dav/", seen),
    )
    try:
        response = await http.request("PROPFIND", "https://dav.example.com/")
    finally:
        await http.aclose()
    assert response.status_code == 207
    assert seen == ["https://dav.example.com/", "https://p42-caldav.example.com/dav/"]


# --- odd forms a coach may type: a plain message, never a crash -------------

ODD_URLS = {
    "http://0177.0.0.1:5232/": "four numbers",  # octal: 127.0.0.1 to C resolvers
    "http://0x7f.0.0.1/": "four numbers",
    "http://2130706433/": "four numbers",  # 127.0.0.1 as one integer
    "http://127.1/": "four numbers",
    "http://0/": "four numbers",
    "http://[::1/": "brackets",
    "http://[::1]]/": "brackets",
    "https://[v1.fe]/": "brackets",
    "http://[fe80::1%25eth0]/": "brackets",
    "http://::1/": "brackets",
    "http://exa mple.com/": "spaces",
    " http://example.com/": "spaces",
    "http://example.com/cal endar/": "spaces",
    "http://exa\x00mple.com/": "invisible",
    "http://exam\u200bple.com/": "invisible",  # zero-width space
    "http://example.com\\@evil.com/": "backslashes",
    "http://☃.net/": "not allowed",
    "http://ｅｘａｍｐｌｅ.com/": "not allowed",  # full-width letters
    "http://%31%32%37.0.0.1/": "not allowed",
    "http://example.com:99999/": "port",
    "http://example.com:0/": "port",
    "http://coach@example.com/": "user name",
    "webcal://example.com/": "https://",
    "http://": "no server name",
    "https://" + "a" * 2000 + ".com/": "too long",
}


@pytest.mark.parametrize("url", list(ODD_URLS), ids=[repr(u)[:40] for u in ODD_URLS])
def test_odd_urls_are_refused_with_a_plain_message(url: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        check_url(url, {"127.0.0.1", "example.com"}, resolver_to("93.184.216.34"))
    assert ODD_URLS[url] in refused.value.user_message
    assert not refused.value.private


def test_a_unicode_host_is_looked_up_in_its_idna_form() -> None:
    asked: list[str] = []

    def resolve(host: str, port: int, *args: object) -> list[tuple]:
        asked.append(host)
        return resolver_to("93.184.216.34")(host, port)

    check_url("https://bücher.example/dav/", set(), resolve)
    assert asked == ["xn--bcher-kva.example"]


def test_an_unknown_name_gets_a_plain_message() -> None:
    def fail(*args: object) -> list[tuple]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UrlRefused) as refused:
        check_url("https://nowhere.invalid/", set(), fail)
    assert refused.value.user_message == (
        "No server called nowhere.invalid was found. Check the spelling of the address."
    )


TYPED = [url for url in ODD_URLS if url == url.strip()]  # the wizard strips


@pytest.mark.asyncio
@pytest.mark.parametrize("url", TYPED, ids=[repr(u)[:40] for u in TYPED])
async def test_the_caldav_wizard_probe_answers_odd_urls_with_a_plain_message(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the CalDAV wizard calls: a message for the page, no exception
    escaping, and not a single request sent."""
    from coach_app.services import signin
    from coach_app.services.errors import UserError

    monkeypatch.setenv("COACH_APP_URL_ALLOWLIST", "127.0.0.1")
    form = {"server_url": url, "username": "coach", "password": "secret"}
    with pytest.raises(UserError) as refused:
        await signin.check_password("caldav", form)
    assert ODD_URLS[url] in str(refused.value)


@pytest.mark.asyncio
async def test_an_odd_redirect_target_is_refused_with_a_plain_message() -> None:
    seen: list[str] = []
    http = DavHttp(
        username="u",
        password="p",
        auth_error_message="",
        allow_hosts={"dav.example.com"},
        transport=redirecting_transport("http://0177.0.0.1/dav/", seen),
    )
    try:
        with pytest.raises(InvalidServerAddress) as refused:
            await http.request("PROPFIND", "https://dav.example.com/")
    finally:
        await http.aclose()
    assert "cannot be used" in refused.value.user_message
    assert seen == ["https://dav.example.com/"]
