"""Settings → Integrations: connected calendars and the Connect wizard.

- ``state``: ``IntegrationsState``, the cards' data and actions;
- ``wizard_state``: ``WizardState``, the steps of Connect to Calendar;
- ``oauth_state``: ``OAuthState``, consent on the provider's page and back;
- ``cards`` / ``wizard``: what they draw; ``callback``: the OAuth return page.
"""

from __future__ import annotations

import reflex as rx

from coach_app.components.forms import success_callout
from coach_app.pages.integrations.cards import connection_card
from coach_app.pages.integrations.state import IntegrationsState, NoticeView
from coach_app.pages.integrations.wizard import wizard

__all__ = ["IntegrationsState", "integrations_tab"]


def _notice(notice: NoticeView) -> rx.Component:
    return rx.callout(
        rx.hstack(
            rx.text(notice.message),
            rx.button(
                "Dismiss",
                size="1",
                variant="ghost",
                on_click=IntegrationsState.dismiss_notice(notice.id),
            ),
            justify="between",
            width="100%",
            align="center",
        ),
        icon="bell",
        color_scheme="amber",
        size="1",
        class_name="notice",
    )


def integrations_tab() -> rx.Component:
    return rx.vstack(
        success_callout(IntegrationsState.success),
        rx.foreach(IntegrationsState.notices, _notice),
        rx.cond(
            IntegrationsState.connections_list.length() > 0,
            rx.vstack(
                rx.foreach(IntegrationsState.connections_list, connection_card),
                width="100%",
            ),
            rx.text("No calendar is connected yet.", id="no-connections"),
        ),
        rx.heading("Connect to Calendar", size="5"),
        rx.text(
            "Connect iCloud, Google Calendar, Office 365, Exchange or Outlook.com: "
            "busy times keep invitees from booking over them, and every "
            "appointment made here appears in your calendar.",
            color_scheme="gray",
            size="2",
        ),
        wizard(),
        spacing="4",
        align="start",
        width="100%",
    )
