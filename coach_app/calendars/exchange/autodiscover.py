"""POX Autodiscover: from an email address and password to the EWS address.

Follows "Autodiscover for Exchange" and MS-OXDSCLI: POST the request of
"POX Autodiscover request for Exchange" to
``https://<domain>/autodiscover/autodiscover.xml``, then
``https://autodiscover.<domain>/autodiscover/autodiscover.xml``, then ask
``http://autodiscover.<domain>/autodiscover/autodiscover.xml`` with a GET for
an HTTP 302 to an https Autodiscover address. Answers may redirect: an HTTP
302 (``Location``), ``Action`` ``redirectUrl`` (another server) or
``redirectAddr`` (another address to ask for); at most ``MAX_REDIRECTS``
hops, the limit the ``RedirectUrl`` reference page sets. The ``ASUrl`` of
the ``EXPR`` (external) or else ``EXCH`` protocol is the EWS address.

Every address — candidates, every redirect hop and the EWS address found —
passes the URL guard before it is connected to. A 401 from one candidate
is not yet a wrong password ("Handling Autodiscover error messages"); a
401 from every candidate that answered is. DNS SRV lookups are not made.

Credentials are sent only when a server asks (``auth.ChallengeAuth``): NTLM
when its 401 offers it, else Basic. The plain-http GET that looks for a
redirect never carries them. A 401 offering neither scheme is an answer
that cannot be used, not a wrong password.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit
from xml.sax.saxutils import escape

import httpx
from lxml import etree

from coach_app.calendars.errors import AuthError, ProviderError, UrlNotAllowed
from coach_app.calendars.exchange.auth import (
    BASIC,
    NTLM,
    USER_AGENT,
    ChallengeAuth,
    offered_schemes,
)
from coach_app.calendars.exchange.urls import allowed_hosts, check_async

log = logging.getLogger(__name__)

REQUEST_NS = (
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
)
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = (
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)
MAX_REDIRECTS = 10
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class AutodiscoverFailed(ProviderError):
    """No Autodiscover server gave an EWS address for this email address."""

    default_user_message = (
        "We could not find your Exchange server automatically. Enter its "
        "address below: it is the web address you use for Outlook on the "
        "web (for example mail.yourcompany.com)."
    )
    asks_for = ("server_url",)


@dataclass(frozen=True)
class Discovered:
    ews_url: str
    email: str  # the address the settings are for (after redirectAddr)
    display_name: str | None


def candidates(email: str) -> list[str]:
    """The POST candidates for ``email``'s domain, in the documented order."""
    domain = email.rsplit("@", 1)[-1].strip().lower()
    return [
        f"https://{domain}/autodiscover/autodiscover.xml",
        f"https://autodiscover.{domain}/autodiscover/autodiscover.xml",
    ]


def request_body(email: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>'
        f'<Autodiscover xmlns="{REQUEST_NS}"><Request>'
        f"<EMailAddress>{escape(email)}</EMailAddress>"
        f"<AcceptableResponseSchema>{OUTLOOK_NS}</AcceptableResponseSchema>"
        f"</Request></Autodiscover>"
    ).encode()


async def autodiscover(
    email: str,
    password: str,
    *,
    username: str | None = None,
    urls: Sequence[str] | None = None,
    allow_hosts: Iterable[str] | None = None,
    timeout: float = 15.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Discovered:
    """Find the EWS address (see the module docstring); ``urls`` replaces
    the candidates derived from the domain."""
    allow = allowed_hosts(allow_hosts)
    auth = ChallengeAuth(username or email, password)
    async with httpx.AsyncClient(
        auth=auth,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
        transport=transport,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "User-Agent": USER_AGENT,
        },
    ) as client:
        search = _Search(client, allow)
        found = await search.run(email, list(urls) if urls is not None else None)
    if found is not None:
        await check_async(found.ews_url, allow)
        return found
    if search.unauthorized and not search.answered:
        raise AuthError(
            f"Autodiscover for {email}: every server refused the password",
            user_message="Exchange did not accept this email address and password.",
        )
    raise AutodiscoverFailed(
        f"Autodiscover for {email} failed: {'; '.join(search.notes)}"
    )


class _Search:
    def __init__(self, client: httpx.AsyncClient, allow: frozenset[str]) -> None:
        self.client = client
        self.allow = allow
        self.hops = 0
        self.unauthorized = 0
        self.answered = 0  # candidates that answered with something other than 401
        self.notes: list[str] = []

    async def run(self, email: str, urls: list[str] | None) -> Discovered | None:
        for url in urls if urls is not None else candidates(email):
            found = await self._post(url, email)
            if found is not None:
                return found
        if urls is None:
            found = await self._http_redirect(email)
            if found is not None:
                return found
        return None

    async def _http_redirect(self, email: str) -> Discovered | None:
        domain = email.rsplit("@", 1)[-1].lower()
        url = f"http://autodiscover.{domain}/autodiscover/autodiscover.xml"
        response = await self._send("GET", url, credentials=False)
        if response is None or response.status_code not in (301, 302):
            return None
        location = urljoin(url, response.headers.get("Location", ""))
        if urlsplit(location).scheme != "https":
            self.notes.append(f"{url}: redirect to a non-https address ignored")
            return None
        return await self._post(location, email)

    async def _post(self, url: str, email: str) -> Discovered | None:
        while self.hops <= MAX_REDIRECTS:
            response = await self._send("POST", url, request_body(email))
            if response is None:
                return None
            if response.status_code in (301, 302, 307, 308):
                self.hops += 1
                url = urljoin(url, response.headers.get("Location", ""))
                continue
            if response.status_code == 401:
                schemes = offered_schemes(response.headers.get_list("www-authenticate"))
                if NTLM in schemes or BASIC in schemes:
                    self.unauthorized += 1
                    self.notes.append(f"{url}: 401")
                else:
                    self.answered += 1
                    self.notes.append(f"{url}: 401 offering {schemes or 'nothing'}")
                return None
            self.answered += 1
            if response.status_code != 200:
                self.notes.append(f"{url}: HTTP {response.status_code}")
                return None
            outcome = _read(response.content)
            if isinstance(outcome, Discovered):
                return (
                    outcome
                    if outcome.email
                    else Discovered(outcome.ews_url, email, outcome.display_name)
                )
            if outcome is None:
                self.notes.append(f"{url}: not an Autodiscover answer")
                return None
            kind, target = outcome
            self.hops += 1
            if kind == "redirectAddr":
                email = target
            elif kind == "redirectUrl":
                url = target
            else:
                self.notes.append(f"{url}: {target}")
                return None
        self.notes.append(f"more than {MAX_REDIRECTS} redirects")
        return None

    async def _send(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        *,
        credentials: bool = True,
    ) -> httpx.Response | None:
        try:
            await check_async(url, self.allow)
        except UrlNotAllowed as exc:
            self.notes.append(f"{url}: {exc}")
            log.info("autodiscover: refused %s (%s)", url, exc)
            return None
        try:
            if credentials:
                return await self.client.request(method, url, content=body)
            return await self.client.request(method, url, content=body, auth=None)
        except httpx.HTTPError as exc:
            self.notes.append(f"{url}: {type(exc).__name__}")
            return None


def _read(content: bytes) -> Discovered | tuple[str, str] | None:
    """Settings, a (redirect kind, target) / ("error", message) pair, or None."""
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError:
        return None
    if root.tag != f"{{{RESPONSE_NS}}}Autodiscover":
        return None
    error = root.find(f".//{{{RESPONSE_NS}}}Error")
    if error is not None:
        code = error.findtext(f"{{{RESPONSE_NS}}}ErrorCode") or "?"
        message = error.findtext(f"{{{RESPONSE_NS}}}Message") or ""
        return "error", f"error {code} {message}".strip()
    o = f"{{{OUTLOOK_NS}}}"
    account = root.find(f".//{o}Account")
    if account is None:
        return None
    action = (account.findtext(f"{o}Action") or "").strip()
    if action == "redirectAddr":
        return "redirectAddr", (account.findtext(f"{o}RedirectAddr") or "").strip()
    if action == "redirectUrl":
        return "redirectUrl", (account.findtext(f"{o}RedirectUrl") or "").strip()
    urls = {
        (p.findtext(f"{o}Type") or "").strip(): (p.findtext(f"{o}ASUrl") or "").strip()
        for p in account.findall(f"{o}Protocol")
    }
    ews_url = urls.get("EXPR") or urls.get("EXCH")
    if not ews_url:
        return "error", "no EWS address in the settings"
    user = root.find(f".//{o}User")
    email = (
        user.findtext(f"{o}AutoDiscoverSMTPAddress") if user is not None else None
    ) or ""
    name = user.findtext(f"{o}DisplayName") if user is not None else None
    return Discovered(ews_url=ews_url, email=email.strip(), display_name=name)
