"""Log-in page."""

from __future__ import annotations

import reflex as rx

from coach_app.components.forms import error_callout, field
from coach_app.components.layout import public_page
from coach_app.db import session_scope
from coach_app.services import auth
from coach_app.services.errors import UserError
from coach_app.state import AuthState, start_session


class LoginState(AuthState):
    error: str = ""

    @rx.event
    def submit(self, form: dict):
        try:
            with session_scope() as s:
                ticket = auth.log_in(
                    s,
                    form.get("email", ""),
                    form.get("password", ""),
                    self.router.session.client_ip,
                )
        except UserError as exc:
            self.error = str(exc)
            return
        self.error = ""
        return start_session(ticket)


@public_page("/login", "Log in", on_load=[AuthState.redirect_if_logged_in])
def login_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Log in to Coach App", size="6"),
                    error_callout(LoginState.error),
                    field("Email", "email", type="email", id="login-email"),
                    field("Password", "password", type="password", id="login-password"),
                    rx.button("Log in", type="submit", width="100%"),
                    rx.text(
                        "New here? ",
                        rx.link("Create an account", href="/signup"),
                        size="2",
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=LoginState.submit,
                reset_on_submit=False,
            ),
            width="100%",
            max_width="420px",
        ),
        padding_top="10vh",
        padding_x="1em",
    )
