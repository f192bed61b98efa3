"""HTTP for the CalDAV provider: one httpx.AsyncClient, the URL guard on every
request (redirect hops included), a deadline on each whole request
(``calendars.deadline``), and HTTP failures mapped onto the shared error
hierarchy.

No retries here: the sync engine owns back-off (it sees ``RateLimited`` and
``Transient``), and a hidden retry of a write would muddle its accounting.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpx

from coach_app.calendars.caldav import davxml
from coach_app.calendars.deadline import deadline, request_deadline
from coach_app.calendars.errors import (
    AuthError,
    InvalidServerAddress,
    NotCalendarServer,
    NotFound,
    PreconditionFailed,
    ProviderError,
    RateLimited,
    Transient,
    UrlNotAllowed,
)
from coach_app.calendars.http_util import parse_retry_after
from coach_app.security.urlguard import (
    UrlRefused,
    allowlist_from_env,
    check_syntax,
    check_url,
)

RequestHook = Callable[[httpx.Request], Awaitable[None]]

XML = "application/xml; charset=utf-8"
ICALENDAR = "text/calendar; charset=utf-8"
USER_AGENT = "CoachApp-CalDAV/1.0"

BAD_REDIRECT_MESSAGE = (
    "The calendar server sent us on to an address that cannot be used. "
    "Check the server address, or ask the server's administrator."
)

# CalDAV preconditions a server may put in a 403/409 body for a write that
# conflicts with stored data; they are not credential problems.
_WRITE_CONDITIONS = {
    davxml.clark("c:no-uid-conflict"),
    davxml.clark("c:valid-calendar-data"),
    davxml.clark("c:valid-calendar-object-resource"),
    davxml.clark("c:supported-calendar-component"),
}


class DavHttp:
    """A guarded, error-mapping wrapper around ``httpx.AsyncClient``."""

    def __init__(
        self,
        *,
        username: str,
        password: str,
        auth_error_message: str,
        allow_hosts: Iterable[str] | None = None,
        timeout: float = 30.0,
        request_deadline_s: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        """``timeout`` bounds each network operation; ``request_deadline_s``
        (None: ``COACH_APP_REQUEST_DEADLINE``) bounds each whole request."""
        self._allow = frozenset(
            allowlist_from_env() if allow_hosts is None else allow_hosts
        )
        self._deadline = request_deadline_s or request_deadline()
        self._auth_error_message = auth_error_message
        hooks: list[RequestHook] = [self._guard]
        if on_request is not None:
            hooks.append(on_request)
        self.client = httpx.AsyncClient(
            auth=httpx.BasicAuth(username, password) if username else None,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            # httpx runs request hooks for every redirect hop too, so the
            # guard sees each Location before it is connected to.
            follow_redirects=True,
            max_redirects=5,
            event_hooks={"request": hooks},
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | str | None = None,
        content_type: str | None = None,
        depth: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send; transport failures become ``Transient``/``UrlNotAllowed``. Statuses are
        left to the caller (``raise_for_status``) because their meaning depends on
        the request."""
        all_headers = dict(headers or {})
        if content_type:
            all_headers["Content-Type"] = content_type
        if depth is not None:
            all_headers["Depth"] = depth
        try:
            async with deadline(self._deadline, f"{method} {url}"):
                return await self.client.request(
                    method, url, content=body, headers=all_headers
                )
        except UrlRefused as exc:
            raise refused_error(exc) from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError) as exc:
            # httpx parses the URL before the guard sees it.
            try:
                check_syntax(url)
            except UrlRefused as refusal:
                raise refused_error(refusal) from exc
            raise InvalidServerAddress(f"{method} {url}: {exc}") from exc
        except httpx.TooManyRedirects as exc:
            raise ProviderError(f"{method} {url}: too many redirects") from exc
        except httpx.RemoteProtocolError as exc:
            if "location header" in str(exc).lower():  # httpx cannot parse it
                raise InvalidServerAddress(
                    f"{method} {url}: {exc}", user_message=BAD_REDIRECT_MESSAGE
                ) from exc
            raise Transient(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise Transient(f"{method} {url}: {type(exc).__name__}: {exc}") from exc

    def raise_for_status(self, response: httpx.Response) -> None:
        """Map a non-2xx response onto the shared hierarchy."""
        status = response.status_code
        if status < 300:
            return
        where = f"{response.request.method} {response.request.url} → {status}"
        if status == 401:
            raise AuthError(where, user_message=self._auth_error_message)
        if (
            status in (403, 409)
            and davxml.error_conditions(response.content) & _WRITE_CONDITIONS
        ):
            raise PreconditionFailed(f"{where}: {response.text[:200]}")
        if status == 403:
            raise AuthError(where, user_message=self._auth_error_message)
        if status in (404, 410):
            raise NotFound(where)
        if status in (409, 412):
            raise PreconditionFailed(where)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429 or (status == 503 and retry_after is not None):
            raise RateLimited(where, retry_after=retry_after)
        if status >= 500:
            raise Transient(where)
        raise ProviderError(where)

    def multistatus(self, response: httpx.Response) -> davxml.Multistatus:
        """The parsed 207 body; errors mapped, anything else is not CalDAV."""
        self.raise_for_status(response)
        where = response.request.url
        if response.status_code != 207:
            raise NotCalendarServer(
                f"{where}: expected 207, got {response.status_code}"
            )
        try:
            return davxml.parse_multistatus(response.content)
        except ValueError as exc:
            raise NotCalendarServer(f"{where}: {exc}") from exc

    async def _guard(self, request: httpx.Request) -> None:
        url = str(request.url)
        host = (urlsplit(url).hostname or "").lower()
        if host in self._allow or _is_ip_literal(host):
            check_url(url, self._allow)  # no DNS lookup needed
        else:
            # getaddrinfo blocks: keep it off the event loop.
            await asyncio.to_thread(check_url, url, self._allow)


def refused_error(exc: UrlRefused) -> ProviderError:
    """The provider error for a URL the guard refused, with its plain message."""
    if exc.private:
        return UrlNotAllowed(str(exc))
    return InvalidServerAddress(str(exc), user_message=exc.user_message)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
