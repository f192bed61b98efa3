"""exchangelib, kept off the event loop and mapped onto the shared errors.

* One ``exchangelib.Account`` per provider, configured without probing
  (PROVIDERS.md): the given EWS address, NTLM or Basic authentication (as
  sign-in chose from the server's 401, ``auth``),
  ``RequestServerVersion`` Exchange2016 — exchangelib falls back to older
  schema versions by itself when a server refuses it — and a fail-fast
  retry policy, so that waiting is decided here.
* Every blocking call runs in a worker thread (``asyncio.to_thread``); one
  call is one EWS request (or one exchangelib page loop kept short).
* ``ErrorServerBusy`` (EWS throttling, an HTTP 500 SOAP fault with
  ``BackOffMilliseconds``): the request is repeated after the time the
  server names, waiting on the event loop, while the total wait for one
  operation stays within ``max_back_off`` (60 s by default); beyond that it
  raises ``RateLimited(retry_after=<the server's value>)`` so the sync
  engine reschedules instead of holding a worker.
* exchangelib re-raises connection failures, HTTP 503 and similar outages
  as a synthetic ``ErrorServerBusy`` ("Reraised from …", "Caused by …");
  those are ``Transient``, not throttling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from exchangelib import (
    BASIC,
    DELEGATE,
    NTLM,
    Account,
    Build,
    Configuration,
    Credentials,
    Version,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    ErrorFolderNotFound,
    ErrorInternalServerError,
    ErrorInternalServerTransientError,
    ErrorInvalidChangeKey,
    ErrorInvalidIdMalformed,
    ErrorInvalidSyncStateData,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorServerBusy,
    ErrorStaleObject,
    ErrorSyncFolderNotFound,
    ErrorTimeoutExpired,
    EWSError,
    MalformedResponseError,
    RedirectError,
    SOAPError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.protocol import BaseProtocol, FailFast, Protocol

from coach_app.calendars.deadline import deadline, request_deadline
from coach_app.calendars.errors import (
    AuthError,
    CursorInvalid,
    NotCalendarServer,
    NotFound,
    PreconditionFailed,
    ProviderError,
    RateLimited,
    Transient,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_BACK_OFF = 10.0  # seconds, when ErrorServerBusy names none
AUTH_MESSAGE = (
    "Exchange did not accept the saved email address and password. If you "
    "changed your password, reconnect the calendar in My Settings → Integrations."
)
_SYNTHETIC = ("Reraised from", "Caused by")
BaseProtocol.USERAGENT = "CoachApp-EWS/1.0"


def make_account(
    ews_url: str,
    email: str,
    password: str,
    *,
    username: str | None = None,
    auth: str = "basic",
    timeout: float = 30.0,
) -> Account:
    """An exchangelib account that sends nothing until it is used."""
    auth_type = NTLM if auth == "ntlm" else BASIC
    config = Configuration(
        service_endpoint=ews_url,
        credentials=Credentials(username or email, password),
        auth_type=auth_type,
        version=Version(build=Build(15, 1), api_version="Exchange2016"),
        retry_policy=FailFast(),
        max_connections=4,
    )
    account = Account(email, config=config, autodiscover=False, access_type=DELEGATE)
    if account.protocol.auth_type != auth_type:
        # exchangelib shares one protocol per address and credentials and
        # leaves the auth type out of that key: a protocol made for the
        # other scheme (the server changed, the coach reconnected) would
        # keep it. Providers holding it keep it; new ones get their own.
        with contextlib.suppress(KeyError):
            del Protocol[config]
        account = Account(
            email, config=config, autodiscover=False, access_type=DELEGATE
        )
    # exchangelib reads the timeout from the protocol at each request; set
    # on the class it would be every account's (one protocol is shared by
    # the accounts of one address and user only).
    account.protocol.TIMEOUT = timeout
    return account


class EwsCaller:
    """Runs blocking exchangelib calls in threads with back-off and error mapping."""

    def __init__(
        self,
        *,
        max_back_off: float = 60.0,
        sleep: Callable[[float], object] | None = None,
        on_request: Callable[[str], None] | None = None,
    ) -> None:
        self.max_back_off = max_back_off
        self._sleep = sleep or asyncio.sleep
        self.on_request = on_request
        self.waited = 0.0  # seconds spent backing off, all calls together

    async def __call__(self, what: str, fn: Callable[[], T]) -> T:
        waited = 0.0
        while True:
            try:
                # The thread cannot be stopped, but the sync stops waiting:
                # a trickling server cannot hold it beyond the deadline.
                async with deadline(request_deadline(), what):
                    return await asyncio.to_thread(fn)
            except ErrorServerBusy as exc:
                if str(exc).startswith(_SYNTHETIC):
                    raise Transient(f"{what}: {exc}") from exc
                back_off = float(exc.back_off or DEFAULT_BACK_OFF)
                if waited + back_off > self.max_back_off:
                    raise RateLimited(
                        f"{what}: ErrorServerBusy", retry_after=back_off
                    ) from exc
                log.info("%s: server busy, retrying in %.1f s", what, back_off)
                began = time.monotonic()
                result = self._sleep(back_off)
                if asyncio.iscoroutine(result):
                    await result
                waited += back_off
                self.waited += time.monotonic() - began
            except ProviderError:
                raise
            except Exception as exc:  # noqa: BLE001 - mapped, re-raised
                raise map_error(what, exc) from exc


def map_error(what: str, exc: BaseException) -> ProviderError:
    """The shared error for an exchangelib or network exception."""
    detail = f"{what}: {type(exc).__name__}: {exc}"
    if isinstance(exc, UnauthorizedError | ErrorAccessDenied):
        return AuthError(detail, user_message=AUTH_MESSAGE)
    if isinstance(exc, ErrorInvalidSyncStateData):
        return CursorInvalid(detail)
    if isinstance(
        exc,
        ErrorItemNotFound
        | ErrorFolderNotFound
        | ErrorSyncFolderNotFound
        | ErrorInvalidIdMalformed
        | ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    ):
        return NotFound(detail)
    if isinstance(
        exc, ErrorIrresolvableConflict | ErrorStaleObject | ErrorInvalidChangeKey
    ):
        return PreconditionFailed(detail)
    if isinstance(
        exc,
        ErrorTimeoutExpired
        | ErrorInternalServerError
        | ErrorInternalServerTransientError,
    ):
        return Transient(detail)
    if isinstance(exc, RedirectError):
        # EWS requests never follow redirects: the address is not the endpoint.
        return NotCalendarServer(f"{detail} (redirected to {exc.url})")
    if isinstance(exc, SOAPError | MalformedResponseError):
        return NotCalendarServer(detail)
    if isinstance(exc, TransportError | requests.RequestException | OSError):
        return Transient(detail)
    if isinstance(exc, EWSError):
        return ProviderError(detail)
    return ProviderError(detail)
