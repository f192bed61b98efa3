"""The iCloud and "Other CalDAV server" specs: one protocol, two presets.

iCloud's server address is preset (``COACH_APP_ICLOUD_URL`` points it at
any CalDAV server for a local trial); any other server's is entered. A bare
host name is taken as ``https://host``.
"""

from __future__ import annotations

from collections.abc import Mapping

from coach_app.calendars.caldav.presets import GENERIC_CALDAV, CalDAVPreset
from coach_app.calendars.caldav.presets import ICLOUD as ICLOUD_PRESET
from coach_app.calendars.caldav.provider import CalDAVProvider
from coach_app.calendars.caldav.quirks import quirks_by_name
from coach_app.calendars.oauth import AccessTokenSource
from coach_app.calendars.spec import (
    Credentials,
    FormField,
    HelpLink,
    PasswordSignIn,
    ProviderSpec,
    SignInError,
)

SERVER_URL = FormField(
    "server_url",
    "Server address",
    type="url",
    placeholder="https://calendar.example.com/",
    autocomplete="url",
)


def _server_url(preset: CalDAVPreset, form: Mapping[str, str]) -> str:
    preset_url = preset.preset_url()
    if preset_url is not None:
        return preset_url
    url = (form.get("server_url") or "").strip()
    if not url:
        raise SignInError("Please enter your calendar server's address.")
    return url if "://" in url else "https://" + url


def _sign_in(preset: CalDAVPreset) -> PasswordSignIn:
    fields: tuple[FormField, ...] = () if preset.base_url else (SERVER_URL,)
    fields += (
        FormField("username", preset.username_label, autocomplete="username"),
        FormField(
            "password",
            preset.password_label,
            type="password",
            autocomplete="current-password",
            hint=preset.password_hint,
        ),
    )

    def credentials(form: Mapping[str, str]) -> Credentials:
        return Credentials(
            server_url=_server_url(preset, form),
            username=(form.get("username") or "").strip(),
            secret=form.get("password") or "",
        )

    return PasswordSignIn(
        fields=fields,
        help_title=preset.help_title,
        help_steps=preset.help_steps,
        help_link=(
            HelpLink(preset.help_link_label, preset.help_url)
            if preset.help_url
            else None
        ),
        credentials=credentials,
    )


def _builder(preset: CalDAVPreset):
    def build(
        credentials: Credentials, _tokens: AccessTokenSource | None
    ) -> CalDAVProvider:
        quirks = (
            quirks_by_name(credentials.server_profile)
            if credentials.server_profile
            else None
        )
        return CalDAVProvider(
            credentials.server_url or None,
            credentials.username,
            credentials.secret,
            preset=preset,
            quirks=quirks,
        )

    return build


def _spec(preset: CalDAVPreset) -> ProviderSpec:
    return ProviderSpec(
        key=preset.key,
        label=preset.label,
        sign_in=_sign_in(preset),
        build=_builder(preset),
        reconnect_message=preset.auth_error_message,
        service=preset.service,
    )


ICLOUD_SPEC = _spec(ICLOUD_PRESET)
CALDAV_SPEC = _spec(GENERIC_CALDAV)
