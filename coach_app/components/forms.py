"""Small form pieces shared by pages."""

from __future__ import annotations

import reflex as rx


def field(label: str, name: str, **props) -> rx.Component:
    field_id = props.pop("id", name)
    return rx.vstack(
        rx.el.label(label, html_for=field_id, font_size="0.9em", font_weight="500"),
        rx.input(name=name, id=field_id, width="100%", **props),
        spacing="1",
        width="100%",
    )


def error_callout(message: rx.Var) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert"),
    )


def success_callout(message: rx.Var) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="check", color_scheme="green", role="status"),
    )
