"""Refuse user-entered server URLs that point into private networks (SSRF),
and any URL whose form is unusual enough that two parsers could read it
differently.

A coach types a CalDAV or Exchange URL; without this check the app server
could be made to probe its own loopback, the cloud metadata endpoint
(169.254.169.254) or the office LAN. Every address the host resolves to must
be public, on the first request and on every redirect.

Before any lookup the URL's form is checked (``check_syntax``); what is
refused gets a message a coach can act on (``UrlRefused.user_message``):

* spaces, control characters and backslashes anywhere;
* anything but http(s), a missing host, a user name inside the URL, a port
  outside 1–65535;
* square brackets that do not hold exactly one IPv6 address (``[::1``,
  ``[::1]]``, ``[v1.x]``) and IPv6 zone ids (``%eth0``);
* a host whose last label is a number but which is not a plain dotted quad
  (``0177.0.0.1``, ``0x7f.1``, ``2130706433``, ``127.1``): C resolvers read
  them as octal, hex or packed integers, browsers and httpx differently, so
  they are a classic way to smuggle ``127.0.0.1`` past a check;
* a host that is not a valid internationalised name (``☃.net``,
  zero-width characters). Valid ones (``bücher.example``) are looked up in
  their ASCII (IDNA) form, the one httpx will connect to.

``COACH_APP_URL_ALLOWLIST`` (comma-separated hosts or IPs, e.g.
``127.0.0.1,localhost``) lets tests and self-hosters reach local servers.

Known limit: the check and the connection resolve the name separately, so a
DNS-rebinding attacker with a very short TTL could still win the race; closing
it would need connecting to the checked IP itself.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

ALLOWLIST_ENV = "COACH_APP_URL_ALLOWLIST"

Resolver = Callable[..., list[tuple[Any, ...]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


MAX_URL_LENGTH = 2000

_DOTTED_QUAD = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)
_BRACKETED = re.compile(r"\[([0-9a-fA-F:.]+)\](?::\d*)?")

PRIVATE_MESSAGE = (
    "That server address points to a private or local network, which is "
    "not allowed. Use the calendar server's public address."
)
GENERIC_MESSAGE = "That server address cannot be used. Check it and try again."


class UrlRefused(ValueError):
    """The URL must not be fetched.

    ``str(exc)`` is the technical reason (for logs); ``user_message`` is
    written for the coach; ``private`` tells a network refusal (the address
    is fine, where it leads is not) from a malformed address.
    """

    def __init__(
        self, detail: str, user_message: str = GENERIC_MESSAGE, private: bool = False
    ) -> None:
        super().__init__(detail)
        self.user_message = user_message
        self.private = private


def allowlist_from_env(environ: dict[str, str] | None = None) -> frozenset[str]:
    """The configured allow-list, lower-cased, empty entries dropped."""
    raw = (environ if environ is not None else os.environ).get(ALLOWLIST_ENV, "")
    return frozenset(item.strip().lower() for item in raw.split(",") if item.strip())


def check_syntax(url: str) -> str:
    """The ASCII host of ``url``; ``UrlRefused`` if its form is unusable.

    No DNS lookup: cheap enough to run on every keystroke or redirect.
    """
    if not url:
        raise UrlRefused("empty URL", "Please enter the server address.")
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused("URL too long", "That server address is too long.")
    if any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in url):
        raise UrlRefused(
            f"space, control character or backslash in {url!r}",
            "A server address cannot contain spaces, backslashes or "
            "invisible characters. Check what you pasted.",
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _bracket_error(url) from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise UrlRefused(
            f"scheme {parts.scheme!r} is not allowed",
            "A server address starts with https:// (or http://).",
        )
    netloc = parts.netloc
    if "@" in netloc:
        raise UrlRefused(
            "user name in URL",
            "Leave the user name out of the server address: enter it in its own field.",
        )
    if "[" in netloc or "]" in netloc:
        match = _BRACKETED.fullmatch(netloc)
        if match is None or not _is_ipv6(match.group(1)):
            raise _bracket_error(url)
    elif netloc.count(":") > 1:
        raise _bracket_error(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(
            f"bad port in {url!r}",
            "The port number in that server address is not valid (1–65535).",
        ) from exc
    if port == 0:
        raise UrlRefused(
            "port 0", "The port number in that server address is not valid (1–65535)."
        )
    typed_host = (parts.hostname or "").rstrip(".")
    if not typed_host:
        raise UrlRefused(
            "URL has no host", "That server address has no server name in it."
        )
    if "%" in typed_host:
        raise UrlRefused(
            f"percent sign in host {typed_host!r}",
            "The server name contains characters that are not allowed in "
            "one. Check the spelling.",
        )
    last_label = typed_host.rsplit(".", 1)[-1]
    if (
        ":" not in typed_host  # IPv6 literals were checked with the brackets
        and _NUMERIC_LABEL.fullmatch(last_label)
        and not _DOTTED_QUAD.fullmatch(typed_host)
    ):
        raise UrlRefused(
            f"unusual IPv4 form {typed_host!r}",
            "Write an IP address as four numbers from 0 to 255 separated by "
            "dots, like 192.0.2.10.",
        )
    try:
        host = httpx.URL(url).raw_host.decode("ascii").lower().rstrip(".")
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise UrlRefused(
            f"httpx refuses {url!r}: {exc}",
            "The server name contains characters that are not allowed in "
            "one. Check the spelling.",
        ) from exc
    if not host:
        raise UrlRefused(
            "URL has no host", "That server address has no server name in it."
        )
    return host


def check_url(
    url: str,
    allow_hosts: Iterable[str] = frozenset(),
    resolver: Resolver = socket.getaddrinfo,
) -> None:
    """Raise ``UrlRefused`` unless ``url`` is a well-formed http(s) URL to a
    public or allowed host."""
    host = check_syntax(url)
    parts = urlsplit(url)
    allowed = {h.strip().lower().strip("[]") for h in allow_hosts}
    if host.strip("[]") in allowed or (parts.hostname or "").lower() in allowed:
        return
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    for address in _resolve(host.strip("[]"), port, resolver):
        if _spellings(address) & allowed:
            continue
        reason = blocked_reason(address)
        if reason:
            raise UrlRefused(
                f"{host} resolves to {reason} address {address}",
                PRIVATE_MESSAGE,
                private=True,
            )


def _bracket_error(url: str) -> UrlRefused:
    return UrlRefused(
        f"misplaced brackets in {url!r}",
        "Square brackets in a server address may only surround an IPv6 "
        "address, like https://[2001:db8::1]/. Check the brackets.",
    )


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public destination, or None if it is."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return blocked_reason(mapped)
        if address.teredo is not None:
            return blocked_reason(address.teredo[1])
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        # Before "private": Python counts 240/4 as private too.
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        # Catches what the flags above miss, e.g. carrier-grade NAT 100.64/10.
        ("non-global", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _spellings(address: IPAddress) -> set[str]:
    mapped = getattr(address, "ipv4_mapped", None)
    return {str(address), str(mapped)} if mapped else {str(address)}


def _resolve(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = resolver(host, port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UrlRefused(
            f"cannot resolve {host!r}: {exc}",
            f"No server called {host} was found. Check the spelling of the address.",
        ) from exc
    addresses = []
    for info in infos:
        # getaddrinfo may append a scope id ("fe80::1%eth0") to IPv6 addresses.
        text = str(info[4][0]).split("%", 1)[0]
        addresses.append(ipaddress.ip_address(text))
    if not addresses:
        raise UrlRefused(
            f"{host!r} resolves to no address",
            f"No server called {host} was found. Check the spelling of the address.",
        )
    return addresses
