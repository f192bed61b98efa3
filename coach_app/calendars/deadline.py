"""A whole-request deadline for every call to a calendar provider.

httpx's timeouts apply to each network operation (connect, one read, one
write): a server that trickles a byte every few seconds never trips them and
can hold a sync, and the lease it runs under, for as long as it likes. Every
provider request therefore runs under one deadline that covers the whole
exchange — redirects, headers and the complete body. When it passes, the
request is cancelled (httpx closes the connection) and ``Transient`` is
raised, so the sync engine backs off as for any network failure.

``COACH_APP_REQUEST_DEADLINE`` (seconds, default 60) sets it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from coach_app.calendars.errors import Transient

DEADLINE_ENV = "COACH_APP_REQUEST_DEADLINE"
DEFAULT_DEADLINE = 60.0
SLOW_MESSAGE = "The calendar server took too long to answer. We will try again shortly."


def request_deadline(environ: dict[str, str] | None = None) -> float:
    """The configured deadline in seconds (a bad value falls back to 60)."""
    raw = (environ if environ is not None else os.environ).get(DEADLINE_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_DEADLINE
    return value if value > 0 else DEFAULT_DEADLINE


@asynccontextmanager
async def deadline(seconds: float, what: str) -> AsyncIterator[None]:
    """Cancel the block after ``seconds``; raise ``Transient`` naming ``what``."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise Transient(
            f"{what}: no complete answer within {seconds:g} s",
            user_message=SLOW_MESSAGE,
        ) from exc
