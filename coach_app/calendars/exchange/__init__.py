"""Microsoft Exchange (on-premises) through Exchange Web Services.

``connect(email, password, server=None)`` is the sign-in: without a server
it asks POX Autodiscover for the EWS address; with one (a bare host,
``https://host`` or the full ``…/EWS/Exchange.asmx``) it completes that
address. Either way every address passes the URL guard, the EWS address's
401 tells the scheme (NTLM preferred, else Basic; ``auth``) and the password
is checked with one request before a provider is returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from coach_app.calendars.exchange.auth import UnsupportedSignIn, server_auth
from coach_app.calendars.exchange.autodiscover import (
    AutodiscoverFailed,
    Discovered,
    autodiscover,
)
from coach_app.calendars.exchange.provider import ExchangeProvider
from coach_app.calendars.exchange.urls import allowed_hosts, ews_url_from_input


async def connect(
    email: str,
    password: str,
    *,
    server: str | None = None,
    username: str | None = None,
    allow_hosts: Iterable[str] | None = None,
    autodiscover_urls: Sequence[str] | None = None,
    **options: Any,
) -> ExchangeProvider:
    """A checked provider (the caller closes it). Raises ``AutodiscoverFailed``
    when no server was given and Autodiscover found none — ask the coach for
    the address then — ``AuthError`` for a wrong password, ``UnsupportedSignIn``
    for a server taking neither NTLM nor Basic, ``UrlNotAllowed``,
    ``Transient`` or ``NotCalendarServer`` for a bad address. ``auth``
    ("ntlm" or "basic") in ``options`` skips asking the server."""
    if server:
        ews_url = ews_url_from_input(server)
    else:
        found = await autodiscover(
            email,
            password,
            username=username,
            urls=autodiscover_urls,
            allow_hosts=allow_hosts,
        )
        ews_url = found.ews_url
    if "auth" not in options:
        options["auth"] = await server_auth(ews_url, allowed_hosts(allow_hosts))
    provider = ExchangeProvider(
        email, password, ews_url, username=username, allow_hosts=allow_hosts, **options
    )
    try:
        await provider.discover()
    except BaseException:
        await provider.aclose()
        raise
    return provider


__all__ = [
    "AutodiscoverFailed",
    "Discovered",
    "ExchangeProvider",
    "UnsupportedSignIn",
    "autodiscover",
    "connect",
    "ews_url_from_input",
]
