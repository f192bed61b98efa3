"""One card per connected calendar: status, switches, Sync now, Disconnect."""

from __future__ import annotations

import reflex as rx

from coach_app.pages.integrations.state import ConnectionView, IntegrationsState

S = IntegrationsState

SWITCHES = (
    ("Check Calendar for Conflicts", "check_conflicts"),
    ("Push Events to Connected Calendar", "push_enabled"),
    ("Pull Events to Coach Calendar", "pull_enabled"),
    ("Cancellation Notification", "cancellation_notification"),
)


def _switch(label: str, conn: ConnectionView, key: str) -> rx.Component:
    return rx.el.label(
        rx.hstack(
            rx.switch(
                checked=getattr(conn, key),
                on_change=lambda v: S.set_switch(conn.id, key, v),
                aria_label=label,
            ),
            rx.text(label, size="2"),
            align="center",
        )
    )


def _edit_calendars(conn: ConnectionView) -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.foreach(
                conn.subs,
                lambda sub: rx.hstack(
                    rx.text(sub.name, min_width="140px"),
                    rx.el.label(
                        rx.el.input(
                            type="checkbox",
                            name=f"pull-{sub.id}",
                            default_checked=sub.pull,
                        ),
                        " Pull",
                    ),
                    rx.el.label(
                        rx.el.input(
                            type="radio",
                            name="push",
                            value=sub.id.to_string(),
                            default_checked=sub.push,
                        ),
                        " Push",
                    ),
                    wrap="wrap",
                ),
            ),
            rx.hstack(
                rx.button("Save calendars", type="submit", size="1"),
                rx.button(
                    "Close",
                    type="button",
                    size="1",
                    variant="soft",
                    on_click=S.cancel_edit,
                ),
            ),
        ),
        on_submit=S.save_edit,
    )


def _confirm_disconnect(conn: ConnectionView) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(
                f"Disconnect {conn.service} ({conn.account})? Coach App will stop "
                "reading its busy times and stop adding your appointments to it.",
                size="2",
                weight="bold",
            ),
            rx.checkbox(
                f"Also remove the appointments Coach App added to “{conn.push_name}”",
                checked=S.remove_pushed,
                on_change=S.set_remove_pushed,
            ),
            rx.text(
                "Left unticked, they stay in that calendar as your own record; "
                "they will no longer follow changes made here.",
                size="1",
                color_scheme="gray",
            ),
            rx.hstack(
                rx.button(
                    "Disconnect",
                    color_scheme="red",
                    size="2",
                    class_name="confirm-disconnect",
                    on_click=S.disconnect,
                ),
                rx.button(
                    "Keep connected",
                    variant="soft",
                    size="2",
                    on_click=S.cancel_disconnect,
                ),
            ),
            spacing="2",
        ),
        role="alertdialog",
        aria_label="Disconnect this calendar?",
        variant="surface",
    )


def _status_badge(conn: ConnectionView) -> rx.Component:
    return rx.badge(
        rx.match(
            conn.status,
            ("ok", "Connected"),
            ("reconnect", "Reconnect needed"),
            "Sync problem",
        ),
        color_scheme=rx.match(
            conn.status, ("ok", "green"), ("reconnect", "red"), "amber"
        ),
    )


def connection_card(conn: ConnectionView) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(f"{conn.service}: {conn.account}", size="4"),
                _status_badge(conn),
                align="center",
                wrap="wrap",
            ),
            rx.text(
                f"Pulling busy times from: {conn.pull_names}",
                size="2",
                class_name="pull-calendars",
            ),
            rx.text(
                f"Pushing appointments to: {conn.push_name}",
                size="2",
                class_name="push-calendar",
            ),
            rx.text(
                f"Last sync: {conn.last_sync} · Next sync: {conn.next_sync}",
                size="2",
                color_scheme="gray",
                class_name="sync-times",
            ),
            rx.cond(
                conn.progress != "",
                rx.hstack(
                    rx.spinner(size="1"),
                    rx.text(conn.progress, size="2", class_name="sync-progress"),
                    align="center",
                ),
            ),
            rx.cond(
                conn.last_error != "",
                rx.callout(
                    conn.last_error, icon="triangle-alert", color_scheme="red", size="1"
                ),
            ),
            rx.grid(
                *(_switch(label, conn, key) for label, key in SWITCHES),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="2",
            ),
            rx.cond(
                conn.action_error != "",
                rx.callout(
                    conn.action_error,
                    icon="triangle-alert",
                    color_scheme="red",
                    size="1",
                    role="alert",
                ),
            ),
            rx.hstack(
                rx.button(
                    rx.cond(S.syncing_id == conn.id, "Syncing…", "Sync now"),
                    size="1",
                    loading=S.syncing_id == conn.id,
                    class_name="sync-now",
                    on_click=S.sync_now(conn.id),
                ),
                rx.button(
                    "Edit calendars",
                    size="1",
                    variant="soft",
                    on_click=S.start_edit(conn.id),
                ),
                rx.button(
                    "Disconnect",
                    size="1",
                    color_scheme="red",
                    variant="soft",
                    on_click=S.ask_disconnect(conn.id),
                ),
                wrap="wrap",
            ),
            rx.cond(S.editing_id == conn.id, _edit_calendars(conn)),
            rx.cond(S.disconnecting_id == conn.id, _confirm_disconnect(conn)),
            spacing="2",
        ),
        width="100%",
        class_name="connection",
        data_syncs_finished=S.syncs_finished,
    )
