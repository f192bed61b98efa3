"""The coach's start page."""

from __future__ import annotations

import reflex as rx

from coach_app.components.layout import template
from coach_app.state import AuthState


@template("/", "Home")
def home_page() -> rx.Component:
    return rx.vstack(
        rx.heading(f"Welcome, {AuthState.coach_name}", size="7"),
        rx.text(
            "Your booking page: ",
            rx.link(
                f"/book/{AuthState.coach_slug}", href=f"/book/{AuthState.coach_slug}"
            ),
        ),
        rx.hstack(
            rx.link(rx.button("Calendar"), href="/calendar"),
            rx.link(rx.button("My Settings", variant="outline"), href="/settings"),
        ),
        spacing="4",
    )
