"""Fault injection and the request log, shared by the provider sandboxes.

``FaultInjector.inject(kind, count, …)`` makes the next ``count`` requests
that match (``path_prefix``, optional ``method``) fail; each fault counts
how often it fired (``fired``). Kinds:

* ``rate_limit`` / ``too_many_requests`` / ``server_error``: an error
  response drawn by the provider's ``ErrorRenderer`` (its own body shape;
  ``Retry-After`` when ``retry_after`` is set);
* ``slow``: wait ``delay`` seconds, then answer normally;
* ``drop``: promise a body, send part of it and close the connection (the
  client sees a dropped connection / incomplete read).

Revoked grants and evicted sync tokens are state changes, not faults: the
OAuth authority (``revoke``) and each sandbox's state offer them.

``FaultMiddleware`` wraps a sandbox's ASGI app: it records every request in
a ``RequestLog`` and applies the first matching fault before routing.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from starlette.types import ASGIApp, Receive, Scope, Send

FaultKind = Literal["rate_limit", "too_many_requests", "server_error", "slow", "drop"]
ERROR_KINDS = frozenset({"rate_limit", "too_many_requests", "server_error"})


@dataclass
class Fault:
    """The next ``remaining`` requests under ``path_prefix`` fail this way."""

    kind: FaultKind
    remaining: int
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    reason: str = ""
    path_prefix: str = "/"
    method: str | None = None  # None: any method
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and path.startswith(self.path_prefix)
            and (self.method is None or self.method.upper() == method.upper())
        )


class FaultInjector:
    """A thread-safe list of pending faults (see the module docstring)."""

    def __init__(self, *, lock: threading.RLock | None = None) -> None:
        self.lock = lock or threading.RLock()
        self.faults: list[Fault] = []
        self.spent: list[Fault] = []  # faults that fired their last time

    def inject(
        self,
        kind: FaultKind,
        count: int = 1,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        reason: str = "",
        path_prefix: str = "/",
        method: str | None = None,
    ) -> Fault:
        if count < 1:
            raise ValueError("count must be at least 1")
        fault = Fault(
            kind, count, status, retry_after, delay, reason, path_prefix, method
        )
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def take(self, path: str, method: str = "GET") -> Fault | None:
        """The fault to apply to this request (a copy), or None."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    fault.fired += 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                        self.spent.append(fault)
                    return replace(fault)
            return None

    def pending(self) -> list[Fault]:
        with self.lock:
            return [replace(f) for f in self.faults]


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    at: float
    headers: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)


class RequestLog:
    """The last ``size`` requests a sandbox received (thread-safe)."""

    def __init__(self, size: int = 5000, *, lock: threading.RLock | None = None):
        self.lock = lock or threading.RLock()
        self.records: deque[RequestRecord] = deque(maxlen=size)

    def record(
        self,
        method: str,
        path: str,
        query: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        with self.lock:
            self.records.append(
                RequestRecord(method, path, query, time.time(), headers)
            )

    def snapshot(self) -> list[RequestRecord]:
        with self.lock:
            return list(self.records)


# (status, JSON body, headers) of an error-kind fault, in the provider's shape.
ErrorRenderer = Callable[[Fault], tuple[int, dict[str, Any], dict[str, str]]]


class FaultMiddleware:
    """Records every request and applies injected faults before routing."""

    def __init__(
        self,
        app: ASGIApp,
        faults: FaultInjector,
        log: RequestLog,
        render_error: ErrorRenderer,
        *,
        drop_body: bytes = b'{"value": [',
        record_headers: bool = True,
    ) -> None:
        self.app = app
        self.faults = faults
        self.log = log
        self.render_error = render_error
        self.drop_body = drop_body
        self.record_headers = record_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        headers: tuple[tuple[str, str], ...] = ()
        if self.record_headers:
            headers = tuple(
                (k.decode("latin-1").lower(), v.decode("latin-1"))
                for k, v in scope.get("headers", [])
                if k.lower() != b"authorization"
            )
        self.log.record(
            method, path, scope.get("query_string", b"").decode("latin-1"), headers
        )
        fault = self.faults.take(path, method)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            await self.app(scope, receive, send)
            return
        if fault.kind == "drop":
            await drop_connection(send, self.drop_body)
            return
        status, body, extra = self.render_error(fault)
        payload = json.dumps(body).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(payload)).encode()),
                    *[
                        (k.encode("latin-1"), v.encode("latin-1"))
                        for k, v in extra.items()
                    ],
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


async def drop_connection(send: Send, partial: bytes) -> None:
    """Promise a body, send part of it, stop: uvicorn closes the connection,
    which the client sees as a dropped connection."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json; charset=UTF-8"),
                (b"content-length", b"4096"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": partial, "more_body": True})


def retry_after_header(value: float | None) -> dict[str, str]:
    """``{"Retry-After": seconds}`` (whole seconds, RFC 9110), or nothing."""
    if value is None:
        return {}
    return {"Retry-After": str(max(0, round(value)))}
