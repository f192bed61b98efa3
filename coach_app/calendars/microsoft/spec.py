"""The Office 365 and Outlook.com specs: one Graph provider, two sign-ins.

Each is offered only when ``COACH_APP_MICROSOFT_CLIENT_ID`` and ``…_SECRET``
are set. The identity platform has no token revocation endpoint for
delegated grants, so Disconnect forgets the tokens and asks nothing of
Microsoft (the coach can remove the app's access in their account).

Change notifications (``POST /webhooks/office365`` or ``/webhooks/outlook``):
a validation request is answered with its token as plain text; a body of
notifications becomes one ``Notification`` per item, named by Graph's
subscription id (``resource_id``) with its ``clientState`` as the secret;
lifecycle events map to ``renew`` (reauthorizationRequired), ``removed``
(subscriptionRemoved) and ``missed``. Answered 202: the sync runs later.
"""

from __future__ import annotations

from collections.abc import Mapping

from coach_app.calendars.microsoft.config import (
    OFFICE365,
    OUTLOOK,
    Preset,
    graph_base_from_env,
    oauth_config,
)
from coach_app.calendars.microsoft.provider import MicrosoftGraphProvider
from coach_app.calendars.microsoft.push import parse_notifications, validation_answer
from coach_app.calendars.oauth import AccessTokenSource
from coach_app.calendars.spec import (
    Credentials,
    Notification,
    OAuthSignIn,
    ProviderFactory,
    ProviderSpec,
    WebhookReply,
)

LIFECYCLE = {
    "reauthorizationRequired": "renew",
    "subscriptionRemoved": "removed",
    "missed": "missed",
}


class GraphPush:
    """Reads ``POST /webhooks/<key>`` for Graph subscriptions."""

    def parse(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookReply:
        handshake = validation_answer(query)
        if handshake is not None:
            return WebhookReply(answer=handshake)
        found = parse_notifications(body)
        if not found:
            return WebhookReply(answer=(400, "text/plain", ""))
        return WebhookReply(
            notifications=[
                Notification(
                    token=note.client_state or "",
                    resource_id=note.subscription_id,
                    changed=note.lifecycle_event is None,
                    lifecycle=LIFECYCLE.get(note.lifecycle_event, "missed")
                    if note.lifecycle_event
                    else "",
                )
                for note in found
            ],
            status=202,
        )


def _builder(preset: Preset) -> ProviderFactory:
    def build(
        credentials: Credentials, tokens: AccessTokenSource | None
    ) -> MicrosoftGraphProvider:
        if tokens is None:
            raise ValueError(f"{preset.label} needs an access token source")
        return MicrosoftGraphProvider(
            tokens, preset=preset, graph_base=graph_base_from_env()
        )

    return build


def _spec(preset: Preset, consent_text: str) -> ProviderSpec:
    return ProviderSpec(
        key=preset.key,
        label=preset.label,
        sign_in=OAuthSignIn(
            config=lambda: oauth_config(preset), consent_text=consent_text
        ),
        build=_builder(preset),
        reconnect_message=preset.reconnect_message,
        push=GraphPush(),
    )


_CONSENT = (
    "Coach App will send you to Microsoft. Sign in there with your {account} "
    "and choose Allow: Coach App may then see your calendars (busy times block "
    "your booking page) and add, change and remove the appointments it puts "
    "into the one calendar you choose next. Your password is never shown to "
    "Coach App."
)
OFFICE365_SPEC = _spec(OFFICE365, _CONSENT.format(account="work or school account"))
OUTLOOK_SPEC = _spec(
    OUTLOOK, _CONSENT.format(account="Outlook.com (Microsoft) account")
)
