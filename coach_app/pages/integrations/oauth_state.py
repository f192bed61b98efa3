"""OAuth sign-in inside the wizard: consent on the provider's page, back
through ``/oauth/<key>/callback`` in this same tab.

"Continue with …" keeps the sign-in's one-time ``state`` and PKCE verifier
in ``_pending`` (backend only, keyed by ``state``, one use, ten minutes) and
sends the browser to the provider. ``oauth_return`` (the callback page's
``on_load``) takes the entry out again — a forged, replayed, expired or other
tab's ``state`` finds nothing — and ``finish_oauth`` trades the code for
tokens in the background; the wizard then continues at "choose calendars"
with the tokens in ``_found`` (backend only) until Connect.
"""

from __future__ import annotations

import logging
import time

import reflex as rx

from coach_app.calendars import registry
from coach_app.pages.integrations.wizard_state import WizardState
from coach_app.services import oauth_signin, signin
from coach_app.services.errors import UserError

log = logging.getLogger(__name__)

INTEGRATIONS_URL = "/settings?tab=integrations"
UNEXPECTED_MESSAGE = (
    "Something went wrong while connecting your calendar, so nothing was saved. "
    "Please start again."
)
_MAX_PENDING = 5  # started sign-ins kept per browser tab


class OAuthState(WizardState):
    oauth_phase: str = ""  # "" | working | error (on the callback page)
    oauth_message: str = ""
    _pending: dict[str, oauth_signin.PendingSignIn] = {}  # started, by state
    _finishing: dict[str, oauth_signin.PendingSignIn] = {}  # came back, by state
    _handled_state: str = ""

    @rx.event
    async def continue_with_oauth(self):
        coach_id = self._coach_id()
        if coach_id is None:
            return rx.redirect("/login")
        if not self.agreed:
            self.wizard_error = signin.TERMS_MESSAGE
            return
        try:
            url, pending = await oauth_signin.begin(
                self.kind, coach_id, self.router.url.origin
            )
        except UserError as exc:
            self.wizard_error = str(exc)
            return
        now = time.time()
        kept = {k: v for k, v in self._pending.items() if not v.expired(now)}
        kept[pending.state] = pending
        # The newest few only: a tab cannot pile up sign-ins.
        self._pending = dict(list(kept.items())[-_MAX_PENDING:])
        self.wizard_error = ""
        self.redirecting = True
        return rx.redirect(url)

    @rx.event
    def oauth_return(self):
        """on_load of ``/oauth/<key>/callback``."""
        coach_id = self._coach_id()
        if coach_id is None:
            return  # AuthState.require_login, first in on_load, redirects
        self.redirecting = False
        key = callback_key(self.router.url.path)
        params = {k: str(v) for k, v in self.router.url.query_parameters.items() if v}
        received = params.get("state", "")
        if received and received == self._handled_state:
            return  # the same callback loaded twice: keep what it shows
        self._handled_state = received
        pending = self._take(received)
        if (
            pending is None
            or pending.expired()
            or pending.coach_id != coach_id
            or pending.provider != key
        ):
            # Not this tab's sign-in: leave its own wizard as it is.
            self._failed(oauth_signin.invalid_link_message(registry.service_label(key)))
            return
        self._reset_wizard()
        denied = oauth_signin.callback_error(key, params)
        if denied is not None:
            self._failed(denied)
            return
        self.kind = key
        self.agreed = True  # a sign-in starts only after agreeing
        self.oauth_phase = "working"
        self.oauth_message = ""
        self._finishing = {pending.state: pending}
        return OAuthState.finish_oauth(pending.state, params)

    def _take(self, state: str) -> oauth_signin.PendingSignIn | None:
        pending = dict(self._pending)
        found = pending.pop(state, None) if state else None
        self._pending = pending
        return found

    def _failed(self, message: str) -> None:
        self.oauth_phase = "error"
        self.oauth_message = message

    @rx.event(background=True)
    async def finish_oauth(self, state: str, params: dict):
        async with self:
            coach_id = self._coach_id()
            pending = self._finishing.get(state)
            self._finishing = {}  # one use, even for a forged second call
            if coach_id is None or pending is None or pending.coach_id != coach_id:
                return
        try:
            found = await oauth_signin.finish(pending, params)
        except UserError as exc:
            async with self:
                self._reset_wizard()
                self._failed(str(exc))
            return
        except Exception:
            log.exception("finishing an OAuth sign-in failed")
            async with self:
                self._reset_wizard()
                self._failed(UNEXPECTED_MESSAGE)
            return
        async with self:
            if self._coach_id() != coach_id:  # logged out meanwhile
                label = registry.service_label(pending.provider)
                self._failed(oauth_signin.invalid_link_message(label))
                return
            self.kind = pending.provider
            self.agreed = True
            self._show_calendars(coach_id, found)
            # Done: loading this callback again finds its state used up.
            self._handled_state = ""
            self.oauth_phase = self.oauth_message = ""
        return rx.redirect(INTEGRATIONS_URL, replace=True)

    @rx.event
    def back_to_integrations(self):
        self._handled_state = ""
        self.oauth_phase = self.oauth_message = ""
        return rx.redirect(INTEGRATIONS_URL)


def callback_key(path: str) -> str:
    """``google`` from ``/oauth/google/callback``."""
    parts = [p for p in (path or "").split("/") if p]
    return parts[1] if len(parts) == 3 and parts[0] == "oauth" else ""
