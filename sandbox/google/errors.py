"""Google's documented JSON error bodies (Calendar API "Handle API errors" guide).

Every Calendar API error is::

    {"error": {"errors": [{"domain": ..., "reason": ..., "message": ...,
                           "locationType"?: ..., "location"?: ...}],
               "code": <status>, "message": ...}}
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the Calendar API answers with; rendered by ``body()``."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location_type: str | None = None,
        location: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location_type = location_type
        self.location = location
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "domain": self.domain,
            "reason": self.reason,
            "message": self.message,
        }
        if self.location_type:
            item["locationType"] = self.location_type
            item["location"] = self.location
        return {"error": {"errors": [item], "code": self.code, "message": self.message}}


def bad_request(
    message: str, *, reason: str = "invalid", param: str | None = None
) -> ApiError:
    return ApiError(
        400,
        reason,
        message,
        location_type="parameter" if param else None,
        location=param,
    )


def required(what: str) -> ApiError:
    return ApiError(400, "required", f"Missing {what}.")


def unauthorized(*, missing: bool = False) -> ApiError:
    headers = {
        "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
        'error="invalid_token"'
    }
    if missing:
        return ApiError(
            401,
            "required",
            "Login Required.",
            location_type="header",
            location="Authorization",
            headers=headers,
        )
    return ApiError(
        401,
        "authError",
        "Invalid Credentials",
        location_type="header",
        location="Authorization",
        headers=headers,
    )


def insufficient_scopes() -> ApiError:
    return ApiError(
        403,
        "insufficientPermissions",
        "Request had insufficient authentication scopes.",
    )


def not_found() -> ApiError:
    return ApiError(404, "notFound", "Not Found")


def gone_deleted() -> ApiError:
    return ApiError(410, "deleted", "Resource has been deleted")


def full_sync_required() -> ApiError:
    return ApiError(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        domain="calendar",
        location_type="parameter",
        location="syncToken",
    )


def duplicate() -> ApiError:
    return ApiError(409, "duplicate", "The requested identifier already exists.")


def condition_not_met() -> ApiError:
    return ApiError(
        412,
        "conditionNotMet",
        "Precondition Failed",
        location_type="header",
        location="If-Match",
    )


def writer_required() -> ApiError:
    return ApiError(
        403,
        "requiredAccessLevel",
        "You need to have writer access to this calendar.",
        domain="calendar",
    )


def rate_limited(
    status: int = 403,
    reason: str = "rateLimitExceeded",
    retry_after: float | None = None,
) -> ApiError:
    messages = {
        "rateLimitExceeded": "Rate Limit Exceeded",
        "userRateLimitExceeded": "User Rate Limit Exceeded",
        "quotaExceeded": "Calendar usage limits exceeded.",
        "calendarUsageLimitsExceeded": "Calendar usage limits exceeded.",
    }
    headers = {"Retry-After": _seconds(retry_after)} if retry_after is not None else {}
    return ApiError(
        status,
        reason,
        messages.get(reason, "Rate Limit Exceeded"),
        domain="usageLimits",
        headers=headers,
    )


def backend_error(status: int = 503, retry_after: float | None = None) -> ApiError:
    headers = {"Retry-After": _seconds(retry_after)} if retry_after is not None else {}
    message = (
        "The service is currently unavailable." if status == 503 else "Backend Error"
    )
    return ApiError(status, "backendError", message, headers=headers)


def _seconds(value: float) -> str:
    return str(max(0, round(value)))
