"""A webhook endpoint on loopback for Graph change notifications in tests.

It answers the validation handshake the way it is told (``mode``), records
every call, and lets a test wait for one without sleeping.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Call:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text

    @property
    def validation_token(self) -> str | None:
        return self.query.get("validationToken")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a caller that gave up waiting (a "slow" answer) is expected


class WebhookReceiver:
    """``mode``: "ok" (correct handshake), "encoded" (echo the token still
    URL-encoded), "status" (answer ``status``), "json" (wrong content type),
    "slow" (wait ``delay`` seconds first)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.status = 202
        self.delay = 0.0
        self.calls: list[Call] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                call = Call(parts.path, query, dict(self.headers.items()), body)
                # Recorded before answering: whoever waits for the answer (the
                # sandbox's handshake, so the test) then finds the call here.
                with receiver._changed:
                    receiver.calls.append(call)
                    receiver._changed.notify_all()
                if receiver.mode == "slow":
                    time.sleep(receiver.delay)
                status, content_type, text = receiver.answer(call, parts.query)
                payload = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def answer(self, call: Call, raw_query: str) -> tuple[int, str, str]:
        token = call.validation_token
        if token is None:
            return (self.status if self.mode == "status" else 202), "text/plain", ""
        if self.mode == "status":
            return self.status, "text/plain", token
        if self.mode == "json":
            return 200, "application/json", json.dumps(token)
        if self.mode == "encoded":
            return 200, "text/plain", raw_query.split("validationToken=", 1)[1]
        return 200, "text/plain; charset=utf-8", token

    def notifications(self) -> list[dict[str, Any]]:
        """Every change or lifecycle notification item received so far."""
        with self._changed:
            return self._items()

    def _items(self) -> list[dict[str, Any]]:
        return [
            item
            for call in self.calls
            if call.validation_token is None and isinstance(call.body, dict)
            for item in call.body.get("value", [])
        ]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until ``predicate(notifications())`` holds; return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                items = self._items()
                if predicate(items):
                    return items
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no such notification within {timeout}s: {items}"
                    )
                self._changed.wait(remaining)

    def reset(self) -> None:
        with self._changed:
            self.calls.clear()
        self.mode, self.status, self.delay = "ok", 202, 0.0

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
