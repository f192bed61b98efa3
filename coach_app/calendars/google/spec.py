"""The Google Calendar spec: OAuth consent, the API v3 provider, push channels.

Offered only when ``COACH_APP_GOOGLE_CLIENT_ID`` and ``…_SECRET`` are set.
Notifications (``events.watch``) carry only headers; the first one of a
channel (``X-Goog-Resource-State: sync``) says nothing changed yet.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from coach_app.calendars.errors import ProviderError
from coach_app.calendars.google.config import (
    RECONNECT_MESSAGE,
    api_base_from_env,
    oauth_config,
)
from coach_app.calendars.google.provider import GoogleProvider
from coach_app.calendars.google.push import parse_notification
from coach_app.calendars.oauth import AccessTokenSource, OAuthTokens, revoke_token
from coach_app.calendars.spec import (
    Credentials,
    Notification,
    OAuthSignIn,
    ProviderSpec,
    WebhookReply,
)

log = logging.getLogger(__name__)

_CHANGED = frozenset({"exists", "not_exists"})


def _build(
    credentials: Credentials, tokens: AccessTokenSource | None
) -> GoogleProvider:
    if tokens is None:
        raise ValueError("Google needs an access token source")
    return GoogleProvider(tokens, api_base=api_base_from_env())


async def _revoke(credentials: Credentials) -> None:
    """Best effort on Disconnect: a grant already revoked, or unreadable,
    needs no revoking."""
    try:
        tokens = OAuthTokens.from_json(credentials.secret)
        token = tokens.refresh_token or tokens.access_token
        if token:
            await revoke_token(oauth_config(), token)
    except (ProviderError, ValueError, KeyError) as exc:
        log.warning("revoking a Google grant failed: %s", exc)


class GooglePush:
    """``POST /webhooks/google``: one notification per request, in headers."""

    def parse(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookReply:
        found = parse_notification(headers)
        if found is None:
            return WebhookReply(answer=(400, "text/plain", ""))
        return WebhookReply(
            notifications=[
                Notification(
                    token=found.token or "",
                    channel_id=found.channel_id,
                    resource_id=found.resource_id,
                    changed=found.resource_state in _CHANGED,
                )
            ]
        )


GOOGLE_SPEC = ProviderSpec(
    key="google",
    label="Google",
    sign_in=OAuthSignIn(
        config=oauth_config,
        consent_text=(
            "Coach App will send you to Google. Sign in there and choose Allow: "
            "Coach App may then see your calendars (busy times block your "
            "booking page) and add, change and remove the appointments it puts "
            "into the one calendar you choose next. Your Google password is "
            "never shown to Coach App."
        ),
    ),
    build=_build,
    reconnect_message=RECONNECT_MESSAGE,
    revoke=_revoke,
    push=GooglePush(),
)
