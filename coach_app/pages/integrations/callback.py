"""``/oauth/<key>/callback``: where a provider sends the coach back after consent.

``OAuthState.oauth_return`` checks the one-time ``state`` and starts the code
exchange in the background; on success the browser returns to Settings →
Integrations at "choose calendars". On any failure this page says what
happened in plain words; nothing is saved.
"""

from __future__ import annotations

import reflex as rx

from coach_app.components.forms import error_callout
from coach_app.components.layout import template
from coach_app.pages.integrations.oauth_state import OAuthState


@template(
    "/oauth/[provider]/callback",
    "Connecting your calendar",
    on_load=[OAuthState.oauth_return],
)
def oauth_callback_page() -> rx.Component:
    return rx.vstack(
        rx.heading("Connect your calendar", size="6"),
        rx.match(
            OAuthState.oauth_phase,
            (
                "error",
                rx.vstack(
                    error_callout(OAuthState.oauth_message),
                    rx.button(
                        "Back to Integrations",
                        variant="soft",
                        on_click=OAuthState.back_to_integrations,
                    ),
                    spacing="3",
                ),
            ),
            rx.hstack(
                rx.spinner(),
                rx.text("Connecting your calendar…", id="oauth-connecting"),
                align="center",
            ),
        ),
        spacing="4",
        width="100%",
        max_width="640px",
    )
