"""The coach's notices, each with its own Dismiss button and one for all."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx
from pydantic import BaseModel


class NoticeView(BaseModel):
    id: int
    message: str
    when: str


def notice_list(
    notices: rx.Var[list[NoticeView]],
    dismiss: Callable[[rx.Var[int]], rx.event.EventSpec],
    dismiss_all: rx.event.EventHandler,
) -> rx.Component:
    return rx.cond(
        notices.length() > 0,
        rx.callout.root(
            rx.callout.icon(rx.icon("bell", aria_hidden="true")),
            rx.vstack(
                rx.foreach(
                    notices,
                    lambda n: rx.flex(
                        rx.text(
                            rx.text.strong(n.when, " · "),
                            n.message,
                            size="2",
                            flex="1",
                            min_width="0",
                        ),
                        rx.button(
                            "Dismiss",
                            size="1",
                            variant="soft",
                            aria_label="Dismiss this notice",
                            on_click=dismiss(n.id),
                        ),
                        gap="0.75em",
                        align="start",
                        width="100%",
                        class_name="notice",
                    ),
                ),
                rx.cond(
                    notices.length() > 1,
                    rx.button(
                        "Dismiss all",
                        size="1",
                        variant="outline",
                        on_click=dismiss_all,
                    ),
                ),
                spacing="2",
                width="100%",
            ),
            color_scheme="amber",
            id="coach-notices",
            role="region",
            aria_label="Notices",
            width="100%",
        ),
    )
