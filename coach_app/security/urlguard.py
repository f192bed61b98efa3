"""Refuse user-entered server URLs that point into private networks (SSRF).

A coach types a CalDAV or Exchange URL; without this check the app server
could be made to probe its own loopback, the cloud metadata endpoint
(169.254.169.254) or the office LAN. Every address the host resolves to must
be public, on the first request and on every redirect.

``COACH_APP_URL_ALLOWLIST`` (comma-separated hosts or IPs, e.g.
``127.0.0.1,localhost``) lets tests and self-hosters reach local servers.

Known limit: the check and the connection resolve the name separately, so a
DNS-rebinding attacker with a very short TTL could still win the race; closing
it would need connecting to the checked IP itself.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

ALLOWLIST_ENV = "COACH_APP_URL_ALLOWLIST"

Resolver = Callable[..., list[tuple[Any, ...]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """The URL must not be fetched."""


def allowlist_from_env(environ: dict[str, str] | None = None) -> frozenset[str]:
    """The configured allow-list, lower-cased, empty entries dropped."""
    raw = (environ if environ is not None else os.environ).get(ALLOWLIST_ENV, "")
    return frozenset(item.strip().lower() for item in raw.split(",") if item.strip())


def check_url(
    url: str,
    allow_hosts: Iterable[str] = frozenset(),
    resolver: Resolver = socket.getaddrinfo,
) -> None:
    """Raise ``UrlRefused`` unless ``url`` is http(s) to a public or allowed host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"unparsable URL {url!r}") from exc
    if parts.scheme not in ("http", "https"):
        raise UrlRefused(f"scheme {parts.scheme!r} is not allowed")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UrlRefused("URL has no host")
    allowed = {h.strip().lower().strip("[]") for h in allow_hosts}
    if host in allowed:
        return
    for address in _resolve(
        host, port or (443 if parts.scheme == "https" else 80), resolver
    ):
        if _spellings(address) & allowed:
            continue
        reason = blocked_reason(address)
        if reason:
            raise UrlRefused(f"{host} resolves to {reason} address {address}")


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
        raise UrlRefused(f"cannot resolve {host!r}: {exc}") from exc
    addresses = []
    for info in infos:
        # getaddrinfo may append a scope id ("fe80::1%eth0") to IPv6 addresses.
        text = str(info[4][0]).split("%", 1)[0]
        addresses.append(ipaddress.ip_address(text))
    if not addresses:
        raise UrlRefused(f"{host!r} resolves to no address")
    return addresses
