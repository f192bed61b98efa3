"""Connection presets: what the Integrations wizard shows and the defaults the
provider starts from. iCloud differs from any CalDAV server only by these
data (base URL, wording, the app-specific password guidance, quirks)."""

from __future__ import annotations

from dataclasses import dataclass

from coach_app.calendars.caldav.quirks import GENERIC, ServerQuirks
from coach_app.calendars.caldav.quirks import ICLOUD as ICLOUD_QUIRKS


@dataclass(frozen=True)
class CalDAVPreset:
    key: str  # stored as Account.provider
    label: str
    base_url: str | None  # None: the coach enters it
    username_label: str
    password_label: str
    password_help: tuple[str, ...]  # steps shown under the password field
    help_url: str | None
    auth_error_message: str
    quirks: ServerQuirks


ICLOUD = CalDAVPreset(
    key="icloud",
    label="iCloud",
    base_url="https://caldav.icloud.com/",
    username_label="Apple ID (email address)",
    password_label="App-specific password",
    password_help=(
        "This is NOT your Apple ID password: iCloud needs a separate "
        "app-specific password for calendar apps.",
        "Sign in to your Apple Account at account.apple.com.",
        "In the Sign-In and Security section, select App-Specific Passwords.",
        "Select Generate an app-specific password, then follow the steps "
        "on your screen.",
        "Copy the password it shows (it looks like xxxx-xxxx-xxxx-xxxx) "
        "and paste it here.",
        "If you later change your Apple ID password, the app-specific password "
        "stops working and you will need to generate a new one.",
    ),
    help_url="https://support.apple.com/en-us/102654",
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
    base_url=None,
    username_label="Username",
    password_label="Password",
    password_help=(
        "Enter the server address your calendar provider gives for CalDAV "
        "(for example https://calendar.example.com/), with your username and password.",
        "If your provider offers app passwords, use one here.",
    ),
    help_url=None,
    auth_error_message=(
        "Your calendar server rejected the username or password. Reconnect the "
        "calendar in My Settings → Integrations."
    ),
    quirks=GENERIC,
)

PRESETS: dict[str, CalDAVPreset] = {p.key: p for p in (ICLOUD, GENERIC_CALDAV)}
