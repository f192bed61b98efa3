"""Where Google lives and who we are to it, from the environment.

| variable | default |
| --- | --- |
| ``COACH_APP_GOOGLE_AUTH_URL`` | ``https://accounts.google.com/o/oauth2/v2/auth`` |
| ``COACH_APP_GOOGLE_TOKEN_URL`` | ``https://oauth2.googleapis.com/token`` |
| ``COACH_APP_GOOGLE_REVOKE_URL`` | ``https://oauth2.googleapis.com/revoke`` |
| ``COACH_APP_GOOGLE_API_BASE`` | ``https://www.googleapis.com/calendar/v3`` |
| ``COACH_APP_GOOGLE_CLIENT_ID`` | none (Google is unavailable without it) |
| ``COACH_APP_GOOGLE_CLIENT_SECRET`` | none |

Scopes: ``calendar.readonly`` (calendar list, events of every calendar,
free/busy) plus ``calendar.events`` (write the push calendar's events, watch
channels). The full ``calendar`` scope (sharing, deleting calendars) is not
needed and not asked for. Google lets the coach untick either on its consent
page, so both are required back. ``access_type=offline&prompt=consent``
makes Google return a refresh token every time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from coach_app.calendars.oauth import OAuthConfig

GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_REVOKE_URL = "https://oauth2.googleapis.com/revoke"
GOOGLE_API_BASE = "https://www.googleapis.com/calendar/v3"
SCOPES = (
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar.events",
)
RECONNECT_MESSAGE = (
    "Google no longer accepts Coach App's access to your calendar "
    "(it was revoked or has expired). Please reconnect Google in "
    "My Settings → Integrations."
)


def oauth_config(environ: Mapping[str, str] | None = None) -> OAuthConfig:
    """Google's OAuth client and endpoints; tests point them at the sandbox."""
    env = os.environ if environ is None else environ
    return OAuthConfig(
        client_id=env.get("COACH_APP_GOOGLE_CLIENT_ID", ""),
        client_secret=env.get("COACH_APP_GOOGLE_CLIENT_SECRET", ""),
        authorize_url=env.get("COACH_APP_GOOGLE_AUTH_URL") or GOOGLE_AUTH_URL,
        token_url=env.get("COACH_APP_GOOGLE_TOKEN_URL") or GOOGLE_TOKEN_URL,
        revoke_url=env.get("COACH_APP_GOOGLE_REVOKE_URL") or GOOGLE_REVOKE_URL,
        scopes=SCOPES,
        required_scopes=SCOPES,
        authorize_params={"access_type": "offline", "prompt": "consent"},
        reconnect_message=RECONNECT_MESSAGE,
    )


def api_base_from_env(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("COACH_APP_GOOGLE_API_BASE") or GOOGLE_API_BASE
