"""Page chrome: the header (navigation and the Your Profile menu), and the
page decorators `template` (private pages) and `public_page`."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from coach_app.state import AuthState

NAV = (("Calendar", "/calendar"), ("Settings", "/settings"))


def client_token_probe() -> rx.Component:
    # End-to-end tests wait until this holds a value: the app is then live.
    return rx.el.input(
        value=rx.State.router.session.client_token,
        read_only=True,
        id="token",
        aria_hidden="true",
        tab_index=-1,
        style={"display": "none"},
    )


def skip_link() -> rx.Component:
    return rx.el.a(
        "Skip to content",
        href="#main",
        class_name="skip-link",
        # Visually hidden until a keyboard user reaches it.
        style={
            "position": "absolute",
            "width": "1px",
            "height": "1px",
            "overflow": "hidden",
            "clip_path": "inset(50%)",
            "white_space": "nowrap",
            "&:focus": {
                "width": "auto",
                "height": "auto",
                "clip_path": "none",
                "left": "0.5em",
                "top": "0.5em",
                "padding": "0.5em 1em",
                "background": "var(--color-background)",
                "z_index": "10",
            },
        },
    )


def profile_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.icon("circle-user", size=18, aria_hidden="true"),
                "Your Profile",
                rx.icon("chevron-down", size=14, aria_hidden="true"),
                variant="soft",
            )
        ),
        rx.menu.content(
            rx.box(
                rx.text(AuthState.coach_name, size="2", weight="bold"), padding="0.5em"
            ),
            rx.menu.item("My Settings", on_click=rx.redirect("/settings")),
            rx.menu.separator(),
            rx.menu.item("Log out", color="red", on_click=AuthState.log_out),
            align="end",
        ),
    )


def _nav_link(label: str, href: str, current: str) -> rx.Component:
    here = current == href
    return rx.link(
        label,
        href=href,
        aria_current="page" if here else None,
        weight="bold" if here else "medium",
        underline="always" if here else "hover",
        high_contrast=True,
        padding="0.25em 0.5em",
    )


def navbar(current: str) -> rx.Component:
    return rx.el.header(
        rx.flex(
            rx.link(
                rx.heading("Coach App", size="5", as_="p"),
                href="/",
                underline="none",
                high_contrast=True,
                aria_label="Coach App home",
            ),
            rx.el.nav(
                rx.flex(
                    *[_nav_link(label, href, current) for label, href in NAV[:1]],
                    rx.link(
                        "Booking page",
                        href=f"/book/{AuthState.coach_slug}",
                        is_external=True,
                        weight="medium",
                        underline="hover",
                        high_contrast=True,
                        padding="0.25em 0.5em",
                    ),
                    *[_nav_link(label, href, current) for label, href in NAV[1:]],
                    gap="0.25em",
                    wrap="wrap",
                ),
                aria_label="Main",
                order=rx.breakpoints(initial="3", sm="2"),
                width=rx.breakpoints(initial="100%", sm="auto"),
            ),
            rx.box(profile_menu(), order="2", margin_left="auto"),
            align="center",
            wrap="wrap",
            gap="0.5em 1.5em",
            width="100%",
            padding_x=rx.breakpoints(initial="1em", sm="1.5em"),
            padding_y="0.75em",
        ),
        border_bottom="1px solid var(--gray-5)",
    )


def footer() -> rx.Component:
    return rx.el.footer(
        rx.flex(
            rx.link(
                "Terms of Service",
                href="/terms",
                size="2",
                color_scheme="gray",
                high_contrast=True,
            ),
            rx.link(
                "Privacy Policy",
                href="/privacy",
                size="2",
                color_scheme="gray",
                high_contrast=True,
            ),
            gap="1.5em",
            justify="center",
            wrap="wrap",
        ),
        padding="2em 1em",
    )


def template(
    route: str, title: str, on_load: list | None = None
) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    """A private page: header, log-in check first, then the page's own on_load."""

    def decorator(page: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def wrapped() -> rx.Component:
            return rx.box(
                client_token_probe(),
                skip_link(),
                navbar(route),
                rx.el.main(
                    page(),
                    id="main",
                    padding=rx.breakpoints(initial="1em", sm="1.5em"),
                    max_width="1200px",
                    margin_x="auto",
                ),
                footer(),
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
    """A page without log-in (log-in, sign-up, booking, terms)."""

    def decorator(page: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def wrapped() -> rx.Component:
            return rx.box(
                client_token_probe(),
                rx.el.main(page(), id="main"),
                footer(),
                width="100%",
            )

        wrapped.__name__ = page.__name__
        return rx.page(route=route, title=f"{title} · Coach App", on_load=on_load)(
            wrapped
        )

    return decorator
