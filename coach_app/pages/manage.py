"""The invitee's manage page `/manage/<token>`: the appointment, Reschedule
(the booking page in reschedule mode) and Cancel. The signed token is the
only credential and is checked again on every action (`services.manage`)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import reflex as rx

from coach_app.components.forms import error_callout
from coach_app.components.layout import public_page
from coach_app.db import session_scope
from coach_app.notify import links
from coach_app.services import manage
from coach_app.services.errors import UserError
from coach_app.views.clock import clock, long_date


def _when(start: dt.datetime, end: dt.datetime, zone: str) -> str:
    tz = ZoneInfo(zone)
    s, e = start.astimezone(tz), end.astimezone(tz)
    return f"{long_date(s.date())}, {clock(s, False)}–{clock(e, False)} ({zone})"


class ManageState(rx.State):
    valid: bool = False
    refusal: str = ""
    title: str = ""
    when: str = ""
    cancelled: bool = False
    confirming: bool = False
    just_cancelled: bool = False
    booking_url: str = ""
    reschedule_url: str = ""
    error: str = ""

    def _token(self) -> str:
        parts = [p for p in self.router.url.path.split("/") if p]
        return parts[1] if len(parts) >= 2 and parts[0] == "manage" else ""

    def _show(self) -> None:
        token = self._token()
        try:
            with session_scope() as s:
                m = manage.open_link(s, token)
        except UserError as exc:
            self.valid, self.refusal = False, str(exc)
            return
        self.valid, self.refusal = True, ""
        self.title = f"{m.type_name} with {m.coach_name}"
        self.when = _when(m.start, m.end, m.timezone)
        self.cancelled = m.cancelled
        self.booking_url = f"/book/{m.slug}"
        self.reschedule_url = f"/book/{m.slug}?reschedule={token}"

    @rx.event
    def load(self):
        self.confirming = self.just_cancelled = False
        self.error = ""
        self._show()

    @rx.event
    def ask_cancel(self):
        self.confirming = True

    @rx.event
    def keep(self):
        self.confirming = False

    @rx.event
    def cancel(self):
        self.error = ""
        try:
            with session_scope() as s:
                manage.cancel(
                    s, self._token(), base_url=links.public_base(self.router.url.origin)
                )
        except UserError as exc:
            self.error = str(exc)
            self.confirming = False
            self._show()
            return
        self.confirming = False
        self.just_cancelled = True
        self._show()
        return rx.call_script("document.getElementById('manage-status')?.focus()")


def _actions() -> rx.Component:
    return rx.cond(
        ManageState.confirming,
        rx.vstack(
            rx.text("Cancel this appointment? The time becomes free for others."),
            rx.flex(
                rx.button(
                    "Yes, cancel it", color_scheme="red", on_click=ManageState.cancel
                ),
                rx.button("Keep it", variant="soft", on_click=ManageState.keep),
                gap="0.75em",
                wrap="wrap",
            ),
            spacing="2",
        ),
        rx.flex(
            rx.button(
                rx.link("Reschedule", href=ManageState.reschedule_url),
                as_child=True,
            ),
            rx.button(
                "Cancel appointment",
                variant="outline",
                color_scheme="red",
                on_click=ManageState.ask_cancel,
            ),
            gap="0.75em",
            wrap="wrap",
        ),
    )


@public_page("/manage/[manage_token]", "Your appointment", on_load=[ManageState.load])
def manage_page() -> rx.Component:
    return rx.box(
        rx.cond(
            ManageState.valid,
            rx.vstack(
                rx.heading("Your appointment", size="7", as_="h1"),
                rx.text(ManageState.title, weight="bold", size="4"),
                rx.text(ManageState.when, size="3"),
                error_callout(ManageState.error),
                rx.cond(
                    ManageState.cancelled,
                    rx.vstack(
                        rx.text(
                            rx.cond(
                                ManageState.just_cancelled,
                                "Your appointment is cancelled. "
                                "A confirmation email is on its way.",
                                "This appointment was cancelled.",
                            ),
                            id="manage-status",
                            role="status",
                            tab_index=-1,
                            weight="bold",
                        ),
                        rx.link("Book a new time", href=ManageState.booking_url),
                        spacing="2",
                    ),
                    _actions(),
                ),
                spacing="3",
            ),
            rx.vstack(
                rx.heading("This link does not work", size="7", as_="h1"),
                rx.text(ManageState.refusal, id="link-error"),
                spacing="3",
            ),
        ),
        max_width="640px",
        margin_x="auto",
        padding=rx.breakpoints(initial="1.25em 1em", sm="2em 1.5em"),
    )
