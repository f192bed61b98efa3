"""``/oauth/google/callback``: where Google sends the coach back after consent.

``on_load`` takes the sign-in this browser started out of the Integrations
wizard's backend state by the ``state`` Google echoes (one use: a forged,
replayed, expired or other browser's ``state`` finds nothing and is refused),
turns ``error=access_denied`` into plain words, and starts ``finish`` in the
background: the code exchange (with the PKCE verifier) and the calendar
listing are network I/O, so they run outside the state lock. On success the
consented account and its calendars go into ``IntegrationsState`` (backend
only: the tokens never reach a browser-visible var) and the browser returns to
Settings → Integrations, where the same "choose calendars" step continues.
On any failure this page says what happened in plain words; nothing is saved.
"""

from __future__ import annotations

import logging

import reflex as rx

from coach_app.components.forms import error_callout
from coach_app.components.layout import template
from coach_app.pages.settings_integrations import IntegrationsState
from coach_app.services import connections
from coach_app.services.errors import UserError
from coach_app.state import AuthState

INTEGRATIONS_URL = "/settings?tab=integrations"
UNEXPECTED_MESSAGE = (
    "Something went wrong while connecting Google, so nothing was saved. "
    "Please start again."
)

log = logging.getLogger(__name__)


class GoogleCallbackState(AuthState):
    phase: str = ""  # "" (arriving) | working | error
    message: str = ""
    _handled_state: str = ""  # the callback in progress or on show in this tab
    _sign_in: connections.GoogleSignIn | None = None
    _params: dict[str, str] = {}

    @rx.event
    async def load(self):
        coach_id = self._coach_id()
        if coach_id is None:
            return  # AuthState.require_login, first in on_load, redirects
        params = {k: str(v) for k, v in self.router.url.query_parameters.items() if v}
        received = params.get("state", "")
        if received and received == self._handled_state:
            return  # the same callback loaded twice: keep what it shows
        self._handled_state = received
        self._sign_in = None
        self._params = {}
        wizard = await self.get_state(IntegrationsState)
        sign_in = wizard._take_google_sign_in(received, coach_id)
        if sign_in is None:
            # Not this browser's sign-in: leave its own wizard as it is.
            await self._fail(connections.INVALID_LINK_MESSAGE, reset_wizard=False)
            return
        denied = connections.callback_error(params)
        if denied is not None:
            await self._fail(denied)
            return
        self._sign_in = sign_in
        self._params = params
        self.phase = "working"
        self.message = ""
        return GoogleCallbackState.finish

    async def _fail(self, message: str, *, reset_wizard: bool = True) -> None:
        """Show ``message``; the wizard starts over from "Connect to Calendar"."""
        if reset_wizard:
            wizard = await self.get_state(IntegrationsState)
            wizard._reset_wizard()
        self.phase = "error"
        self.message = message

    @rx.event(background=True)
    async def finish(self):
        async with self:
            coach_id = self._coach_id()
            sign_in, params = self._sign_in, dict(self._params)
            self._sign_in = None  # one use, even for a forged second call
            self._params = {}
            if coach_id is None or sign_in is None or sign_in.coach_id != coach_id:
                return
        try:
            found = await connections.finish_google(sign_in, params)
        except UserError as exc:
            async with self:
                await self._fail(str(exc))
            return
        except Exception:
            log.exception("connecting Google failed")
            async with self:
                await self._fail(UNEXPECTED_MESSAGE)
            return
        async with self:
            if self._coach_id() != coach_id:  # logged out meanwhile
                await self._fail(connections.INVALID_LINK_MESSAGE, reset_wizard=False)
                return
            wizard = await self.get_state(IntegrationsState)
            wizard._show_google_calendars(coach_id, found)
            # Done: loading this callback again finds its state used up.
            self._handled_state = ""
            self.phase = self.message = ""
        return rx.redirect(INTEGRATIONS_URL, replace=True)

    @rx.event
    def back(self):
        self._handled_state = ""
        self.phase = self.message = ""
        return rx.redirect(INTEGRATIONS_URL)


@template(
    "/oauth/google/callback",
    "Connecting Google",
    on_load=[GoogleCallbackState.load],
)
def google_callback_page() -> rx.Component:
    return rx.vstack(
        rx.heading("Connect Google Calendar", size="6"),
        rx.match(
            GoogleCallbackState.phase,
            (
                "error",
                rx.vstack(
                    error_callout(GoogleCallbackState.message),
                    rx.button(
                        "Back to Integrations",
                        variant="soft",
                        on_click=GoogleCallbackState.back,
                    ),
                    spacing="3",
                ),
            ),
            rx.hstack(
                rx.spinner(),
                rx.text("Connecting to Google…", id="google-connecting"),
                align="center",
            ),
        ),
        spacing="4",
        width="100%",
        max_width="640px",
    )
