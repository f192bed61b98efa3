"""The Connect to Calendar wizard's steps, drawn from the chosen spec."""

from __future__ import annotations

import reflex as rx

from coach_app.components.forms import error_callout
from coach_app.pages.integrations.oauth_state import OAuthState
from coach_app.pages.integrations.wizard_state import (
    CalendarOption,
    FieldView,
    ServiceOption,
    WizardState,
)

W = WizardState


def _steps_indicator() -> rx.Component:
    return rx.text(
        rx.match(
            W.step,
            ("provider", "Step 1 of 3: choose your calendar service"),
            ("credentials", "Step 2 of 3: sign in"),
            ("calendars", "Step 3 of 3: choose calendars"),
            "",
        ),
        size="2",
        color_scheme="gray",
    )


def _service_button(option: ServiceOption) -> rx.Component:
    return rx.button(
        rx.cond(option.available, option.label, f"{option.label} (coming soon)"),
        disabled=~option.available,
        variant="outline",
        size="3",
        on_click=W.choose_provider(option.key),
    )


def _provider_step() -> rx.Component:
    return rx.hstack(rx.foreach(W.services, _service_button), wrap="wrap")


def _terms() -> rx.Component:
    return rx.vstack(
        rx.checkbox(
            "I agree to the Terms of Service and Privacy Policy",
            checked=W.agreed,
            on_change=W.set_agreed,
        ),
        rx.text(
            "Read them first: ",
            rx.link("Terms of Service", href="/terms", is_external=True),
            " · ",
            rx.link("Privacy Policy", href="/privacy", is_external=True),
            size="1",
            color_scheme="gray",
        ),
        spacing="1",
    )


def _actions(*buttons: rx.Component) -> rx.Component:
    """The step's buttons, with the step's error right above them."""
    return rx.vstack(
        error_callout(W.wizard_error),
        rx.hstack(
            *buttons,
            rx.button("Back", type="button", variant="soft", on_click=W.start_wizard),
        ),
        spacing="2",
        width="100%",
    )


def _help() -> rx.Component:
    return rx.cond(
        W.sign_in.help_title != "",
        rx.callout(
            rx.vstack(
                rx.text(W.sign_in.help_title, weight="bold"),
                rx.el.ol(
                    rx.foreach(W.sign_in.help_steps, lambda t: rx.el.li(t)),
                    padding_left="1.4em",
                    list_style_type="decimal",
                ),
                rx.cond(
                    W.sign_in.help_link_url != "",
                    rx.link(
                        W.sign_in.help_link_label,
                        href=W.sign_in.help_link_url,
                        is_external=True,
                    ),
                ),
            ),
            icon="info",
            id="sign-in-help",
        ),
    )


def _field(f: FieldView) -> rx.Component:
    field_id = f"field-{f.name}"
    shown = ~f.ask_when_needed | W.opened_fields.contains(f.name)
    return rx.cond(
        shown,
        _field_input(f, field_id),
        rx.button(
            f.open_label,
            type="button",
            variant="ghost",
            size="2",
            id=f"open-{field_id}",
            on_click=W.open_field(f.name),
        ),
    )


def _field_input(f: FieldView, field_id: str) -> rx.Component:
    return rx.vstack(
        rx.el.label(f.label, html_for=field_id, font_weight="500"),
        rx.input(
            name=f.name,
            id=field_id,
            type=f.type,
            placeholder=f.placeholder,
            auto_complete=f.autocomplete,
            width="100%",
        ),
        rx.cond(f.hint != "", rx.text(f.hint, size="1", color_scheme="gray")),
        spacing="1",
        width="100%",
    )


def _password_step() -> rx.Component:
    return rx.form(
        rx.vstack(
            _help(),
            rx.foreach(W.sign_in.fields, _field),
            _terms(),
            _actions(
                rx.button(
                    rx.cond(W.checking, "Checking…", "Continue"),
                    type="submit",
                    loading=W.checking,
                )
            ),
            spacing="3",
            width="100%",
            max_width="520px",
        ),
        on_submit=W.submit_credentials,
        reset_on_submit=False,
    )


def _oauth_step() -> rx.Component:
    return rx.vstack(
        rx.text(W.sign_in.consent_text, size="2"),
        _terms(),
        _actions(
            rx.button(
                f"Continue with {W.sign_in.service}",
                type="button",
                loading=W.redirecting,
                on_click=OAuthState.continue_with_oauth,
                id="continue-with-oauth",
            )
        ),
        spacing="3",
        width="100%",
        max_width="520px",
    )


def _calendar_choice(c: CalendarOption) -> rx.Component:
    return rx.table.row(
        rx.table.cell(c.name),
        rx.table.cell(
            rx.checkbox(
                checked=W.pull_ids.contains(c.id),
                on_change=lambda v: W.toggle_pull(c.id, v),
                aria_label=f"Pull from {c.name}",
            )
        ),
        rx.table.cell(
            rx.cond(
                c.can_write,
                rx.el.input(
                    type="radio",
                    name="push-calendar",
                    checked=W.push_id == c.id,
                    on_change=W.choose_push(c.id),
                    aria_label=f"Push to {c.name}",
                ),
                rx.text("read-only", size="1", color_scheme="gray"),
            )
        ),
    )


def _calendars_step() -> rx.Component:
    return rx.vstack(
        rx.text(
            f"{W.sign_in.service} account: ",
            rx.text.strong(W.account_label),
            size="2",
            id="connect-account",
        ),
        rx.text(
            "Pull: busy times from these calendars block your booking page "
            "(tick any number). Push: your appointments are added to this one "
            "calendar (choose exactly one; read-only calendars cannot take them).",
            size="2",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Calendar"),
                    rx.table.column_header_cell("Pull"),
                    rx.table.column_header_cell("Push"),
                )
            ),
            rx.table.body(rx.foreach(W.found_calendars, _calendar_choice)),
        ),
        error_callout(W.wizard_error),
        rx.button("Connect", on_click=W.connect, size="3", color_scheme="green"),
        spacing="3",
    )


def wizard() -> rx.Component:
    """The button that starts the wizard, or the wizard's current step."""
    return rx.cond(
        (W.step == "") | (W.step == "done"),
        rx.button(
            rx.icon("calendar-plus", size=18),
            "Connect to Calendar",
            color_scheme="green",
            size="3",
            id="connect-calendar",
            on_click=W.start_wizard,
        ),
        rx.card(
            rx.vstack(
                _steps_indicator(),
                rx.match(
                    W.step,
                    (
                        "provider",
                        rx.vstack(_provider_step(), error_callout(W.wizard_error)),
                    ),
                    (
                        "credentials",
                        rx.cond(W.sign_in.oauth, _oauth_step(), _password_step()),
                    ),
                    ("calendars", _calendars_step()),
                    rx.fragment(),
                ),
                rx.button("Cancel", variant="ghost", size="1", on_click=W.close_wizard),
                spacing="3",
            ),
            width="100%",
        ),
    )
