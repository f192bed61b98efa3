"""Run the Google sandbox: Starlette on uvicorn in a background thread, on
loopback, plus a delivery thread for push notifications (both from
``sandbox.common``).

One host serves what Google spreads over three (accounts.google.com,
oauth2.googleapis.com, www.googleapis.com); ``GoogleSandbox.env()`` gives the
app's configuration variables pointing at it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from sandbox.common.faults import Fault, FaultMiddleware
from sandbox.common.push import PushDeliverer, PushMessage, PushResult
from sandbox.common.server import RunningServer, SandboxHandle, serve
from sandbox.google import errors
from sandbox.google.api import api_routes
from sandbox.google.oauth_server import (
    AUTH_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    google_oauth_routes,
)
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


def render_fault(fault: Fault) -> tuple[int, dict[str, Any], dict[str, str]]:
    """An injected error in Google's shape (``errors.rate_limited`` etc.)."""
    if fault.kind == "rate_limit":
        error = errors.rate_limited(
            fault.status or 403, fault.reason or "rateLimitExceeded", fault.retry_after
        )
    elif fault.kind == "too_many_requests":
        error = errors.rate_limited(429, "rateLimitExceeded", fault.retry_after)
    else:
        error = errors.backend_error(fault.status or 503, fault.retry_after)
    return error.code, error.body(), error.headers


class _Notifier:
    """Hands Google's notifications to the shared delivery thread and records
    each outcome as a ``Delivery``."""

    def __init__(self, state: GoogleSandboxState) -> None:
        self.state = state
        self.deliverer = PushDeliverer(
            self._record, user_agent=PUSH_USER_AGENT, name="google-sandbox-push"
        )

    def __call__(self, notification: Notification) -> None:
        # Google's notifications carry everything in headers; the body is empty.
        self.deliverer.send(
            PushMessage(notification.address, notification.headers, b"", notification)
        )

    def stop(self) -> None:
        self.deliverer.stop()

    def _record(self, result: PushResult) -> None:
        item: Notification = result.message.meta
        self.state.record_delivery(
            Delivery(
                item.channel_id,
                item.message_number,
                item.resource_state,
                result.status_code,
                result.error,
                dict(item.headers),
            )
        )


def build_app(state: GoogleSandboxState) -> ASGIApp:
    app = Starlette(
        routes=[
            *google_oauth_routes(state),
            Mount("/calendar/v3", routes=api_routes(state)),
        ]
    )
    return FaultMiddleware(
        app,
        state.fault_injector,
        state.requests,
        render_fault,
        drop_body=b'{"kind": "calen',
        record_headers=False,
    )


class GoogleSandbox(SandboxHandle):
    """A running sandbox. ``stop()`` (or ``with``) shuts it down."""

    def __init__(
        self,
        state: GoogleSandboxState,
        server: RunningServer,
        notifier: _Notifier,
        client_id: str,
        client_secret: str,
    ) -> None:
        super().__init__(server, notifier.stop)
        self.state = state
        self.client_id = client_id
        self.client_secret = client_secret

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
    holder: dict[str, Any] = {}

    def factory(base_url: str) -> ASGIApp:
        state = GoogleSandboxState(base_url)
        state.add_client(client_id, client_secret, redirect_uris)
        notifier = _Notifier(state)
        state.notifier = notifier
        holder.update(state=state, notifier=notifier)
        return build_app(state)

    server = serve(
        factory,
        port,
        host=host,
        name="google-sandbox",
        log_level=log_level,
        on_failure=lambda: holder["notifier"].stop() if "notifier" in holder else None,
    )
    return GoogleSandbox(
        holder["state"], server, holder["notifier"], client_id, client_secret
    )
