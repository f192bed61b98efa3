"""Graph's error envelope (learn.microsoft.com/graph/errors) and the codes the
sandbox answers with.

Every Graph error is::

    {"error": {"code": ..., "message": ...,
               "innerError": {"date": ..., "request-id": ..., "client-request-id": ...}}}

Outlook-backed calls use Exchange codes (``ErrorItemNotFound``,
``ErrorInvalidIdMalformed``, ``ErrorIrresolvableConflict``,
``ErrorAccessDenied``); throttling is ``ApplicationThrottled`` (429) or
``serviceNotAvailable`` (503), both with ``Retry-After``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.common.faults import retry_after_header

# What Graph sends in WWW-Authenticate with a 401.
WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
    'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
)


class GraphError(Exception):
    """An error the Graph API answers with; rendered by ``body()``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self, client_request_id: str | None = None) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        inner = {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id,
            "client-request-id": client_request_id or request_id,
        }
        return {
            "error": {"code": self.code, "message": self.message, "innerError": inner}
        }


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def duplicate_transaction() -> GraphError:
    """Outlook's answer to a create whose ``transactionId`` already made a
    different event (the code and text Outlook sends; Graph's reference
    does not list them)."""
    return GraphError(
        400,
        "ErrorDuplicateTransactionId",
        "Your request can't be completed. The TransactionId specified in the "
        "request has already been used to create a different event.",
    )


def invalid_parameter(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidParameter", message)


def unauthenticated(message: str = "Access token is empty.") -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    )


def access_denied(
    message: str = "Access is denied. Check credentials and try again.",
) -> GraphError:
    return GraphError(403, "ErrorAccessDenied", message)


def item_not_found() -> GraphError:
    return GraphError(
        404, "ErrorItemNotFound", "The specified object was not found in the store."
    )


def id_malformed() -> GraphError:
    return GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")


def resource_not_found(segment: str) -> GraphError:
    return GraphError(
        400, "BadRequest", f"Resource not found for the segment '{segment}'."
    )


def conflict_change_key() -> GraphError:
    return GraphError(
        412,
        "ErrorIrresolvableConflict",
        "The send or update operation could not be performed because the change "
        "key passed in the request does not match the current change key for the "
        "item.",
    )


def sync_state_not_found(
    status: int = 410, code: str = "SyncStateNotFound", location: str | None = None
) -> GraphError:
    headers = {"Location": location} if location else None
    return GraphError(
        status,
        code,
        "The sync state generation is not found. The delta token is expired and "
        "data must be synchronized again.",
        headers=headers,
    )


def throttled(
    retry_after: float | None = 1.0, *, concurrency: bool = True
) -> GraphError:
    message = (
        "Application is over its MailboxConcurrency limit."
        if concurrency
        else "Application is over its IncomingBytes limit."
    )
    return GraphError(
        429, "ApplicationThrottled", message, headers=retry_after_header(retry_after)
    )


def service_unavailable(
    retry_after: float | None = None, status: int = 503
) -> GraphError:
    messages = {
        500: ("generalException", "An unspecified error has occurred."),
        502: ("BadGateway", "The service is temporarily unavailable."),
        503: ("serviceNotAvailable", "The service is temporarily unavailable."),
        504: ("UnknownError", "The request timed out."),
    }
    code, message = messages.get(status, ("generalException", "Server error."))
    return GraphError(status, code, message, headers=retry_after_header(retry_after))
