"""The EWS address a coach types, completed; every address checked by the
URL guard before anything connects to it.

Coaches paste whatever their IT department or Outlook shows them: a bare
host (``mail.example.com``), ``https://mail.example.com``, the Outlook on
the web address (``https://mail.example.com/owa/``) or the full
``https://mail.example.com/EWS/Exchange.asmx``. All of them name the same
endpoint; only the last is what EWS clients need, so the rest are
completed to ``/EWS/Exchange.asmx`` (peers that demand the full ``.asmx``
address lose coaches at this step).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from coach_app.calendars.errors import UrlNotAllowed
from coach_app.security.urlguard import UrlRefused, allowlist_from_env, check_url

EWS_PATH = "/EWS/Exchange.asmx"
# Paths of Exchange's other virtual directories a coach may paste instead.
_OTHER_DIRECTORIES = ("/owa", "/ecp", "/ews", "/mapi", "/rpc", "/autodiscover")


def ews_url_from_input(text: str) -> str:
    """The EWS endpoint for what a coach typed; ``ValueError`` if it is no address."""
    value = text.strip()
    if not value:
        raise ValueError("Enter the address of your Exchange server.")
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("The server address must start with https://")
    if not parts.hostname:
        raise ValueError("The server address has no host name.")
    path = parts.path.rstrip("/")
    if path.lower().endswith(".asmx"):
        pass
    elif not path or any(
        path.lower() == d or path.lower().startswith(d + "/")
        for d in _OTHER_DIRECTORIES
    ):
        path = EWS_PATH
    else:
        path = path + EWS_PATH  # Exchange published below a proxy path
    return urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))


def allowed_hosts(allow_hosts: Iterable[str] | None) -> frozenset[str]:
    return frozenset(allowlist_from_env() if allow_hosts is None else allow_hosts)


def check(url: str, allow: frozenset[str]) -> None:
    """Raise ``UrlNotAllowed`` for a private, loopback or link-local target
    (blocking: it may resolve the host name)."""
    try:
        check_url(url, allow)
    except UrlRefused as exc:
        raise UrlNotAllowed(str(exc)) from exc


async def check_async(url: str, allow: frozenset[str]) -> None:
    """``check`` off the event loop unless no name lookup is needed."""
    host = (urlsplit(url).hostname or "").lower()
    if host in allow or _is_ip(host):
        check(url, allow)
    else:
        await asyncio.to_thread(check, url, allow)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
