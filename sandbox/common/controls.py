"""Test controls every sandbox state offers, on top of its authority, fault
injector and request log (``self.authority``, ``self.fault_injector``,
``self.requests``): a mixin, so each sandbox keeps one flat control surface.

A sandbox sets ``fault_path_prefix`` (where injected faults apply by
default: its API), ``default_client`` and ``fault_reason`` (the default error reason, if its
error bodies carry one).
"""

from __future__ import annotations

from collections.abc import Iterable

from sandbox.common.faults import (
    Fault,
    FaultInjector,
    FaultKind,
    RequestLog,
    RequestRecord,
)
from sandbox.common.oauth import Grant, OAuthAuthority, OAuthClient, User


class SandboxControls:
    authority: OAuthAuthority
    fault_injector: FaultInjector
    requests: RequestLog
    default_client = ("", "")  # (client id, secret) add_client registers
    fault_path_prefix = "/"
    fault_reason = ""

    def add_client(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uris: Iterable[str] = (),
        name: str = "Coach App",
    ) -> OAuthClient:
        """Register (or extend) an OAuth client (the sandbox's default one
        unless told otherwise) with its redirect URIs."""
        return self.authority.add_client(
            client_id or self.default_client[0],
            client_secret or self.default_client[1],
            redirect_uris,
            name,
        )

    @property
    def users(self) -> dict[str, User]:
        return self.authority.users

    @property
    def grants(self) -> dict[str, Grant]:
        return self.authority.grants

    @property
    def faults(self) -> list[Fault]:
        return self.fault_injector.faults

    def expire_access_tokens(self, email: str | None = None) -> int:
        """Make access tokens (of one user, or all) expired now."""
        return self.authority.expire_access_tokens(email)

    def inject_fault(
        self,
        kind: FaultKind,
        count: int = 1,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        reason: str | None = None,
        path_prefix: str | None = None,
        method: str | None = None,
    ) -> Fault:
        """The next ``count`` requests under ``path_prefix`` (the API by
        default) and ``method`` (any by default) fail as ``kind`` says; see
        ``sandbox.common.faults`` and the sandbox's own error shapes."""
        return self.fault_injector.inject(
            kind,
            count,
            status=status,
            retry_after=retry_after,
            delay=delay,
            reason=self.fault_reason if reason is None else reason,
            path_prefix=self.fault_path_prefix if path_prefix is None else path_prefix,
            method=method,
        )

    def clear_faults(self) -> None:
        self.fault_injector.clear()

    def request_log(self) -> list[RequestRecord]:
        """A copy of every request received so far (oldest first)."""
        return self.requests.snapshot()
