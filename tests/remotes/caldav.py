"""CalDAV from outside: plain DAV calls against a real Radicale or Xandikos
(``providers.servers``), as a phone or another app would make them.

Faults: Radicale and Xandikos cannot be asked to fail, so a small transport
in front of the provider (``FaultShim``) answers the next request with the
status a struggling server sends (429 with Retry-After, 500), or breaks it
(timeout, dropped connection); the provider's own error mapping does the
rest. For the sync engine, whose provider the spec builds without a
transport, ``serve_engine`` raises the error the provider maps that answer
to, at the provider's door.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
from providers.servers import DavAdmin, RunningServer, unique_name

from coach_app.calendars import registry
from coach_app.calendars.base import CalendarProvider
from coach_app.calendars.caldav import GENERIC_CALDAV, CalDAVProvider, davxml
from coach_app.calendars.errors import RateLimited, Transient
from coach_app.calendars.oauth import AccessTokenSource
from coach_app.calendars.spec import Credentials
from remotes import (
    DROP,
    RATE_LIMIT,
    SERVER_ERROR,
    TIMEOUT,
    AccountExpectations,
    Added,
    ConnectionFields,
    Quirks,
    RequestHook,
    Stored,
)
from remotes import ical_text as ics
from remotes.ical_remote import ICalendarRemote

# Loopback is refused by the URL guard unless allow-listed, as in production.
LOOPBACK = frozenset({"127.0.0.1"})
PASSWORD = "coach-secret"  # Radicale's, and the one AuthShim asks Xandikos for

_CALDAV = dict(
    key="caldav",
    quiet_pull_keeps_cursor=True,  # RFC 6578: the token names the state
    auth_error_detail="401",
    reconnect_message=GENERIC_CALDAV.auth_error_message,
    reconnect_subject="Please reconnect your CalDAV calendar ({account})",
)
# Radicale returns calendar-data inside sync-collection (one REPORT) and
# refuses unreadable iCalendar on PUT (and hides broken files on disk).
RADICALE = Quirks(
    incremental_pull_requests=("REPORT /.*",),
    refuses_unreadable_entries=True,
    **_CALDAV,
)
# Xandikos answers 404 for calendar-data in sync-collection: a multiget follows.
XANDIKOS = Quirks(incremental_pull_requests=("REPORT /.*", "REPORT /.*"), **_CALDAV)


class AuthShim(httpx.AsyncBaseTransport):
    """Basic authentication in front of a server that has none (Xandikos
    only offers htpasswd together with TLS): wrong credentials get the 401 a
    real server would send, right ones are forwarded."""

    def __init__(
        self,
        username: str,
        password: str,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._expected = f"Basic {token}"
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != self._expected:
            return httpx.Response(
                401, headers={"WWW-Authenticate": 'Basic realm="shim"'}, request=request
            )
        del request.headers["Authorization"]
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class FaultShim(httpx.AsyncBaseTransport):
    """Answers the next request as a failing server would (see ``fail_next``)."""

    def __init__(self, faults: list[tuple[str, float | None]]) -> None:
        self._faults = faults
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self._faults:
            return await self._inner.handle_async_request(request)
        kind, retry_after = self._faults.pop(0)
        if kind == RATE_LIMIT:
            headers = {"Retry-After": f"{retry_after:.0f}"} if retry_after else {}
            return httpx.Response(429, headers=headers, request=request)
        if kind == SERVER_ERROR:
            return httpx.Response(500, request=request)
        if kind == TIMEOUT:
            raise httpx.ReadTimeout("no answer within the deadline", request=request)
        assert kind == DROP, kind
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _FaultGate:
    """The engine's provider: raises what the provider maps a fault to."""

    def __init__(self, faults: list[tuple[str, float | None]], inner: Any) -> None:
        self._faults = faults
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if name == "aclose":
            return method
        faults = self._faults

        async def call(*args: Any, **kwargs: Any) -> Any:
            if faults:
                kind, retry_after = faults.pop(0)
                if kind == RATE_LIMIT:
                    raise RateLimited("429 (injected)", retry_after=retry_after)
                raise Transient(f"{kind} (injected)")
            return await method(*args, **kwargs)

        return call


class CalDAVRemote(ICalendarRemote):
    def __init__(self, server: RunningServer, quirks: Quirks) -> None:
        super().__init__(quirks)
        self.server = server
        self.admin: DavAdmin = server.admin()
        self.faults: list[tuple[str, float | None]] = []
        self._build: Callable[..., CalendarProvider] | None = None

    # -- calendars ---------------------------------------------------------
    def new_calendar(self, name: str) -> str:
        url = self.server.home_url + unique_name(name.lower().replace(" ", "")) + "/"
        self.admin.mkcalendar(url, name)
        self.created.append(url)
        return url

    def drop_calendar(self, cal: str) -> None:
        self.admin.delete(cal)

    def close(self) -> None:
        super().close()
        self.admin.close()

    # -- changes from outside ---------------------------------------------
    def _url(self, id: str) -> str:
        return self.server.base_url.rstrip("/") + id

    def _put(self, cal: str, uid: str, text: str) -> Added:
        etag = self.admin.put(f"{cal}{uid}.ics", text)
        return Added(davxml.normalize_href(f"{cal}{uid}.ics"), etag, uid)

    def _uid(self, prefix: str) -> str:
        return unique_name(prefix)

    def _text(self, cal: str, id: str) -> str:
        return self._get(id).text

    def _write(self, cal: str, id: str, text: str) -> str | None:
        return self.admin.put(self._url(id), text)

    def _get(self, id: str) -> httpx.Response:
        response = self.admin.client.get(self._url(id))
        assert response.status_code == 200, response.status_code
        return response

    def delete(self, cal: str, id: str) -> None:
        self.admin.delete(self._url(id))

    def ids(self, cal: str) -> list[str]:
        return self.admin.list_hrefs(cal)

    def stored(self, cal: str, id: str) -> Stored:
        response = self._get(id)
        return ics.stored(id, response.headers.get("ETag"), response.text)

    def add_foreign_at(self, cal: str, key: str) -> None:
        self.admin.put(f"{cal}{key}.ics", ics.event("someone-else", "Not ours", _ANY))

    def id_for_key(self, cal: str, key: str) -> str:
        return davxml.normalize_href(f"{cal}{key}.ics")

    # -- cursors and faults ------------------------------------------------
    def stale_cursor(self, cal: str, cursor: str) -> str:
        return cursor[:-8] + "00000000"  # well-formed, unknown to the server

    def fail_next(self, kind: str, *, retry_after: float | None = None) -> None:
        self.faults.append((kind, retry_after))

    # -- reaching the account ----------------------------------------------
    def expectations(self) -> AccountExpectations:
        home = self.server.home_url
        return AccountExpectations(
            account={
                "provider": "caldav",
                "home_url": home,
                "server": self.server.name,
            },
            calendars=[
                ("Family", home + "family/", True, None),
                ("Work", home + "work/", True, "#FF0000FF"),
            ],
        )

    def connect(
        self, *, on_request: RequestHook | None = None, timeout: float = 30.0
    ) -> CalendarProvider:
        return CalDAVProvider(
            self.server.base_url,
            self.server.username,
            self.server.password,
            allow_hosts=LOOPBACK,
            transport=FaultShim(self.faults),
            on_request=on_request,
            timeout=timeout,
        )

    def connect_rejected(self) -> CalendarProvider:
        shim = None if self.server.username else AuthShim("coach", PASSWORD)
        return CalDAVProvider(
            self.server.base_url,
            "coach",
            "not-the-password",
            allow_hosts=LOOPBACK,
            transport=shim,
        )

    def connection(self) -> ConnectionFields:
        return ConnectionFields(
            provider="caldav",
            account_label="Test server",
            server_url=self.server.base_url,
            username=self.server.username,
            secret=self.server.password,
        )

    def serve_engine(self) -> None:
        spec = registry.spec_for("caldav")
        self._build = spec.build
        registry.register(replace(spec, build=self._gated))

    def _gated(
        self, credentials: Credentials, tokens: AccessTokenSource | None
    ) -> CalendarProvider:
        assert self._build is not None
        return _FaultGate(self.faults, self._build(credentials, tokens))  # type: ignore[return-value]

    def require_credentials(self) -> dict[str, str]:
        if self.server.username:
            return {}  # Radicale checks passwords itself

        def behind_auth(credentials: Credentials, _tokens: object) -> CalendarProvider:
            return CalDAVProvider(
                credentials.server_url,
                credentials.username,
                credentials.secret,
                transport=AuthShim("coach", PASSWORD),
            )

        self._build = behind_auth
        return {"username": "coach", "secret": PASSWORD}

    def revoke_credentials(self) -> dict[str, str]:
        return {"secret": "revoked-password"}

    def restore_credentials(self) -> dict[str, str]:
        return {"secret": PASSWORD}


_ANY = dt.datetime(2025, 1, 2, 10, tzinfo=dt.UTC)
