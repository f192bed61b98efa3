"""The coach's home: booking link, upcoming appointments, calendar health."""

from __future__ import annotations

import reflex as rx
from pydantic import BaseModel

from coach_app.components.layout import template
from coach_app.components.notices import notice_list
from coach_app.db import session_scope
from coach_app.models import Coach
from coach_app.notify import links
from coach_app.pages.notice_mixin import NoticesMixin
from coach_app.services import dashboard
from coach_app.state import AuthState
from coach_app.views.clock import short_date

_STATES = {
    "ok": ("Working", "green"),
    "error": ("Sync problem", "amber"),
    "reconnect": ("Reconnect needed", "red"),
}


class UpcomingRow(BaseModel):
    id: int
    when: str
    client: str
    type_name: str


class HealthRow(BaseModel):
    id: int
    title: str
    calendars: str
    state: str
    state_label: str
    color: str
    last_sync: str
    next_sync: str
    error: str


def _when(value) -> str:
    return f"{short_date(value)} {value:%H:%M}" if value else "not yet"


class HomeState(NoticesMixin, AuthState):
    booking_url: str = ""
    copied: str = ""
    upcoming: list[UpcomingRow] = []
    health: list[HealthRow] = []

    @rx.event
    def load(self):
        coach_id = self._coach_id()
        if coach_id is None:
            return
        self.copied = ""
        base = links.public_base(self.router.url.origin)
        with session_scope() as s:
            coach = s.get(Coach, coach_id)
            assert coach is not None
            self.booking_url = links.booking_url(base, coach.slug)
            self.upcoming = [
                UpcomingRow(
                    id=u.id,
                    when=f"{short_date(u.start)}, {u.start:%H:%M}–{u.end:%H:%M}",
                    client=u.client,
                    type_name=u.type_name,
                )
                for u in dashboard.upcoming(s, coach_id)
            ]
            self.health = [
                HealthRow(
                    id=h.id,
                    title=f"{h.service} · {h.account}" if h.account else h.service,
                    calendars=h.calendars,
                    state=h.state,
                    state_label=_STATES[h.state][0],
                    color=_STATES[h.state][1],
                    last_sync=_when(h.last_sync),
                    next_sync=_when(h.next_sync),
                    error=h.error,
                )
                for h in dashboard.health(s, coach_id)
            ]
            self._load_notices(s, coach_id, coach.timezone)

    @rx.event
    def copy_link(self):
        if self._coach_id() is None:
            return rx.redirect("/login")
        self.copied = "Link copied."
        return rx.set_clipboard(self.booking_url)


def _booking_link() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Your booking link", size="4", as_="h2"),
            rx.text(
                HomeState.booking_url,
                id="booking-url",
                font_family="var(--code-font-family)",
                size="2",
                word_break="break-all",
            ),
            rx.flex(
                rx.button(
                    rx.icon("copy", size=16, aria_hidden="true"),
                    "Copy link",
                    on_click=HomeState.copy_link,
                ),
                rx.button(
                    rx.link(
                        rx.icon("external-link", size=16, aria_hidden="true"),
                        "Open booking page",
                        href=HomeState.booking_url,
                        is_external=True,
                    ),
                    variant="outline",
                    as_child=True,
                ),
                rx.text(HomeState.copied, size="2", role="status"),
                gap="0.75em",
                align="center",
                wrap="wrap",
            ),
            spacing="3",
        ),
        width="100%",
    )


def _upcoming() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Upcoming appointments", size="4", as_="h2"),
            rx.cond(
                HomeState.upcoming.length() > 0,
                rx.el.ul(
                    rx.foreach(
                        HomeState.upcoming,
                        lambda u: rx.el.li(
                            rx.text(u.when, weight="bold", size="2"),
                            rx.text(f"{u.client} · {u.type_name}", size="2"),
                            padding_y="0.4em",
                            border_bottom="1px solid var(--gray-4)",
                            class_name="upcoming",
                        ),
                    ),
                    style={"list_style": "none", "padding": 0, "margin": 0},
                    width="100%",
                ),
                rx.text(
                    "No upcoming appointments. Share your booking link to get some.",
                    size="2",
                ),
            ),
            rx.link("Open your calendar", href="/calendar", size="2"),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _health_card(h: HealthRow) -> rx.Component:
    return rx.box(
        rx.flex(
            rx.text(h.title, weight="bold", size="2"),
            rx.badge(h.state_label, color_scheme=h.color, variant="surface"),
            gap="0.5em",
            align="center",
            wrap="wrap",
        ),
        rx.text(h.calendars, size="2"),
        rx.text(f"Last sync: {h.last_sync} · Next sync: {h.next_sync}", size="2"),
        rx.cond(
            h.error != "",
            rx.text(h.error, size="2", color_scheme="red", class_name="health-error"),
        ),
        rx.cond(
            h.state == "reconnect",
            rx.link(
                "Reconnect in Settings → Integrations",
                href="/settings?tab=integrations",
                size="2",
            ),
        ),
        padding_y="0.5em",
        border_bottom="1px solid var(--gray-4)",
        width="100%",
        class_name="health",
    )


def _health() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Connected calendars", size="4", as_="h2"),
            rx.cond(
                HomeState.health.length() > 0,
                rx.vstack(rx.foreach(HomeState.health, _health_card), width="100%"),
                rx.text(
                    "No calendar connected yet: connect one so busy times are "
                    "kept free and appointments reach your calendar.",
                    size="2",
                ),
            ),
            rx.link("Manage calendars", href="/settings?tab=integrations", size="2"),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


@template("/", "Home", on_load=[HomeState.load])
def home_page() -> rx.Component:
    return rx.vstack(
        rx.heading(f"Welcome, {AuthState.coach_name}", size="7", as_="h1"),
        notice_list(
            HomeState.notices,
            HomeState.dismiss_notice,
            HomeState.dismiss_all_notices,
        ),
        _booking_link(),
        rx.grid(
            _upcoming(),
            _health(),
            columns=rx.breakpoints(initial="1", md="2"),
            gap="1em",
            width="100%",
        ),
        spacing="4",
        width="100%",
    )
