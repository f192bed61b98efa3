"""Microsoft Graph provider: Office 365 (work or school accounts) and
Outlook.com (personal accounts), one provider with two presets.

Configuration comes from ``COACH_APP_MICROSOFT_*`` environment variables (see
``config``); tests and local trials point them at ``sandbox.microsoft``.
"""

from coach_app.calendars.microsoft.config import (
    OFFICE365,
    OUTLOOK,
    PRESETS,
    SCOPES,
    Preset,
    oauth_config,
)
from coach_app.calendars.microsoft.provider import MicrosoftGraphProvider
from coach_app.calendars.microsoft.push import (
    GraphNotification,
    GraphSubscription,
    is_authentic,
    parse_notifications,
    validation_answer,
)
from coach_app.calendars.microsoft.spec import OFFICE365_SPEC, OUTLOOK_SPEC

__all__ = [
    "OFFICE365",
    "OFFICE365_SPEC",
    "OUTLOOK",
    "OUTLOOK_SPEC",
    "PRESETS",
    "SCOPES",
    "GraphNotification",
    "GraphSubscription",
    "MicrosoftGraphProvider",
    "Preset",
    "is_authentic",
    "oauth_config",
    "parse_notifications",
    "validation_answer",
]
