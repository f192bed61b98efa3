"""Page chrome: the top bar with the Your Profile menu, and `template`."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from coach_app.state import AuthState


def client_token_probe() -> rx.Component:
    # End-to-end tests wait until this holds a value: the app is then live.
    return rx.el.input(
        value=rx.State.router.session.client_token,
        read_only=True,
        id="token",
        style={"display": "none"},
    )


def profile_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.icon("circle-user", size=18),
                "Your Profile",
                variant="soft",
                aria_label="Your Profile",
            )
        ),
        rx.menu.content(
            rx.box(
                rx.text(AuthState.coach_name, size="2", weight="bold"), padding="0.5em"
            ),
            rx.menu.item("Calendar", on_click=rx.redirect("/calendar")),
            rx.menu.item("My Settings", on_click=rx.redirect("/settings")),
            rx.menu.separator(),
            rx.menu.item("Log out", color="red", on_click=AuthState.log_out),
        ),
    )


def navbar() -> rx.Component:
    return rx.hstack(
        rx.link(rx.heading("Coach App", size="5"), href="/", underline="none"),
        rx.spacer(),
        profile_menu(),
        align="center",
        width="100%",
        padding_x="1.5em",
        padding_y="0.75em",
        border_bottom="1px solid var(--gray-5)",
    )


def template(
    route: str, title: str, on_load: list | None = None
) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    """A private page: top bar, log-in check first, then the page's own on_load."""

    def decorator(page: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def wrapped() -> rx.Component:
            return rx.box(
                client_token_probe(),
                navbar(),
                rx.box(page(), padding="1.5em", max_width="1100px", margin_x="auto"),
                width="100%",
            )

        wrapped.__name__ = page.__name__
        return rx.page(
            route=route,
            title=f"{title} · Coach App",
            on_load=[AuthState.require_login, *(on_load or [])],
        )(wrapped)

    return decorator


def public_page(route: str, title: str, on_load: list | None = None):
    """A page without log-in (log-in, sign-up, booking)."""

    def decorator(page: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def wrapped() -> rx.Component:
            return rx.box(client_token_probe(), page(), width="100%")

        wrapped.__name__ = page.__name__
        return rx.page(route=route, title=f"{title} · Coach App", on_load=on_load)(
            wrapped
        )

    return decorator
