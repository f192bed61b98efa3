"""Push delivery shared by the provider sandboxes: webhook POSTs made in the
background, in order, from one thread, each outcome recorded.

A sandbox builds a ``PushMessage`` under its state lock (address, headers,
body, and ``meta``: whatever it wants back with the outcome) and hands it to
``PushDeliverer.send``; the delivery thread POSTs it outside the lock and
calls ``on_result(PushResult)``, where the sandbox records the delivery in
its own shape. Nothing is retried here; a sandbox that retries re-sends.

``call_endpoint`` is the synchronous counterpart for handshakes that must
be answered before the API call returns (Graph's subscription validation).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class PushMessage:
    address: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    meta: Any = None


@dataclass(frozen=True)
class PushResult:
    message: PushMessage
    status_code: int | None  # None: no HTTP answer (refused, timed out…)
    error: str | None
    response_text: str
    elapsed: float  # seconds until the answer (or the failure)
    at: float  # when the delivery started (time.time())
    content_type: str = ""


class PushDeliverer:
    """Delivers ``PushMessage``s in order from its own thread."""

    def __init__(
        self,
        on_result: Callable[[PushResult], None],
        *,
        user_agent: str,
        timeout: float = 5.0,
        name: str = "sandbox-push",
    ) -> None:
        self.on_result = on_result
        self.user_agent = user_agent
        self.queue: queue.Queue[PushMessage | None] = queue.Queue()
        self.client = httpx.Client(timeout=timeout, trust_env=False)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def send(self, message: PushMessage) -> None:
        self.queue.put(message)

    def __call__(self, message: PushMessage) -> None:
        self.send(message)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued message was delivered (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return self.queue.unfinished_tasks == 0

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=10)
        self.client.close()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                self.on_result(self._deliver(item))
            finally:
                self.queue.task_done()

    def _deliver(self, item: PushMessage) -> PushResult:
        started = time.time()
        clock = time.monotonic()
        status: int | None = None
        error: str | None = None
        text = ""
        try:
            response = self.client.post(
                item.address,
                headers={**item.headers, "User-Agent": self.user_agent},
                content=item.body,
            )
            status = response.status_code
            text = response.text[:2000]
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        return PushResult(item, status, error, text, time.monotonic() - clock, started)


async def call_endpoint(
    method: str,
    url: str,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    user_agent: str = "",
) -> PushResult:
    """One request to a client's endpoint, awaited (a validation handshake)."""
    started = time.time()
    clock = time.monotonic()
    status: int | None = None
    error: str | None = None
    text = ""
    content_type = ""
    all_headers = dict(headers or {})
    if user_agent:
        all_headers["User-Agent"] = user_agent
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.request(
                method, url, headers=all_headers, content=body
            )
        status = response.status_code
        text = response.text[:2000]
        content_type = response.headers.get("content-type", "")
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return PushResult(
        PushMessage(url, all_headers, body),
        status,
        error,
        text,
        time.monotonic() - clock,
        started,
        content_type,
    )
