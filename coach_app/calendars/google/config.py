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
needed and not asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_REVOKE_URL = "https://oauth2.googleapis.com/revoke"
GOOGLE_API_BASE = "https://www.googleapis.com/calendar/v3"
SCOPES = (
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar.events",
)


@dataclass(frozen=True)
class GoogleConfig:
    """OAuth client and endpoints; tests point them at the sandbox."""

    client_id: str = ""
    client_secret: str = ""
    auth_url: str = GOOGLE_AUTH_URL
    token_url: str = GOOGLE_TOKEN_URL
    revoke_url: str = GOOGLE_REVOKE_URL
    api_base: str = GOOGLE_API_BASE
    scopes: tuple[str, ...] = SCOPES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GoogleConfig:
        env = os.environ if environ is None else environ
        return cls(
            client_id=env.get("COACH_APP_GOOGLE_CLIENT_ID", ""),
            client_secret=env.get("COACH_APP_GOOGLE_CLIENT_SECRET", ""),
            auth_url=env.get("COACH_APP_GOOGLE_AUTH_URL") or GOOGLE_AUTH_URL,
            token_url=env.get("COACH_APP_GOOGLE_TOKEN_URL") or GOOGLE_TOKEN_URL,
            revoke_url=env.get("COACH_APP_GOOGLE_REVOKE_URL") or GOOGLE_REVOKE_URL,
            api_base=env.get("COACH_APP_GOOGLE_API_BASE") or GOOGLE_API_BASE,
        )

    @property
    def configured(self) -> bool:
        """True when a client id and secret are set (else hide Google in the UI)."""
        return bool(self.client_id and self.client_secret)


def api_base_from_env(environ: Mapping[str, str] | None = None) -> str:
    return GoogleConfig.from_env(environ).api_base
