"""Fault injection for the EWS sandbox: ``sandbox.common``'s injector, with
Exchange's own error shapes.

Every EWS request is a POST to the same address, so the injector sees each
one under a per-operation path, ``/EWS/Exchange.asmx/<Operation>/``: a
fault injected for ``operation="SyncFolderItems"`` fires only on that
operation, one with ``operation=None`` on any. The common kinds mean:

* ``rate_limit``: HTTP 500 SOAP fault ``ErrorServerBusy`` whose
  ``MessageXml`` holds ``BackOffMilliseconds`` — how EWS throttles ("EWS
  throttling in Exchange", Table 4). EWS never answers 429.
* ``too_many_requests``: HTTP 503 without a SOAP body, IIS's answer when
  EWS requests queue up (Table 4) — the nearest EWS has to a 429.
* ``server_error``: HTTP 500 SOAP fault ``ErrorInternalServerError``.
* ``slow`` and ``drop``: as in ``sandbox.common.faults``.

Changed passwords are state, not faults: ``MailStore.set_password``.
"""

from __future__ import annotations

from sandbox.common.faults import Fault, FaultInjector, FaultKind

PREFIX = "/EWS/Exchange.asmx/"


def fault_path(operation: str | None) -> str:
    return PREFIX + (f"{operation}/" if operation else "")


def inject(
    injector: FaultInjector,
    kind: FaultKind,
    count: int = 1,
    *,
    operation: str | None = None,
    back_off_ms: int | None = None,
    delay: float = 0.0,
) -> Fault:
    """The next ``count`` requests of ``operation`` (any if None) fail."""
    return injector.inject(
        kind,
        count,
        retry_after=back_off_ms / 1000 if back_off_ms is not None else None,
        delay=delay,
        path_prefix=fault_path(operation),
        method="POST",
    )


def take(injector: FaultInjector, operation: str) -> Fault | None:
    return injector.take(fault_path(operation or "-"), "POST")
