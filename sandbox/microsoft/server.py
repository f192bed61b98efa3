"""Run the Microsoft sandbox: Starlette on uvicorn in a background thread on
loopback, plus the delivery thread for change notifications (both from
``sandbox.common``).

One host serves what Microsoft spreads over two: the identity platform
(``login.microsoftonline.com``: ``/{tenant}/oauth2/v2.0/authorize`` and
``/token``) and Graph (``graph.microsoft.com/v1.0``).
``MicrosoftSandbox.env()`` gives the app's configuration pointing at it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp

from sandbox.common.faults import Fault, FaultMiddleware
from sandbox.common.oauth_routes import ConsentPage, OAuthPaths, oauth_routes
from sandbox.common.push import PushDeliverer, PushResult
from sandbox.common.server import RunningServer, SandboxHandle, serve
from sandbox.microsoft import errors
from sandbox.microsoft.api import graph_routes
from sandbox.microsoft.authority import scope_label
from sandbox.microsoft.state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    MicrosoftSandboxState,
)

PATHS = OAuthPaths(
    authorize="/{tenant}/oauth2/v2.0/authorize",
    consent="/{tenant}/oauth2/v2.0/authorize/consent",
    token="/{tenant}/oauth2/v2.0/token",
)
LOOK = ConsentPage(
    title="Permissions requested (Microsoft sandbox)",
    intro="<p><strong>{client}</strong> would like to access your Microsoft "
    "account. This app would like to:</p>",
    scope_label=scope_label,
    tickable=False,
    error_title="Sign in: we could not complete your request",
)
PUSH_USER_AGENT = "Microsoft Graph change notifications (sandbox)"


def render_fault(fault: Fault) -> tuple[int, dict[str, Any], dict[str, str]]:
    """An injected error in Graph's shape (429 ApplicationThrottled, 503…)."""
    if fault.kind in ("rate_limit", "too_many_requests"):
        error = errors.throttled(fault.retry_after)
    else:
        error = errors.service_unavailable(fault.retry_after, fault.status or 503)
    return error.status, error.body(), error.headers


def build_app(state: MicrosoftSandboxState) -> ASGIApp:
    app = Starlette(
        routes=[*oauth_routes(state.authority, PATHS, LOOK), *graph_routes(state)]
    )
    return FaultMiddleware(
        app,
        state.fault_injector,
        state.requests,
        render_fault,
        drop_body=b'{"value":[{"id',
    )


class MicrosoftSandbox(SandboxHandle):
    """A running sandbox. ``stop()`` (or ``with``) shuts it down."""

    def __init__(
        self,
        state: MicrosoftSandboxState,
        server: RunningServer,
        deliverer: PushDeliverer,
        client_id: str,
        client_secret: str,
    ) -> None:
        super().__init__(server, deliverer.stop)
        self.state = state
        self.client_id = client_id
        self.client_secret = client_secret
        self.deliverer = deliverer

    @property
    def authority_url(self) -> str:
        """Where ``/{tenant}/oauth2/v2.0/…`` live (login.microsoftonline.com)."""
        return self.base_url

    @property
    def graph_base(self) -> str:
        return self.base_url + "/v1.0"

    def authorize_url(self, tenant: str = "common") -> str:
        return f"{self.base_url}/{tenant}/oauth2/v2.0/authorize"

    def token_url(self, tenant: str = "common") -> str:
        return f"{self.base_url}/{tenant}/oauth2/v2.0/token"

    def env(self) -> dict[str, str]:
        """The app's configuration for talking to this sandbox."""
        return {
            "COACH_APP_MICROSOFT_CLIENT_ID": self.client_id,
            "COACH_APP_MICROSOFT_CLIENT_SECRET": self.client_secret,
            "COACH_APP_MICROSOFT_AUTHORITY_URL": self.authority_url,
            "COACH_APP_MICROSOFT_GRAPH_BASE": self.graph_base,
        }

    def wait_deliveries(self, timeout: float = 10.0) -> bool:
        """Block until every queued webhook call was made."""
        return self.deliverer.wait_idle(timeout)


def start_microsoft_sandbox(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    redirect_uris: Iterable[str] = (),
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    log_level: str = "warning",
) -> MicrosoftSandbox:
    """Start a sandbox on ``host:port`` (0 = a free port) and return its handle.

    One app registration (``client_id``/``client_secret``) is made with
    ``redirect_uris``; add accounts, calendars and events through
    ``handle.state``.
    """
    holder: dict[str, Any] = {}

    def factory(base_url: str) -> ASGIApp:
        state = MicrosoftSandboxState(base_url)
        state.add_client(client_id, client_secret, redirect_uris)

        def record(result: PushResult) -> None:
            with state.lock:
                state.subs.record(result)

        deliverer = PushDeliverer(
            record,
            user_agent=PUSH_USER_AGENT,
            timeout=5.0,
            name="microsoft-sandbox-push",
        )
        state.subs.notifier = deliverer.send
        holder.update(state=state, deliverer=deliverer)
        return build_app(state)

    server = serve(
        factory,
        port,
        host=host,
        name="microsoft-sandbox",
        log_level=log_level,
        on_failure=lambda: (
            holder["deliverer"].stop() if "deliverer" in holder else None
        ),
    )
    return MicrosoftSandbox(
        holder["state"], server, holder["deliverer"], client_id, client_secret
    )
