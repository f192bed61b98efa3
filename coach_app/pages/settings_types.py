"""Settings → Appointment types tab."""

from __future__ import annotations

import reflex as rx
from pydantic import BaseModel

from coach_app.components.forms import error_callout, field, success_callout
from coach_app.db import session_scope
from coach_app.services import appointment_types as types
from coach_app.services.errors import UserError
from coach_app.state import AuthState


class TypeRow(BaseModel):
    id: int
    name: str
    description: str
    duration_min: int
    slot_interval_min: int
    buffer_before_min: int
    buffer_after_min: int
    min_notice_min: int
    max_per_day: str
    horizon_days: int
    active: bool


_NUMBER_FIELDS = (
    "duration_min",
    "slot_interval_min",
    "buffer_before_min",
    "buffer_after_min",
    "min_notice_min",
    "horizon_days",
)


def _parse(form: dict) -> types.TypeInput:
    values: dict = {
        "name": str(form.get("name", "")),
        "description": str(form.get("description", "")),
    }
    try:
        for key in _NUMBER_FIELDS:
            values[key] = int(str(form.get(key, "")).strip())
        max_per_day = str(form.get("max_per_day", "")).strip()
        values["max_per_day"] = int(max_per_day) if max_per_day else None
    except ValueError:
        raise UserError(
            "Durations, buffers and limits must be whole numbers."
        ) from None
    return types.TypeInput(**values)


class TypesState(AuthState):
    rows: list[TypeRow] = []
    editing_id: int = 0
    form_key: int = 0
    error: str = ""
    saved: str = ""

    def _reload(self, coach_id: int) -> None:
        with session_scope() as s:
            self.rows = [
                TypeRow(
                    **{
                        **row.model_dump(exclude={"coach_id"}),
                        "max_per_day": str(row.max_per_day or ""),
                    }
                )
                for row in types.list_types(s, coach_id)
            ]

    @rx.event
    def load(self):
        coach_id = self._coach_id()
        if coach_id is not None:
            self._reload(coach_id)

    @rx.var
    def editing(self) -> TypeRow | None:
        return next((r for r in self.rows if r.id == self.editing_id), None)

    @rx.event
    def start_edit(self, type_id: int):
        self.editing_id = int(type_id)
        self.form_key += 1
        self.error = self.saved = ""

    @rx.event
    def cancel_edit(self):
        self.editing_id = 0
        self.form_key += 1

    @rx.event
    def save(self, form: dict):
        self.saved = ""
        try:
            coach_id = self._require_coach_id()
            data = _parse(form)
            with session_scope() as s:
                if self.editing_id:
                    types.update_type(s, coach_id, self.editing_id, data)
                else:
                    types.create_type(s, coach_id, data)
        except UserError as exc:
            self.error = str(exc)
            return
        self.error = ""
        self.saved = f"Saved “{data.name.strip()}”."
        self.editing_id = 0
        self.form_key += 1
        self._reload(coach_id)

    @rx.event
    def set_active(self, type_id: int, active: bool):
        try:
            coach_id = self._require_coach_id()
            with session_scope() as s:
                types.set_type_active(s, coach_id, int(type_id), bool(active))
        except UserError as exc:
            self.error = str(exc)
            return
        self.error = ""
        self._reload(coach_id)


def _num(label: str, name: str, default: rx.Var | int | str) -> rx.Component:
    value = default.to_string() if isinstance(default, rx.Var) else str(default)
    return field(label, name, id=f"type-{name}", type="number", default_value=value)


def _type_form() -> rx.Component:
    e = TypesState.editing
    return rx.form(
        rx.vstack(
            rx.heading(
                rx.cond(e, "Edit appointment type", "New appointment type"),
                size="4",
                as_="h2",
            ),
            field("Name", "name", id="type-name", default_value=rx.cond(e, e.name, "")),
            rx.vstack(
                rx.el.label(
                    "Description (shown on your booking page)",
                    html_for="type-description",
                    font_size="0.9em",
                    font_weight="500",
                ),
                rx.text_area(
                    name="description",
                    id="type-description",
                    default_value=rx.cond(e, e.description, ""),
                    max_length=1000,
                    width="100%",
                ),
                spacing="1",
                width="100%",
            ),
            rx.grid(
                _num("Duration (min)", "duration_min", rx.cond(e, e.duration_min, 60)),
                _num(
                    "Slot every (min)",
                    "slot_interval_min",
                    rx.cond(e, e.slot_interval_min, 30),
                ),
                _num(
                    "Buffer before (min)",
                    "buffer_before_min",
                    rx.cond(e, e.buffer_before_min, 0),
                ),
                _num(
                    "Buffer after (min)",
                    "buffer_after_min",
                    rx.cond(e, e.buffer_after_min, 0),
                ),
                _num(
                    "Minimum notice (min)",
                    "min_notice_min",
                    rx.cond(e, e.min_notice_min, 240),
                ),
                field(
                    "Max per day (empty = no limit)",
                    "max_per_day",
                    id="type-max_per_day",
                    default_value=rx.cond(e, e.max_per_day, ""),
                ),
                _num(
                    "Bookable days ahead",
                    "horizon_days",
                    rx.cond(e, e.horizon_days, 60),
                ),
                columns=rx.breakpoints(initial="1", xs="2", md="3"),
                spacing="3",
                width="100%",
            ),
            rx.hstack(
                rx.button("Save type", type="submit"),
                rx.cond(
                    e,
                    rx.button(
                        "Cancel",
                        variant="soft",
                        type="button",
                        on_click=TypesState.cancel_edit,
                    ),
                ),
            ),
            spacing="3",
            width="100%",
        ),
        key=TypesState.form_key,
        on_submit=TypesState.save,
        reset_on_submit=False,
    )


def _row(row: TypeRow) -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.text(row.name, weight="bold"),
            rx.text(
                f"{row.duration_min} min · buffers {row.buffer_before_min} / "
                f"{row.buffer_after_min} min · ",
                rx.cond(row.active, "Offered", "Archived"),
                size="2",
            ),
            spacing="0",
            flex="1",
            min_width="12em",
        ),
        rx.flex(
            rx.button(
                "Edit",
                size="1",
                variant="soft",
                aria_label=f"Edit {row.name}",
                on_click=TypesState.start_edit(row.id),
            ),
            rx.button(
                rx.cond(row.active, "Archive", "Offer again"),
                size="1",
                variant="outline",
                on_click=TypesState.set_active(row.id, ~row.active),
            ),
            gap="0.5em",
        ),
        align="center",
        gap="0.75em",
        wrap="wrap",
        width="100%",
        padding_y="0.5em",
        border_bottom="1px solid var(--gray-4)",
        class_name="type-row",
    )


def types_tab() -> rx.Component:
    return rx.vstack(
        error_callout(TypesState.error),
        success_callout(TypesState.saved),
        rx.cond(
            TypesState.rows.length() > 0,
            rx.vstack(rx.foreach(TypesState.rows, _row), spacing="0", width="100%"),
            rx.text("No appointment types yet: add one so invitees can book."),
        ),
        _type_form(),
        spacing="4",
        width="100%",
    )
