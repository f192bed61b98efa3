"""Where Microsoft lives, who we are to it, and the two presets.

| variable | default |
| --- | --- |
| ``COACH_APP_MICROSOFT_AUTHORITY_URL`` | ``https://login.microsoftonline.com`` |
| ``COACH_APP_MICROSOFT_GRAPH_BASE`` | ``https://graph.microsoft.com/v1.0`` |
| ``COACH_APP_MICROSOFT_CLIENT_ID`` | none (Microsoft is unavailable without it) |
| ``COACH_APP_MICROSOFT_CLIENT_SECRET`` | none |

Presets: Office 365 signs in through the ``organizations`` tenant (work or
school accounts), Outlook.com through ``consumers`` (personal Microsoft
accounts); both then speak the same Graph API.

Scopes: ``offline_access`` (a refresh token), ``User.Read`` (``/me``: who
signed in) and ``Calendars.ReadWrite`` (list calendars and events, write
the push calendar, subscribe to changes). The identity platform asks for
the scopes on every refresh too, and consent cannot be partial.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from coach_app.calendars.oauth import OAuthConfig

AUTHORITY_URL = "https://login.microsoftonline.com"
GRAPH_BASE = "https://graph.microsoft.com/v1.0"
SCOPES = ("offline_access", "User.Read", "Calendars.ReadWrite")


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    tenant: str
    reconnect_message: str


OFFICE365 = Preset(
    key="office365",
    label="Office 365",
    tenant="organizations",
    reconnect_message=(
        "Office 365 no longer accepts Coach App's access to your calendar (it "
        "was revoked, your password changed, or it was not used for too long). "
        "Please reconnect Office 365 in My Settings → Integrations."
    ),
)
OUTLOOK = Preset(
    key="outlook",
    label="Outlook.com",
    tenant="consumers",
    reconnect_message=(
        "Outlook.com no longer accepts Coach App's access to your calendar (it "
        "was revoked, your password changed, or it was not used for too long). "
        "Please reconnect Outlook.com in My Settings → Integrations."
    ),
)
PRESETS = {p.key: p for p in (OFFICE365, OUTLOOK)}


def oauth_config(
    preset: Preset, environ: Mapping[str, str] | None = None
) -> OAuthConfig:
    """The identity platform's endpoints for ``preset``'s tenant; tests point
    them at the sandbox."""
    env = os.environ if environ is None else environ
    authority = (env.get("COACH_APP_MICROSOFT_AUTHORITY_URL") or AUTHORITY_URL).rstrip(
        "/"
    )
    base = f"{authority}/{preset.tenant}/oauth2/v2.0"
    return OAuthConfig(
        client_id=env.get("COACH_APP_MICROSOFT_CLIENT_ID", ""),
        client_secret=env.get("COACH_APP_MICROSOFT_CLIENT_SECRET", ""),
        authorize_url=f"{base}/authorize",
        token_url=f"{base}/token",
        scopes=SCOPES,
        reconnect_message=preset.reconnect_message,
        authorize_params={"response_mode": "query", "prompt": "select_account"},
        scope_on_refresh=True,
    )


def graph_base_from_env(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return (env.get("COACH_APP_MICROSOFT_GRAPH_BASE") or GRAPH_BASE).rstrip("/")
