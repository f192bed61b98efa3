"""Shared log-in state. Every page state that needs a coach derives from it.

The session token lives in a cookie; the server keeps only its hash. Event
handlers never trust anything else the browser sends: they call
`_coach_id()` (or `_require_coach_id()`) on every event, which looks the token
up again, so a logged-out or forged client is refused on its next event.
"""

from __future__ import annotations

import reflex as rx

from coach_app.db import read_scope, session_scope
from coach_app.services import auth
from coach_app.services.errors import NotLoggedIn

SESSION_COOKIE = "coach_session"


class AuthState(rx.State):
    session_token: str = rx.Cookie(
        "", name=SESSION_COOKIE, max_age=auth.SESSION_DAYS * 86400, same_site="strict"
    )
    coach_name: str = ""
    coach_slug: str = ""

    def _coach_id(self) -> int | None:
        with read_scope() as s:
            coach = auth.coach_for_token(s, self.session_token)
            if coach is None:
                return None
            self.coach_name = coach.display_name
            self.coach_slug = coach.slug
            return coach.id

    def _require_coach_id(self) -> int:
        coach_id = self._coach_id()
        if coach_id is None:
            raise NotLoggedIn()
        return coach_id

    @rx.event
    def require_login(self):
        """on_load of every private page."""
        if self._coach_id() is None:
            return rx.redirect("/login")

    @rx.event
    def redirect_if_logged_in(self):
        if self._coach_id() is not None:
            return rx.redirect("/")

    @rx.event
    def log_out(self):
        with session_scope() as s:
            auth.log_out(s, self.session_token)
        self.session_token = ""
        self.coach_name = ""
        self.coach_slug = ""
        return rx.redirect("/login")
