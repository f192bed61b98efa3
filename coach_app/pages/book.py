"""Public booking page `/book/<slug>`: type cards, a month calendar, the day's
times in a column, the invitee's zone and clock; then details and a summary
with "Add to calendar" and the manage link. State: `pages.book_state`."""

from __future__ import annotations

import reflex as rx

from coach_app.components.forms import error_callout
from coach_app.components.key_button import key_button
from coach_app.components.layout import public_page
from coach_app.pages.book_state import BookState, DayView, SlotOption, TypeCard
from coach_app.services.validation import timezone_names
from coach_app.views.clock import DAYS

_DETECT = (
    "[Intl.DateTimeFormat().resolvedOptions().timeZone,"
    " Intl.DateTimeFormat(undefined, {hour: 'numeric'}).resolvedOptions().hourCycle]"
)
# Arrow keys move the grid's focus (server side); keep them from scrolling.
_NO_SCROLL = (
    "document.addEventListener('keydown', e => {"
    " if (e.target.closest && e.target.closest('.month-grid') &&"
    " ['ArrowUp','ArrowDown','ArrowLeft','ArrowRight','PageUp','PageDown','Home','End']"
    ".includes(e.key)) e.preventDefault(); });"
)


def _type_card(t: TypeCard) -> rx.Component:
    chosen = BookState.type_id == t.id
    return rx.card(
        rx.el.button(
            rx.vstack(
                rx.text(t.name, weight="bold", size="3"),
                rx.text(f"{t.duration} min", size="2", color_scheme="gray"),
                rx.cond(
                    t.description != "",
                    rx.text(t.description, size="2", text_align="left"),
                ),
                spacing="1",
                align="start",
            ),
            type="button",
            aria_pressed=rx.cond(chosen, "true", "false"),
            on_click=BookState.choose_type(t.id),
            class_name="type-card",
        ),
        as_child=True,
        variant=rx.cond(chosen, "classic", "surface"),
        style={
            "text_align": "left",
            "cursor": "pointer",
            "width": "100%",
            "outline": rx.cond(chosen, "2px solid var(--accent-9)", "none"),
        },
    )


def _types() -> rx.Component:
    return rx.cond(
        BookState.moving,
        rx.fragment(),
        rx.vstack(
            rx.heading("Choose a session", size="4", as_="h2"),
            rx.grid(
                rx.foreach(BookState.types, _type_card),
                columns=rx.breakpoints(initial="1", sm="2", md="3"),
                gap="0.75em",
                width="100%",
            ),
            spacing="2",
            width="100%",
        ),
    )


def _zone_and_clock() -> rx.Component:
    return rx.flex(
        rx.form(
            rx.vstack(
                rx.el.label(
                    "Time zone", html_for="invitee-timezone", font_weight="500"
                ),
                rx.el.input(
                    id="invitee-timezone",
                    name="zone",
                    value=BookState.zone_text,
                    on_change=BookState.type_zone,
                    on_blur=BookState.leave_zone,
                    list="zone-options",
                    auto_complete="off",
                    spell_check=False,
                    aria_describedby="zone-hint",
                    class_name="rt-reset",
                    style={
                        "width": "100%",
                        "padding": "0.4em 0.6em",
                        "border": "1px solid var(--gray-8)",
                        "border_radius": "var(--radius-2)",
                        "background": "var(--color-surface)",
                        "color": "var(--gray-12)",
                        "font_size": "var(--font-size-2)",
                    },
                ),
                rx.el.datalist(
                    *[rx.el.option(value=z) for z in timezone_names()],
                    id="zone-options",
                ),
                rx.cond(
                    BookState.zone_error != "",
                    rx.text(
                        BookState.zone_error, size="1", color_scheme="red", role="alert"
                    ),
                    rx.text(
                        f"Times are shown in {BookState.zone_label}. Type to search.",
                        size="1",
                        id="zone-hint",
                    ),
                ),
                spacing="1",
                width="100%",
            ),
            on_submit=BookState.submit_zone,
            reset_on_submit=False,
            flex="1",
            min_width="12em",
        ),
        rx.el.label(
            rx.switch(
                checked=BookState.hour12,
                on_change=BookState.set_hour12,
                id="hour12",
            ),
            "12-hour clock",
            display="flex",
            gap="0.5em",
            align_items="center",
            font_size="var(--font-size-2)",
        ),
        gap="1em",
        align="end",
        wrap="wrap",
        width="100%",
    )


def _day_button(d: DayView) -> rx.Component:
    chosen = BookState.day == d.iso
    return key_button(
        d.day,
        id=f"day-{d.iso}",
        type="button",
        aria_label=d.label,
        aria_disabled=rx.cond(d.open, "false", "true"),
        aria_pressed=rx.cond(chosen, "true", "false"),
        aria_current=rx.cond(d.today, "date", None),
        tab_index=rx.cond(BookState.focus_day == d.iso, 0, -1),
        on_click=BookState.choose_day(d.iso),
        on_key_down=BookState.day_key,
        # Static classes styled in assets/booking.css: a live push re-renders
        # every open page's grid, and per-cell inline styles would be
        # serialised again for each of its 42 cells on every page.
        class_name=rx.cond(d.open, "day open", "day")
        + rx.cond(chosen, " chosen", "")
        + rx.cond(d.today, " today", ""),
    )


def _month() -> rx.Component:
    return rx.vstack(
        rx.flex(
            rx.icon_button(
                rx.icon("chevron-left", aria_hidden="true"),
                variant="soft",
                aria_label="Previous month",
                disabled=~BookState.has_prev_month,
                on_click=BookState.shift_month(-1),
            ),
            rx.heading(BookState.month_label, size="4", as_="h2", id="month-title"),
            rx.icon_button(
                rx.icon("chevron-right", aria_hidden="true"),
                variant="soft",
                aria_label="Next month",
                disabled=~BookState.has_next_month,
                on_click=BookState.shift_month(1),
            ),
            justify="between",
            align="center",
            width="100%",
        ),
        rx.el.table(
            rx.el.thead(
                rx.el.tr(
                    *[
                        rx.el.th(name[:2], abbr=name, scope="col", font_size="0.8em")
                        for name in DAYS
                    ]
                )
            ),
            rx.el.tbody(
                rx.foreach(
                    BookState.weeks,
                    lambda week: rx.el.tr(
                        rx.foreach(
                            week,
                            lambda d: rx.el.td(rx.cond(d.in_month, _day_button(d))),
                        )
                    ),
                )
            ),
            role="grid",
            aria_labelledby="month-title",
            class_name="month-grid",
        ),
        rx.script(_NO_SCROLL),
        spacing="2",
        width="100%",
    )


def _slot_button(x: SlotOption) -> rx.Component:
    return rx.button(
        x.label,
        variant="outline",
        size="3",
        class_name="slot",
        on_click=BookState.choose_slot(x.iso),
    )


def _slots() -> rx.Component:
    return rx.vstack(
        rx.heading(
            rx.cond(BookState.day_label != "", BookState.day_label, "Times"),
            size="4",
            as_="h2",
        ),
        rx.cond(
            BookState.slots.length() > 0,
            rx.vstack(
                rx.foreach(BookState.slots, _slot_button),
                spacing="2",
                width="100%",
                id="slot-list",
            ),
            rx.text(
                rx.cond(
                    BookState.day != "",
                    "No open times on this day.",
                    "No open times at the moment.",
                ),
                id="no-slots",
            ),
        ),
        spacing="3",
        width="100%",
    )


def _pick_step() -> rx.Component:
    return rx.vstack(
        _types(),
        _zone_and_clock(),
        rx.grid(
            _month(),
            _slots(),
            columns=rx.breakpoints(initial="1", sm="minmax(0, 3fr) minmax(0, 2fr)"),
            gap="2em",
            width="100%",
        ),
        spacing="5",
        width="100%",
    )


def _summary_line(label: str, value: rx.Var | str) -> rx.Component:
    return rx.text(rx.text.strong(f"{label}: "), value, size="3")


def _details_step() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading(
                rx.cond(BookState.moving, "Move your appointment", "Your details"),
                size="5",
                as_="h2",
            ),
            rx.cond(
                BookState.moving,
                rx.vstack(
                    _summary_line("Now", BookState.moving_from),
                    _summary_line("New time", BookState.slot_label),
                    spacing="1",
                ),
                rx.vstack(
                    rx.text(BookState.slot_label, weight="bold", id="chosen-slot"),
                    rx.el.label(
                        "Your name", html_for="invitee-name", font_weight="500"
                    ),
                    rx.input(
                        name="name",
                        id="invitee-name",
                        width="100%",
                        auto_complete="name",
                        auto_focus=True,
                        required=True,
                    ),
                    rx.el.label(
                        "Your email", html_for="invitee-email", font_weight="500"
                    ),
                    rx.input(
                        name="email",
                        id="invitee-email",
                        type="email",
                        width="100%",
                        auto_complete="email",
                        required=True,
                    ),
                    rx.el.label(
                        "Note for the coach (optional)",
                        html_for="invitee-note",
                        font_weight="500",
                    ),
                    rx.text_area(name="note", id="invitee-note", width="100%"),
                    spacing="2",
                    width="100%",
                ),
            ),
            error_callout(BookState.error),
            rx.flex(
                rx.button(
                    rx.cond(BookState.moving, "Move appointment", "Confirm booking"),
                    type="submit",
                    size="3",
                    auto_focus=BookState.moving,
                ),
                rx.button(
                    "Back",
                    variant="soft",
                    type="button",
                    size="3",
                    on_click=BookState.back,
                ),
                gap="0.75em",
                wrap="wrap",
            ),
            spacing="3",
            width="100%",
            max_width="32em",
        ),
        on_submit=BookState.confirm,
        reset_on_submit=False,
        width="100%",
    )


def _done_step() -> rx.Component:
    return rx.vstack(
        rx.heading(
            rx.cond(BookState.moving, "Your appointment has moved", "You are booked"),
            size="6",
            as_="h2",
            id="done-heading",
            tab_index=-1,
        ),
        rx.vstack(
            rx.text(BookState.done_title, weight="bold", size="4"),
            rx.text(BookState.done_when, size="3"),
            rx.text("A confirmation email is on its way.", size="2"),
            spacing="1",
            id="confirmation",
            role="status",
        ),
        rx.heading("Add to calendar", size="3", as_="h3"),
        rx.flex(
            rx.button(
                rx.icon("download", size=16, aria_hidden="true"),
                "Download .ics file",
                variant="outline",
                on_click=BookState.download_ics,
            ),
            rx.button(
                rx.link(
                    "Google Calendar",
                    href=BookState.google_url,
                    is_external=True,
                    id="google-calendar-link",
                ),
                variant="outline",
                as_child=True,
            ),
            gap="0.75em",
            wrap="wrap",
        ),
        rx.text(
            "Need to change it? ",
            rx.link(
                "Reschedule or cancel", href=BookState.manage_url, id="manage-link"
            ),
            " (this link is also in your email).",
            size="2",
        ),
        rx.button("Book another time", variant="soft", on_click=BookState.book_another),
        spacing="3",
        width="100%",
        align="start",
    )


@public_page("/book/[booking_slug]", "Book", on_load=[BookState.load])
def book_page() -> rx.Component:
    return rx.box(
        rx.cond(
            BookState.found,
            rx.vstack(
                rx.heading(
                    rx.cond(
                        BookState.moving,
                        f"Reschedule your session with {BookState.coach_name}",
                        f"Book a session with {BookState.coach_name}",
                    ),
                    size="7",
                    as_="h1",
                ),
                rx.cond(
                    BookState.notice != "",
                    rx.callout(
                        BookState.notice,
                        icon="info",
                        color_scheme="amber",
                        role="alert",
                        width="100%",
                    ),
                ),
                rx.match(
                    BookState.step,
                    ("details", _details_step()),
                    ("done", _done_step()),
                    _pick_step(),
                ),
                spacing="5",
                width="100%",
            ),
            rx.vstack(
                rx.heading("This link does not work", size="6", as_="h1"),
                rx.text(BookState.error, id="link-error"),
            ),
        ),
        on_mount=rx.call_script(_DETECT, callback=BookState.detect),
        width="100%",
        max_width="1000px",
        margin_x="auto",
        padding=rx.breakpoints(initial="1.25em 1em", sm="2em 1.5em"),
    )
