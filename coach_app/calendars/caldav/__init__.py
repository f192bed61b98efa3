"""CalDAV provider: iCloud and any CalDAV server (Radicale, Xandikos, …)."""

from coach_app.calendars.caldav.presets import (
    GENERIC_CALDAV,
    ICLOUD,
    PRESETS,
    CalDAVPreset,
)
from coach_app.calendars.caldav.provider import CalDAVProvider
from coach_app.calendars.caldav.quirks import ServerQuirks, identify, quirks_by_name

__all__ = [
    "GENERIC_CALDAV",
    "ICLOUD",
    "PRESETS",
    "CalDAVPreset",
    "CalDAVProvider",
    "ServerQuirks",
    "identify",
    "quirks_by_name",
]
