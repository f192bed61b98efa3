"""The coach's calendar page: a week or day time grid with appointments and
pulled external events; click an event for its details, an empty time to
create an appointment there. State: `pages.calendar_state`."""

from __future__ import annotations

import reflex as rx

from coach_app.components.forms import error_callout, success_callout
from coach_app.components.layout import template
from coach_app.components.notices import notice_list
from coach_app.pages.calendar_state import CalendarState, Column, EmptySlot, EventBox

_GUTTER = "3.25em"


def _percent(value: rx.Var) -> rx.Var:
    return value.to_string() + "%"


def _lane_width(value: rx.Var) -> rx.Var:
    # Each box leaves the right eighth of its lane free, so the time under
    # an event can still be clicked to create an appointment there.
    return "calc(" + value.to_string() + "% * 0.875)"


def _event(box: EventBox) -> rx.Component:
    return rx.el.button(
        rx.text(box.title, weight="bold", size="1", truncate=True),
        rx.text(box.time, size="1", truncate=True),
        rx.text(
            rx.cond(box.kind == "external", f"{box.label} · {box.source}", box.label),
            size="1",
            truncate=True,
            class_name="event-label",
        ),
        type="button",
        aria_label=rx.cond(
            box.kind == "external",
            f"{box.title}, {box.time}, {box.label}, from {box.source}",
            f"{box.title}, {box.time}, {box.label}",
        ),
        on_click=CalendarState.open_event(box.key),
        class_name=box.css,
        data_key=box.key,
        style={
            "position": "absolute",
            "top": _percent(box.top),
            "height": _percent(box.height),
            "left": _percent(box.left),
            "width": _lane_width(box.width),
            "padding": "2px 4px",
            "overflow": "hidden",
            "text_align": "left",
            "display": "flex",
            "flex_direction": "column",
            "border_radius": "var(--radius-2)",
            "cursor": "pointer",
            "z_index": "2",
            "min_width": "0",
            **_EVENT_LOOK,
        },
    )


# Appointments solid, Busy events grey with a red edge, Free events dashed.
_EVENT_LOOK = {
    "&.cal-appointment": {
        "background": "var(--accent-4)",
        "color": "var(--accent-12)",
        "border": "1px solid var(--accent-8)",
        "border_left": "4px solid var(--accent-9)",
    },
    "&.busy": {
        "background": "var(--gray-4)",
        "color": "var(--gray-12)",
        "border": "1px solid var(--gray-7)",
        "border_left": "4px solid var(--red-9)",
    },
    "&.free": {
        "background": "var(--color-background)",
        "color": "var(--gray-12)",
        "border": "1px dashed var(--gray-9)",
    },
    "&:focus-visible": {
        "outline": "2px solid var(--accent-9)",
        "outline_offset": "1px",
    },
}


def _all_day_chip(box: EventBox) -> rx.Component:
    return rx.el.button(
        rx.text(f"{box.title} · {box.label}", size="1", truncate=True),
        type="button",
        aria_label=f"{box.title}, all day, {box.label}, from {box.source}",
        on_click=CalendarState.open_event(box.key),
        class_name=box.css,
        style={
            "width": "100%",
            "text_align": "left",
            "padding": "1px 4px",
            "border_radius": "var(--radius-2)",
            "cursor": "pointer",
            "min_width": "0",
            **_EVENT_LOOK,
        },
    )


def _empty_slot(column: Column, slot: EmptySlot) -> rx.Component:
    # Mouse and touch shortcut only: the New appointment button does the same
    # for keyboards and screen readers, so these stay out of the tab order.
    return rx.el.div(
        on_click=CalendarState.open_create(column.iso, slot.time),
        class_name="empty-slot",
        data_time=slot.time,
        title=f"New appointment at {slot.time}",
        aria_hidden="true",
        style={
            "position": "absolute",
            "top": _percent(slot.top),
            "height": _percent(slot.height),
            "left": "0",
            "right": "0",
            "cursor": "pointer",
            "border_top": "1px dotted var(--gray-4)",
            "&:hover": {"background": "var(--accent-2)"},
        },
    )


def _column(column: Column) -> rx.Component:
    return rx.box(
        rx.foreach(CalendarState.slots, lambda slot: _empty_slot(column, slot)),
        rx.foreach(column.events, _event),
        rx.cond(
            column.now_top >= 0,
            rx.box(
                class_name="now-line",
                aria_hidden="true",
                style={
                    "position": "absolute",
                    "top": _percent(column.now_top),
                    "left": "0",
                    "right": "0",
                    "border_top": "2px solid var(--red-9)",
                    "z_index": "3",
                    "pointer_events": "none",
                },
            ),
        ),
        position="relative",
        flex="1",
        min_width="0",
        height="100%",
        border_left="1px solid var(--gray-5)",
        background=rx.cond(column.today, "var(--accent-2)", "transparent"),
        class_name="cal-day",
        data_day=column.iso,
    )


def _header_cell(column: Column) -> rx.Component:
    return rx.vstack(
        rx.button(
            column.short,
            variant=rx.cond(column.today, "solid", "ghost"),
            size="1",
            aria_label=f"Show {column.long}",
            on_click=CalendarState.show_day(column.iso),
            max_width="100%",
            style={"white_space": "normal", "height": "auto", "min_height": "1.75em"},
        ),
        rx.foreach(column.all_day, _all_day_chip),
        flex="1",
        min_width="0",
        spacing="1",
        align="center",
        padding_bottom="4px",
    )


def _grid() -> rx.Component:
    return rx.box(
        rx.flex(
            rx.box(width=_GUTTER, flex_shrink="0"),
            rx.foreach(CalendarState.columns, _header_cell),
            border_bottom="1px solid var(--gray-6)",
            gap="2px",
        ),
        rx.flex(
            rx.box(
                rx.foreach(
                    CalendarState.hours,
                    lambda h: rx.text(
                        h.label,
                        size="1",
                        color_scheme="gray",
                        high_contrast=True,
                        position="absolute",
                        top=_percent(h.top),
                        right="4px",
                        style={"transform": "translateY(-0.5em)"},
                    ),
                ),
                position="relative",
                width=_GUTTER,
                flex_shrink="0",
                aria_hidden="true",
            ),
            rx.foreach(CalendarState.columns, _column),
            height=CalendarState.grid_height.to_string() + "px",
            gap="2px",
            margin_top="0.5em",
        ),
        width="100%",
        id="time-grid",
    )


def _toolbar() -> rx.Component:
    return rx.flex(
        rx.heading("Calendar", size="7", as_="h1"),
        rx.flex(
            rx.icon_button(
                rx.icon("chevron-left", aria_hidden="true"),
                variant="soft",
                aria_label=rx.cond(
                    CalendarState.view == "week", "Previous week", "Previous day"
                ),
                on_click=CalendarState.shift(-1),
            ),
            rx.button("Today", variant="soft", on_click=CalendarState.go_today),
            rx.icon_button(
                rx.icon("chevron-right", aria_hidden="true"),
                variant="soft",
                aria_label=rx.cond(
                    CalendarState.view == "week", "Next week", "Next day"
                ),
                on_click=CalendarState.shift(1),
            ),
            rx.segmented_control.root(
                rx.segmented_control.item("Week", value="week"),
                rx.segmented_control.item("Day", value="day"),
                value=CalendarState.view,
                on_change=CalendarState.set_view,
                aria_label="View",
            ),
            rx.button(
                rx.icon("plus", size=16, aria_hidden="true"),
                "New appointment",
                on_click=CalendarState.open_create_now,
            ),
            gap="0.5em",
            align="center",
            wrap="wrap",
        ),
        justify="between",
        align="center",
        wrap="wrap",
        gap="0.75em",
        width="100%",
    )


def _warning() -> rx.Component:
    return rx.cond(
        CalendarState.warning != "",
        rx.callout(
            rx.vstack(
                rx.text(CalendarState.warning),
                rx.flex(
                    rx.button(
                        "Save anyway", size="1", on_click=CalendarState.confirm_anyway
                    ),
                    rx.button(
                        "Back",
                        size="1",
                        variant="soft",
                        on_click=CalendarState.dismiss_warning,
                    ),
                    gap="0.5em",
                ),
            ),
            icon="triangle-alert",
            color_scheme="amber",
            role="alert",
            id="conflict-warning",
        ),
    )


def _date_time(prefix: str, day: rx.Var | str, time: rx.Var | str) -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.el.label("Date", html_for=f"{prefix}-day", font_weight="500"),
            rx.input(name="day", id=f"{prefix}-day", type="date", default_value=day),
            spacing="1",
        ),
        rx.vstack(
            rx.el.label("Time", html_for=f"{prefix}-time", font_weight="500"),
            rx.input(name="time", id=f"{prefix}-time", type="time", default_value=time),
            spacing="1",
        ),
        gap="1em",
        wrap="wrap",
    )


def _create_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("New appointment"),
            rx.dialog.description(
                f"Times are in {CalendarState.timezone}. The client is emailed.",
                size="2",
            ),
            rx.form(
                rx.vstack(
                    rx.el.label(
                        "Appointment type", html_for="new-type", font_weight="500"
                    ),
                    rx.el.select(
                        rx.foreach(
                            CalendarState.type_choices,
                            lambda t: rx.el.option(t.name, value=t.id),
                        ),
                        name="type_id",
                        id="new-type",
                    ),
                    _date_time("new", CalendarState.new_day, CalendarState.new_time),
                    rx.el.label(
                        "Client name", html_for="new-client-name", font_weight="500"
                    ),
                    rx.input(name="client_name", id="new-client-name", width="100%"),
                    rx.el.label(
                        "Client email", html_for="new-client-email", font_weight="500"
                    ),
                    rx.input(
                        name="client_email",
                        id="new-client-email",
                        type="email",
                        width="100%",
                    ),
                    error_callout(CalendarState.error),
                    _warning(),
                    rx.flex(
                        rx.button("Create appointment", type="submit"),
                        rx.dialog.close(
                            rx.button("Close", type="button", variant="soft")
                        ),
                        gap="0.75em",
                    ),
                    spacing="2",
                    width="100%",
                ),
                on_submit=CalendarState.create,
                reset_on_submit=False,
                key=CalendarState.new_day + CalendarState.new_time,
            ),
            max_width="28em",
        ),
        open=CalendarState.creating,
        on_open_change=CalendarState.close_create,
    )


def _appointment_actions(box: EventBox) -> rx.Component:
    return rx.vstack(
        rx.cond(
            CalendarState.moving,
            rx.form(
                rx.vstack(
                    rx.text("Move to", weight="bold", size="2"),
                    _date_time("move", box.day, box.start),
                    rx.button("Move appointment", type="submit"),
                    spacing="2",
                ),
                on_submit=CalendarState.reschedule,
                reset_on_submit=False,
                key=box.key,
            ),
        ),
        rx.cond(
            CalendarState.confirm_cancel,
            rx.vstack(
                rx.text("Cancel this appointment? The client is emailed."),
                rx.flex(
                    rx.button(
                        "Yes, cancel it",
                        color_scheme="red",
                        on_click=CalendarState.cancel_appointment,
                    ),
                    rx.button(
                        "Keep it",
                        variant="soft",
                        on_click=CalendarState.keep_appointment,
                    ),
                    gap="0.75em",
                    wrap="wrap",
                ),
                spacing="2",
            ),
        ),
        error_callout(CalendarState.error),
        _warning(),
        rx.flex(
            rx.button("Reschedule", variant="soft", on_click=CalendarState.start_move),
            rx.button(
                "Cancel appointment",
                variant="soft",
                color_scheme="red",
                on_click=CalendarState.ask_cancel,
            ),
            rx.dialog.close(rx.button("Close", variant="outline")),
            gap="0.75em",
            wrap="wrap",
        ),
        spacing="3",
        width="100%",
    )


def _details_dialog() -> rx.Component:
    box = CalendarState.selected
    return rx.dialog.root(
        rx.dialog.content(
            rx.cond(
                box,
                rx.vstack(
                    rx.dialog.title(box.title),
                    rx.dialog.description(box.time, size="2"),
                    rx.badge(box.label, size="2"),
                    rx.cond(
                        box.kind == "external",
                        rx.vstack(
                            rx.text(f"From {box.source}", size="2"),
                            rx.text(
                                "Events from your connected calendars are changed "
                                "there; here they only show as Busy or Free.",
                                size="2",
                            ),
                            rx.dialog.close(rx.button("Close", variant="outline")),
                            spacing="2",
                        ),
                        rx.vstack(
                            rx.text(box.source, size="2"),
                            _appointment_actions(box),
                            spacing="2",
                            width="100%",
                        ),
                    ),
                    spacing="2",
                    width="100%",
                ),
            ),
            max_width="28em",
            id="event-details",
        ),
        open=box.is_not_none(),
        on_open_change=CalendarState.close_details,
    )


@template("/calendar", "Calendar", on_load=[CalendarState.load])
def calendar_page() -> rx.Component:
    return rx.vstack(
        _toolbar(),
        rx.flex(
            rx.heading(CalendarState.title, size="4", as_="h2", id="range-title"),
            rx.text(f"Times in {CalendarState.timezone}", size="2"),
            gap="0.75em",
            align="baseline",
            wrap="wrap",
        ),
        notice_list(
            CalendarState.notices,
            CalendarState.dismiss_notice,
            CalendarState.dismiss_all_notices,
        ),
        success_callout(CalendarState.success),
        _grid(),
        _create_dialog(),
        _details_dialog(),
        spacing="4",
        width="100%",
        on_mount=rx.call_script("window.innerWidth", callback=CalendarState.fit_width),
    )
