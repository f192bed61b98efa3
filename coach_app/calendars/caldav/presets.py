"""Connection presets: what the Integrations wizard shows and the defaults the
provider starts from. iCloud differs from any CalDAV server only by these
data (base URL, wording, the app-specific password guidance, quirks)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from coach_app.calendars.caldav.quirks import GENERIC, ServerQuirks
from coach_app.calendars.caldav.quirks import ICLOUD as ICLOUD_QUIRKS


@dataclass(frozen=True)
class CalDAVPreset:
    key: str  # stored as Account.provider and CalendarConnection.provider
    label: str
    service: str  # in a sentence: "your iCloud calendar"
    base_url: str | None  # None: the coach enters it
    base_url_env: str  # overrides base_url (self-hosted trials, tests); "" = none
    username_label: str
    password_label: str
    password_hint: str  # one line under the password field
    help_title: str
    help_steps: tuple[str, ...]  # numbered steps shown above the form
    help_url: str | None
    help_link_label: str
    auth_error_message: str
    quirks: ServerQuirks

    def preset_url(self) -> str | None:
        """The preset server address (``base_url_env`` wins), None: entered."""
        if self.base_url is None:
            return None
        return (os.environ.get(self.base_url_env) if self.base_url_env else None) or (
            self.base_url
        )


ICLOUD = CalDAVPreset(
    key="icloud",
    label="iCloud",
    service="iCloud",
    base_url="https://caldav.icloud.com/",
    base_url_env="COACH_APP_ICLOUD_URL",
    username_label="Apple ID (email address)",
    password_label="App-specific password",
    password_hint=(
        "Not your Apple ID password. It stops working when you change your "
        "Apple ID password; then generate a new one."
    ),
    help_title=(
        "iCloud needs an app-specific password, not your Apple ID password. "
        "To make one:"
    ),
    help_steps=(
        "Sign in to your Apple Account at account.apple.com.",
        "In Sign-In and Security, select App-Specific Passwords.",
        "Select Generate an app-specific password (or the + button), name it "
        "“Coach App”, then follow the steps on your screen.",
        "Copy the password it shows (it looks like xxxx-xxxx-xxxx-xxxx) and "
        "paste it below.",
    ),
    help_url="https://account.apple.com",
    help_link_label="Open your Apple Account page",
    auth_error_message=(
        "Your iCloud app-specific password was rejected. It stops working when "
        "your Apple ID password changes or when it is revoked. Reconnect iCloud "
        "in My Settings → Integrations with a newly generated app-specific password."
    ),
    quirks=ICLOUD_QUIRKS,
)

GENERIC_CALDAV = CalDAVPreset(
    key="caldav",
    label="Other CalDAV server",
    service="CalDAV",
    base_url=None,
    base_url_env="",
    username_label="Username",
    password_label="Password",
    password_hint="If your provider offers app passwords, use one here.",
    help_title="Connect any calendar server that speaks CalDAV:",
    help_steps=(
        "Find the CalDAV address your calendar provider gives (for example "
        "https://calendar.example.com/).",
        "Enter it below with your username and password.",
    ),
    help_url=None,
    help_link_label="",
    auth_error_message=(
        "Your calendar server rejected the username or password. Reconnect the "
        "calendar in My Settings → Integrations."
    ),
    quirks=GENERIC,
)

PRESETS: dict[str, CalDAVPreset] = {p.key: p for p in (ICLOUD, GENERIC_CALDAV)}
