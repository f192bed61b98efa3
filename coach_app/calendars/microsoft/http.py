"""HTTP for the Graph provider: bearer tokens, refresh on 401, retries that
honour ``Retry-After``, and Graph's errors mapped onto the shared hierarchy.

Unlike Google's, this client retries by itself, because one pull is a walk
over many pages and a walk must either complete or fail as a whole: a 429
or 503 on page 40 is waited out (``Retry-After``, else exponential back-off)
and the same page asked for again, up to ``attempts`` times; a wait longer
than ``max_wait`` is not waited here but raised as ``RateLimited`` so the
engine backs off instead. 429 is retried for every method (Graph did not
process the request); 503/504 and dropped connections only for requests
that are safe to repeat (reads, and creates carrying a ``transactionId``).
An access token that expires mid-walk gives 401: the token source is asked
for a new one (``rejected=``) once, and the page is sent again.

Every request carries ``Prefer: IdType="ImmutableId"`` (ids survive moves
between calendars) and ``outlook.timezone="UTC"``.

Mapping (Graph errors reference):

* 401 after one refresh → ``AuthError`` (the spec's reconnect message);
* 403 → ``ProviderError`` ("you can only view this calendar");
* 404 → ``NotFound``; 409/412 → ``PreconditionFailed``;
* 429, and 503 with ``Retry-After`` → ``RateLimited``; other 5xx and
  network failures → ``Transient``. (410 and ``syncStateNotFound`` are
  turned into ``CursorInvalid`` by the delta walk, which knows a token was
  sent.)
"""

from __future__ import annotations

import asyncio
import random
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
from coach_app.calendars.http_util import parse_retry_after
from coach_app.calendars.oauth import AccessTokenSource

Sleep = Callable[[float], Awaitable[None]]
RequestHook = Callable[[httpx.Request], Awaitable[None]]

USER_AGENT = "CoachApp-Graph/1.0"
PREFER = 'IdType="ImmutableId", outlook.timezone="UTC"'
FORBIDDEN_MESSAGE = (
    "Microsoft refused the change: you can only view this calendar. Choose a "
    "calendar you can edit for your appointments."
)
_RETRY_ALWAYS = frozenset({429})
_RETRY_IF_SAFE = frozenset({500, 502, 503, 504})


class GraphHttp:
    """An ``httpx.AsyncClient`` that signs, retries and maps errors."""

    def __init__(
        self,
        tokens: AccessTokenSource,
        *,
        graph_base: str,
        reconnect_message: str,
        timeout: float = 30.0,
        attempts: int = 5,
        max_wait: float = 60.0,
        sleep: Sleep = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: RequestHook | None = None,
    ) -> None:
        self.graph_base = graph_base.rstrip("/")
        self.reconnect_message = reconnect_message
        self.attempts = max(1, attempts)
        self.max_wait = max_wait
        self._tokens = tokens
        self._sleep = sleep
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
        path_or_url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        prefer: str = "",
        safe: bool | None = None,
    ) -> httpx.Response:
        """Send (a path under the Graph base, or a full nextLink/deltaLink URL)
        with retries; returns the final response, whatever its status.

        ``prefer`` adds preferences (``odata.maxpagesize=…``); ``safe`` says
        whether repeating the request after a 5xx or a dropped connection is
        harmless (default: for GET).
        """
        url = path_or_url if "://" in path_or_url else self.graph_base + path_or_url
        repeatable = method == "GET" if safe is None else safe
        all_headers = {"Prefer": f"{PREFER}, {prefer}" if prefer else PREFER}
        all_headers.update(headers or {})
        token = await self._tokens.access_token()
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send(
                    method, url, token, params, json, all_headers
                )
            except Transient:
                if not repeatable or attempt >= self.attempts:
                    raise
                await self._sleep(_backoff(attempt))
                continue
            if response.status_code == 401 and not refreshed:
                token = await self._tokens.access_token(rejected=token)
                refreshed = True
                attempt -= 1  # a renewal, not a failure
                continue
            retryable = response.status_code in _RETRY_ALWAYS or (
                repeatable and response.status_code in _RETRY_IF_SAFE
            )
            if not retryable or attempt >= self.attempts:
                return response
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = _backoff(attempt)
            if wait > self.max_wait:
                return response  # raise_for_status makes it RateLimited
            await self._sleep(wait)

    async def _send(
        self,
        method: str,
        url: str,
        token: str,
        params: Mapping[str, str | int] | None,
        json: Any,
        headers: Mapping[str, str],
    ) -> httpx.Response:
        try:
            async with deadline(request_deadline(), f"{method} {_short(url)}"):
                return await self.client.request(
                    method,
                    url,
                    params=dict(params) if params else None,
                    json=json,
                    headers={"Authorization": f"Bearer {token}", **headers},
                )
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise Transient(
                f"{method} {_short(url)}: {type(exc).__name__}: {exc}"
            ) from exc

    def raise_for_status(self, response: httpx.Response) -> None:
        """Map a non-2xx response onto the shared hierarchy."""
        status = response.status_code
        if status < 300:
            return
        code = error_code(response)
        where = (
            f"{response.request.method} {_short(str(response.request.url))} → {status}"
        )
        if code:
            where += f" ({code})"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 401:
            raise AuthError(where, user_message=self.reconnect_message)
        if status == 403:
            raise ProviderError(where, user_message=FORBIDDEN_MESSAGE)
        if status in (404, 410):
            raise NotFound(where)
        if status in (409, 412):
            raise PreconditionFailed(where)
        if status == 429 or (status == 503 and retry_after is not None):
            raise RateLimited(where, retry_after=retry_after)
        if status >= 500:
            raise Transient(where)
        raise ProviderError(f"{where}: {response.text[:300]}")


def error_code(response: httpx.Response) -> str:
    """The ``error.code`` of Graph's error envelope ("" if there is none)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code") or "") if isinstance(error, dict) else ""


def _backoff(attempt: int) -> float:
    return min(30.0, 0.5 * 2 ** (attempt - 1)) + random.uniform(0, 0.25)


def _short(url: str) -> str:
    """A URL for logs: without its query (tokens live there)."""
    return url.split("?", 1)[0]
