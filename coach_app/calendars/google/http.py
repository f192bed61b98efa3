"""HTTP for the Google provider: bearer tokens, one refresh-and-retry on 401,
and Google's error bodies mapped onto the shared hierarchy.

No other retries here (as for CalDAV): the sync engine owns back-off, and a
hidden retry of a write would muddle its accounting. The 401 retry is the
exception because it is not a retry of a failure but the normal way an
expired access token is renewed.

Mapping (Google's "Handle API errors" guide):

* 401 after one refresh → ``AuthError`` ("reconnect Google");
* 403 ``rateLimitExceeded`` / ``userRateLimitExceeded`` / ``quotaExceeded`` /
  ``calendarUsageLimitsExceeded``, and 429 → ``RateLimited`` (``Retry-After``
  when sent); 503 with ``Retry-After`` → ``RateLimited`` too;
* 403 ``insufficientPermissions`` / ``authError`` → ``AuthError`` (the coach
  unticked calendar access on the consent page);
* other 403 (read-only calendar…) → ``ProviderError`` with a plain message;
* 404 and 410 → ``NotFound`` (a 410 ``fullSyncRequired`` is turned into
  ``CursorInvalid`` by the caller, which knows a sync token was sent);
* 409 and 412 → ``PreconditionFailed``; 5xx and network failures → ``Transient``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from coach_app.calendars.deadline import deadline, request_deadline
from coach_app.calendars.errors import (
    AuthError,
    NotFound,
    PreconditionFailed,
    ProviderError,
    RateLimited,
    Transient,
)
from coach_app.calendars.google.config import RECONNECT_MESSAGE
from coach_app.calendars.http_util import parse_retry_after
from coach_app.calendars.oauth import AccessTokenSource

RequestHook = Callable[[httpx.Request], Awaitable[None]]

USER_AGENT = "CoachApp-Google/1.0"
RATE_LIMIT_REASONS = frozenset(
    {
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "quotaExceeded",
        "calendarUsageLimitsExceeded",
    }
)
SCOPE_MESSAGE = (
    "Coach App is not allowed to see or edit your Google Calendar. Please "
    "reconnect Google in My Settings → Integrations and allow calendar access."
)
FORBIDDEN_MESSAGE = (
    "Google refused the change: you can only view this calendar. Choose a "
    "calendar you can edit for your appointments."
)


class GoogleHttp:
    """An ``httpx.AsyncClient`` that signs requests and maps errors."""

    def __init__(
        self,
        tokens: AccessTokenSource,
        *,
        api_base: str,
        timeout: float = 30.0,
        request_deadline_s: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        """``timeout`` bounds each network operation; ``request_deadline_s``
        (None: ``COACH_APP_REQUEST_DEADLINE``) bounds each whole request."""
        self.api_base = api_base.rstrip("/")
        self._deadline = request_deadline_s or request_deadline()
        self._tokens = tokens
        hooks: list[RequestHook] = [on_request] if on_request is not None else []
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            event_hooks={"request": hooks},
            transport=transport,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with a bearer token; on 401 get a fresh token and send once more."""
        token = await self._tokens.access_token()
        response = await self._send(method, path, token, params, json, headers)
        if response.status_code == 401:
            token = await self._tokens.access_token(rejected=token)
            response = await self._send(method, path, token, params, json, headers)
            if response.status_code == 401:
                raise AuthError(
                    f"{method} {path} → 401 after refreshing the access token",
                    user_message=RECONNECT_MESSAGE,
                )
        return response

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        params: Mapping[str, str | int] | None,
        json: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
        try:
            async with deadline(self._deadline, f"{method} {path}"):
                return await self.client.request(
                    method,
                    self.api_base + path,
                    params=dict(params) if params else None,
                    json=json,
                    headers=all_headers,
                )
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise Transient(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    def raise_for_status(self, response: httpx.Response) -> None:
        """Map a non-2xx response onto the shared hierarchy."""
        status = response.status_code
        if status < 300:
            return
        reasons = error_reasons(response)
        where = f"{response.request.method} {response.request.url.path} → {status}"
        if reasons:
            where += f" ({', '.join(sorted(reasons))})"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 401:
            raise AuthError(where, user_message=RECONNECT_MESSAGE)
        if status == 429 or (status == 403 and reasons & RATE_LIMIT_REASONS):
            raise RateLimited(where, retry_after=retry_after)
        if status == 403 and reasons & {"insufficientPermissions", "authError"}:
            raise AuthError(where, user_message=SCOPE_MESSAGE)
        if status == 403:
            raise ProviderError(where, user_message=FORBIDDEN_MESSAGE)
        if status in (404, 410):
            raise NotFound(where)
        if status in (409, 412):
            raise PreconditionFailed(where)
        if status == 503 and retry_after is not None:
            raise RateLimited(where, retry_after=retry_after)
        if status >= 500:
            raise Transient(where)
        raise ProviderError(f"{where}: {response.text[:300]}")


def error_reasons(response: httpx.Response) -> set[str]:
    """The ``reason`` values of Google's error body (empty if there is none)."""
    try:
        body = response.json()
    except ValueError:
        return set()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return set()
    return {
        str(item.get("reason"))
        for item in error.get("errors") or []
        if isinstance(item, dict) and item.get("reason")
    }
