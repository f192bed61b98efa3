"""Run the Google sandbox: Starlette on uvicorn in a background thread, on
loopback, plus a delivery thread for push notifications.

One host serves what Google spreads over three (accounts.google.com,
oauth2.googleapis.com, www.googleapis.com); ``GoogleSandbox.env()`` gives the
app's configuration variables pointing at it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import socket
import threading
import time
from collections.abc import Iterable
from types import TracebackType

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.google import errors
from sandbox.google.api import api_routes
from sandbox.google.oauth_server import AUTH_PATH, REVOKE_PATH, TOKEN_PATH, oauth_routes
from sandbox.google.state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Delivery,
    GoogleSandboxState,
    Notification,
)

log = logging.getLogger(__name__)

# What Google's push service sends as User-Agent.
PUSH_USER_AGENT = (
    "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"
)


class FaultMiddleware:
    """Records every request and applies injected faults before routing."""

    def __init__(self, app: ASGIApp, state: GoogleSandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        self.state.record_request(
            scope["method"], path, scope.get("query_string", b"").decode("latin-1")
        )
        fault = self.state.take_fault(path)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            await self.app(scope, receive, send)
            return
        if fault.kind == "drop":
            # Promise a body, send part of it, stop: uvicorn closes the
            # connection, which the client sees as a dropped connection.
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
            await send(
                {
                    "type": "http.response.body",
                    "body": b'{"kind": "calen',
                    "more_body": True,
                }
            )
            return
        if fault.kind == "rate_limit":
            error = errors.rate_limited(
                fault.status or 403, fault.reason, fault.retry_after
            )
        elif fault.kind == "too_many_requests":
            error = errors.rate_limited(429, "rateLimitExceeded", fault.retry_after)
        else:
            error = errors.backend_error(fault.status or 503, fault.retry_after)
        response = JSONResponse(
            error.body(), status_code=error.code, headers=error.headers
        )
        await response(scope, receive, send)


class _Notifier:
    """Delivers push notifications in order from its own thread."""

    def __init__(self, state: GoogleSandboxState, timeout: float = 5.0) -> None:
        self.state = state
        self.queue: queue.Queue[Notification | None] = queue.Queue()
        self.client = httpx.Client(timeout=timeout, trust_env=False)
        self.thread = threading.Thread(
            target=self._run, name="google-sandbox-push", daemon=True
        )
        self.thread.start()

    def __call__(self, notification: Notification) -> None:
        self.queue.put(notification)

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=10)
        self.client.close()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            status: int | None = None
            error: str | None = None
            try:
                response = self.client.post(
                    item.address,
                    headers={**item.headers, "User-Agent": PUSH_USER_AGENT},
                    content=b"",
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.state.record_delivery(
                Delivery(
                    item.channel_id,
                    item.message_number,
                    item.resource_state,
                    status,
                    error,
                    dict(item.headers),
                )
            )


def build_app(state: GoogleSandboxState) -> ASGIApp:
    app = Starlette(
        routes=[*oauth_routes(state), Mount("/calendar/v3", routes=api_routes(state))]
    )
    return FaultMiddleware(app, state)


class GoogleSandbox:
    """A running sandbox. ``stop()`` (or ``with``) shuts it down."""

    def __init__(
        self,
        state: GoogleSandboxState,
        server: uvicorn.Server,
        thread: threading.Thread,
        notifier: _Notifier,
        base_url: str,
        client_id: str,
        client_secret: str,
    ) -> None:
        self.state = state
        self.base_url = base_url
        self.client_id = client_id
        self.client_secret = client_secret
        self._server = server
        self._thread = thread
        self._notifier = notifier

    @property
    def auth_url(self) -> str:
        return self.base_url + AUTH_PATH

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    @property
    def revoke_url(self) -> str:
        return self.base_url + REVOKE_PATH

    @property
    def api_base(self) -> str:
        return self.base_url + "/calendar/v3"

    def env(self) -> dict[str, str]:
        """The app's configuration for talking to this sandbox."""
        return {
            "COACH_APP_GOOGLE_AUTH_URL": self.auth_url,
            "COACH_APP_GOOGLE_TOKEN_URL": self.token_url,
            "COACH_APP_GOOGLE_REVOKE_URL": self.revoke_url,
            "COACH_APP_GOOGLE_API_BASE": self.api_base,
            "COACH_APP_GOOGLE_CLIENT_ID": self.client_id,
            "COACH_APP_GOOGLE_CLIENT_SECRET": self.client_secret,
        }

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._notifier.stop()

    def __enter__(self) -> GoogleSandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_google_sandbox(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    redirect_uris: Iterable[str] = (),
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    log_level: str = "warning",
) -> GoogleSandbox:
    """Start a sandbox on ``host:port`` (0 = a free port) and return its handle.

    One OAuth client (``client_id``/``client_secret``) is registered with
    ``redirect_uris``; add users, calendars and more clients through
    ``handle.state``.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound_port = sock.getsockname()[1]
    base_url = f"http://{host}:{bound_port}"
    state = GoogleSandboxState(base_url)
    state.add_client(client_id, client_secret, redirect_uris)
    notifier = _Notifier(state)
    state.notifier = notifier
    config = uvicorn.Config(
        build_app(state),
        log_level=log_level,
        access_log=False,
        http="h11",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run,
        kwargs={"sockets": [sock]},
        name=f"google-sandbox-{bound_port}",
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            notifier.stop()
            raise RuntimeError("the Google sandbox did not start")
        time.sleep(0.01)
    return GoogleSandbox(
        state, server, thread, notifier, base_url, client_id, client_secret
    )
