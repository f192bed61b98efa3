"""Google Calendar provider (API v3): its spec, provider and push channels.

Configuration comes from ``COACH_APP_GOOGLE_*`` environment variables (see
``config``); tests and local trials point them at ``sandbox.google``.
"""

from coach_app.calendars.google.config import SCOPES, oauth_config
from coach_app.calendars.google.convert import (
    event_id_for_key,
    key_for_event_id,
    to_ical,
)
from coach_app.calendars.google.provider import GoogleProvider
from coach_app.calendars.google.push import (
    PushNotification,
    WatchChannel,
    is_authentic,
    parse_notification,
)
from coach_app.calendars.google.spec import GOOGLE_SPEC

__all__ = [
    "GOOGLE_SPEC",
    "SCOPES",
    "GoogleProvider",
    "PushNotification",
    "WatchChannel",
    "event_id_for_key",
    "is_authentic",
    "key_for_event_id",
    "oauth_config",
    "parse_notification",
    "to_ical",
]
