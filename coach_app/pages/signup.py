"""Sign-up page."""

from __future__ import annotations

import reflex as rx

from coach_app.components.forms import error_callout, field
from coach_app.components.layout import public_page
from coach_app.db import session_scope
from coach_app.services import auth
from coach_app.services.errors import UserError
from coach_app.services.validation import check_timezone
from coach_app.state import AuthState, start_session


class SignupState(AuthState):
    error: str = ""
    browser_timezone: str = "UTC"

    @rx.event
    def set_browser_timezone(self, name: str):
        # Only a default for the new account; an unknown name falls back to UTC.
        try:
            self.browser_timezone = check_timezone(str(name))
        except UserError:
            self.browser_timezone = "UTC"

    @rx.event
    def submit(self, form: dict):
        try:
            with session_scope() as s:
                coach = auth.sign_up(
                    s,
                    form.get("email", ""),
                    form.get("password", ""),
                    form.get("display_name", ""),
                    self.browser_timezone,
                )
                assert coach.id is not None
                ticket = auth.hand_over(s, coach.id)
        except UserError as exc:
            self.error = str(exc)
            return
        self.error = ""
        return start_session(ticket)


@public_page("/signup", "Sign up", on_load=[AuthState.redirect_if_logged_in])
def signup_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Create your coach account", size="6"),
                    error_callout(SignupState.error),
                    field("Your name", "display_name", id="signup-name"),
                    field("Email", "email", type="email", id="signup-email"),
                    field(
                        "Password (at least 8 characters)",
                        "password",
                        type="password",
                        id="signup-password",
                    ),
                    rx.button("Sign up", type="submit", width="100%"),
                    rx.text(
                        "Already have an account? ",
                        rx.link("Log in", href="/login"),
                        size="2",
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=SignupState.submit,
                reset_on_submit=False,
                on_mount=rx.call_script(
                    "Intl.DateTimeFormat().resolvedOptions().timeZone",
                    callback=SignupState.set_browser_timezone,
                ),
            ),
            width="100%",
            max_width="420px",
        ),
        padding_top="10vh",
        padding_x="1em",
    )
