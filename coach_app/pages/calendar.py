"""The coach's calendar: a week of appointments and pulled external events.

Appointments are created, rescheduled and cancelled here (never from the
external calendar). A time over a busy external event asks for confirmation;
a time over another appointment is refused.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import reflex as rx
from pydantic import BaseModel

from coach_app import live
from coach_app.components.forms import error_callout, success_callout
from coach_app.components.layout import template
from coach_app.db import read_scope, session_scope
from coach_app.models import Coach, utcnow
from coach_app.services import booking, connections
from coach_app.services.appointment_types import list_types
from coach_app.services.calendar_view import week_items
from coach_app.services.errors import UserError
from coach_app.state import AuthState


class CalItem(BaseModel):
    kind: str
    id: int
    title: str
    time: str
    label: str


class DayColumn(BaseModel):
    iso: str
    label: str
    cards: list[CalItem]


class TypeChoice(BaseModel):
    id: str
    name: str


def _parse_local(day: str, time: str, zone: str) -> dt.datetime:
    try:
        naive = dt.datetime.fromisoformat(f"{day.strip()}T{time.strip()}")
    except ValueError:
        raise UserError(
            "Please enter a date and a time like 2026-12-01 and 09:30."
        ) from None
    return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)


class CalendarState(AuthState):
    monday: str = ""
    timezone: str = "UTC"
    days: list[DayColumn] = []
    type_choices: list[TypeChoice] = []
    error: str = ""
    success: str = ""
    warning: str = ""
    rescheduling_id: int = 0
    notices: list[str] = []
    _pending: dict = {}

    def _load_week(self, coach_id: int) -> None:
        with read_scope() as s:  # never waits for a sync writing events
            coach = s.get(Coach, coach_id)
            assert coach is not None
            self.timezone = coach.timezone
            if not self.monday:
                today = utcnow().astimezone(ZoneInfo(coach.timezone)).date()
                self.monday = (today - dt.timedelta(days=today.weekday())).isoformat()
            _, by_day = week_items(s, coach_id, dt.date.fromisoformat(self.monday))
            self.notices = [n.message for n in connections.notices(s, coach_id)]
            self.type_choices = [
                TypeChoice(id=str(t.id), name=t.name)
                for t in list_types(s, coach_id)
                if t.active
            ]
        self.days = [
            DayColumn(
                iso=day.isoformat(),
                label=f"{day:%a} {day.day} {day:%b}",
                cards=[
                    CalItem(
                        kind=i.kind,
                        id=i.id,
                        title=i.title,
                        time="All day"
                        if i.all_day
                        else f"{i.start:%H:%M}–{i.end:%H:%M}",
                        label=i.label,
                    )
                    for i in items
                ],
            )
            for day, items in by_day.items()
        ]

    @rx.event
    def load(self):
        coach_id = self._coach_id()
        if coach_id is not None:
            self._load_week(coach_id)
            live.watch("calendar", coach_id, self.router.session.client_token)

    def _apply_live(self, coach_id: int, _slots: object) -> None:
        self._load_week(coach_id)

    @rx.event
    def dismiss_notices(self):
        coach_id = self._coach_id()
        if coach_id is None:
            return rx.redirect("/login")
        with session_scope() as s:
            connections.mark_notices_read(s, coach_id)
        self.notices = []

    @rx.event
    def shift_week(self, weeks: int):
        coach_id = self._coach_id()
        if coach_id is None:
            return rx.redirect("/login")
        start = dt.date.fromisoformat(self.monday) if self.monday else dt.date.today()
        self.monday = (start + dt.timedelta(weeks=int(weeks))).isoformat()
        self._load_week(coach_id)

    def _run(self, action, success: str):
        self.error = self.success = ""
        try:
            coach_id = self._require_coach_id()
            with session_scope() as s:
                action(s, coach_id)
        except booking.ConflictWarning as exc:
            self.warning = f"{exc} Save anyway?"
            return
        except UserError as exc:
            self.error = str(exc)
            self._pending = {}
            self.warning = ""
            return
        self._pending = {}
        self.warning = ""
        self.rescheduling_id = 0
        self.success = success
        self._load_week(coach_id)

    @rx.event
    def create(self, form: dict):
        self._pending = {"op": "create", "form": dict(form)}
        self._create(allow_conflict=False)

    def _create(self, allow_conflict: bool) -> None:
        form = self._pending.get("form", {})

        def action(s, coach_id):
            booking.create_by_coach(
                s,
                coach_id,
                type_id=int(form.get("type_id") or 0),
                start=_parse_local(
                    form.get("day", ""), form.get("time", ""), self.timezone
                ),
                client_name=form.get("client_name", ""),
                client_email=form.get("client_email", ""),
                note=form.get("note", ""),
                allow_conflict=allow_conflict,
            )

        self._run(action, "Appointment created.")

    @rx.event
    def start_reschedule(self, appointment_id: int):
        self.rescheduling_id = int(appointment_id)
        self.error = self.success = self.warning = ""

    @rx.event
    def stop_reschedule(self):
        self.rescheduling_id = 0

    @rx.event
    def reschedule(self, form: dict):
        self._pending = {
            "op": "reschedule",
            "form": dict(form),
            "id": self.rescheduling_id,
        }
        self._reschedule(allow_conflict=False)

    def _reschedule(self, allow_conflict: bool) -> None:
        form, appt_id = self._pending.get("form", {}), int(self._pending.get("id", 0))

        def action(s, coach_id):
            booking.reschedule(
                s,
                coach_id,
                appt_id,
                _parse_local(form.get("day", ""), form.get("time", ""), self.timezone),
                allow_conflict=allow_conflict,
            )

        self._run(action, "Appointment rescheduled; the client has been emailed.")

    @rx.event
    def confirm_anyway(self):
        op = self._pending.get("op")
        if op == "create":
            self._create(allow_conflict=True)
        elif op == "reschedule":
            self._reschedule(allow_conflict=True)

    @rx.event
    def dismiss_warning(self):
        self.warning = ""
        self._pending = {}

    @rx.event
    def cancel_appointment(self, appointment_id: int):
        self._run(
            lambda s, coach_id: booking.cancel(s, coach_id, int(appointment_id)),
            "Appointment cancelled; the client has been emailed.",
        )


live.register_applier("calendar", CalendarState, CalendarState._apply_live)


def _item(item: CalItem) -> rx.Component:
    is_appt = item.kind == "appointment"
    return rx.card(
        rx.vstack(
            rx.text(item.time, size="1", color_scheme="gray"),
            rx.text(item.title, size="2", weight="bold"),
            rx.badge(
                item.label,
                color_scheme=rx.cond(
                    is_appt, "teal", rx.cond(item.label == "Busy", "red", "gray")
                ),
                class_name=rx.cond(is_appt, "appointment-badge", "external-badge"),
            ),
            rx.cond(
                is_appt,
                rx.hstack(
                    rx.button(
                        "Reschedule",
                        size="1",
                        variant="soft",
                        on_click=CalendarState.start_reschedule(item.id),
                    ),
                    rx.button(
                        "Cancel",
                        size="1",
                        color_scheme="red",
                        variant="soft",
                        on_click=CalendarState.cancel_appointment(item.id),
                    ),
                    spacing="1",
                ),
            ),
            spacing="1",
        ),
        size="1",
        width="100%",
        class_name=rx.cond(is_appt, "cal-appointment", "cal-external"),
    )


def _day(day: DayColumn) -> rx.Component:
    return rx.vstack(
        rx.text(day.label, weight="bold", size="2"),
        rx.foreach(day.cards, _item),
        spacing="2",
        min_width="130px",
        width="100%",
        data_day=day.iso,
        class_name="cal-day",
    )


def _date_time_inputs(prefix: str) -> list[rx.Component]:
    return [
        rx.el.label("Date", html_for=f"{prefix}-day"),
        rx.input(name="day", id=f"{prefix}-day", type="date"),
        rx.el.label("Time", html_for=f"{prefix}-time"),
        rx.input(name="time", id=f"{prefix}-time", type="time"),
    ]


def _create_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("New appointment", size="4"),
            rx.el.label("Appointment type", html_for="new-type"),
            rx.el.select(
                rx.foreach(
                    CalendarState.type_choices,
                    lambda t: rx.el.option(t.name, value=t.id),
                ),
                name="type_id",
                id="new-type",
            ),
            *_date_time_inputs("new"),
            rx.el.label("Client name", html_for="new-client-name"),
            rx.input(name="client_name", id="new-client-name"),
            rx.el.label("Client email", html_for="new-client-email"),
            rx.input(name="client_email", id="new-client-email", type="email"),
            rx.button("Create appointment", type="submit"),
            spacing="2",
            align="start",
        ),
        on_submit=CalendarState.create,
        reset_on_submit=False,
    )


def _reschedule_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Reschedule appointment", size="4"),
            *_date_time_inputs("move"),
            rx.hstack(
                rx.button("Move appointment", type="submit"),
                rx.button(
                    "Close",
                    type="button",
                    variant="soft",
                    on_click=CalendarState.stop_reschedule,
                ),
            ),
            spacing="2",
            align="start",
        ),
        on_submit=CalendarState.reschedule,
        reset_on_submit=False,
    )


@template("/calendar", "Calendar", on_load=[CalendarState.load])
def calendar_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Calendar", size="7"),
            rx.spacer(),
            rx.button(
                "← Previous week", variant="soft", on_click=CalendarState.shift_week(-1)
            ),
            rx.button(
                "Next week →", variant="soft", on_click=CalendarState.shift_week(1)
            ),
            width="100%",
            align="center",
        ),
        rx.text(f"Times in {CalendarState.timezone}", size="2", color_scheme="gray"),
        rx.cond(
            CalendarState.notices.length() > 0,
            rx.callout(
                rx.vstack(
                    rx.foreach(CalendarState.notices, lambda n: rx.text(n, size="2")),
                    rx.button(
                        "Got it",
                        size="1",
                        variant="soft",
                        on_click=CalendarState.dismiss_notices,
                    ),
                ),
                icon="bell",
                color_scheme="amber",
                id="coach-notices",
            ),
        ),
        error_callout(CalendarState.error),
        success_callout(CalendarState.success),
        rx.cond(
            CalendarState.warning != "",
            rx.callout(
                rx.vstack(
                    rx.text(CalendarState.warning),
                    rx.hstack(
                        rx.button(
                            "Save anyway",
                            size="1",
                            on_click=CalendarState.confirm_anyway,
                        ),
                        rx.button(
                            "Back",
                            size="1",
                            variant="soft",
                            on_click=CalendarState.dismiss_warning,
                        ),
                    ),
                ),
                icon="triangle-alert",
                color_scheme="amber",
                role="alert",
                id="conflict-warning",
            ),
        ),
        rx.grid(
            rx.foreach(CalendarState.days, _day), columns="7", spacing="2", width="100%"
        ),
        rx.cond(CalendarState.rescheduling_id != 0, _reschedule_form(), _create_form()),
        spacing="4",
        width="100%",
    )
