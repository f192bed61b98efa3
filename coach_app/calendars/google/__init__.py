"""Google Calendar provider (API v3) and its OAuth 2.0 helpers.

Configuration comes from ``COACH_APP_GOOGLE_*`` environment variables (see
``config``); tests and local trials point them at ``sandbox.google``.
"""

from coach_app.calendars.google.config import SCOPES, GoogleConfig
from coach_app.calendars.google.convert import (
    event_id_for_key,
    key_for_event_id,
    to_ical,
)
from coach_app.calendars.google.oauth import (
    AccessTokenSource,
    AuthorizationRequest,
    GoogleTokens,
    StaticToken,
    TokenSource,
    code_from_callback,
    exchange_code,
    refresh_access_token,
    revoke_token,
    start_authorization,
)
from coach_app.calendars.google.provider import GoogleProvider
from coach_app.calendars.google.push import (
    PushNotification,
    WatchChannel,
    is_authentic,
    parse_notification,
)

__all__ = [
    "SCOPES",
    "AccessTokenSource",
    "AuthorizationRequest",
    "GoogleConfig",
    "GoogleProvider",
    "GoogleTokens",
    "PushNotification",
    "StaticToken",
    "TokenSource",
    "WatchChannel",
    "code_from_callback",
    "event_id_for_key",
    "exchange_code",
    "is_authentic",
    "key_for_event_id",
    "parse_notification",
    "refresh_access_token",
    "revoke_token",
    "start_authorization",
    "to_ical",
]
