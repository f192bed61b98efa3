"""Shared log-in state. Every page state that needs a coach derives from it.

The session token lives only in an HttpOnly cookie that backend HTTP
endpoints set and clear (``session_http``); the server keeps only its hash.
Event handlers read it from the websocket connection's request headers
(``self.router.headers.cookie``, which Reflex never sends to the browser)
and trust nothing the page sends: they call ``_coach_id()`` (or
``_require_coach_id()``) on every event, which looks the token up again, so
a logged-out or forged client is refused on its next event. No state var
holds a token.
"""

from __future__ import annotations

import json

import reflex as rx
from reflex.config import get_config

from coach_app.db import read_scope, session_scope
from coach_app.services import auth
from coach_app.services.errors import NotLoggedIn
from coach_app.session_http import (
    LOGOUT_PATH,
    SESSION_PATH,
    session_token_from,
)


def post_to_backend(path: str, fields: dict[str, str]) -> rx.event.EventSpec:
    """Navigate the page by a form POST to a backend endpoint (the page
    reloads from the response), so a cookie it sets reaches the next
    websocket connection.

    The backend's address is worked out as Reflex's own ``getBackendURL``
    does (a local host name becomes the page's; over https the page's
    scheme and port), but in the script itself: in the production build
    Reflex's module-level names are minified away, out of an evaluated
    script's reach."""
    script = (
        "(() => {"
        f"const api = new URL({json.dumps(get_config().api_url)});"
        "if (['localhost', '0.0.0.0', '::', '0:0:0:0:0:0:0:0']"
        ".includes(api.hostname)) {"
        "api.hostname = window.location.hostname;"
        "if (window.location.protocol === 'https:') {"
        "api.protocol = 'https:'; api.port = ''; }"
        "}"
        "const form = document.createElement('form');"
        "form.method = 'POST';"
        f"form.action = new URL({json.dumps(path)}, api).href;"
        f"for (const [name, value] of Object.entries({json.dumps(fields)})) {{"
        "const input = document.createElement('input');"
        "input.type = 'hidden'; input.name = name; input.value = value;"
        "form.appendChild(input);"
        "}"
        "document.body.appendChild(form);"
        "form.submit();"
        "})()"
    )
    return rx.call_script(script)


def start_session(ticket: str) -> rx.event.EventSpec:
    """Trade a log-in hand-over ticket for the HttpOnly session cookie."""
    return post_to_backend(SESSION_PATH, {"ticket": ticket})


class AuthState(rx.State):
    coach_name: str = ""
    coach_slug: str = ""

    def _session_token(self) -> str:
        return session_token_from(self.router.headers.cookie)

    def _coach_id(self) -> int | None:
        with read_scope() as s:
            coach = auth.coach_for_token(s, self._session_token())
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
        # The session ends here at once; the endpoint then clears the cookie.
        with session_scope() as s:
            auth.log_out(s, self._session_token())
        self.coach_name = ""
        self.coach_slug = ""
        return post_to_backend(LOGOUT_PATH, {})
