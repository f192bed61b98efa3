"""Settings → Working hours tab: the weekly hours and date overrides."""

from __future__ import annotations

import datetime as dt

import reflex as rx
from pydantic import BaseModel

from coach_app.components.forms import error_callout, success_callout
from coach_app.db import session_scope
from coach_app.services import schedule
from coach_app.services.errors import UserError
from coach_app.state import AuthState
from coach_app.views.clock import DAYS


class DayHours(BaseModel):
    weekday: int
    name: str
    periods: str


class OverrideRow(BaseModel):
    day: str
    periods: str


def _fmt(windows: list[tuple[int, int]]) -> str:
    return ", ".join(
        f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in windows
    )


def parse_periods(text: str) -> list[tuple[int, int]]:
    """'09:00-12:00, 13:00-17:00' → minute pairs; empty text → no periods."""
    out = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" not in part:
            raise UserError(f"“{part}” is not a period like 09:00-17:00.")
        start, end = part.split("-", 1)
        out.append((schedule.parse_hhmm(start), schedule.parse_hhmm(end)))
    return out


class HoursState(AuthState):
    week: list[DayHours] = []
    overrides: list[OverrideRow] = []
    form_key: int = 0
    error: str = ""
    saved: str = ""

    def _reload(self, coach_id: int) -> None:
        with session_scope() as s:
            weekly = schedule.weekly(s, coach_id)
            self.week = [
                DayHours(weekday=d, name=DAYS[d], periods=_fmt(weekly[d]))
                for d in range(7)
            ]
            self.overrides = [
                OverrideRow(day=day.isoformat(), periods=_fmt(w) or "Day off")
                for day, w in schedule.overrides(s, coach_id, dt.date.today()).items()
            ]
        self.form_key += 1

    @rx.event
    def load(self):
        coach_id = self._coach_id()
        if coach_id is not None:
            self._reload(coach_id)

    def _save(self, action) -> None:
        self.saved = ""
        try:
            coach_id = self._require_coach_id()
            with session_scope() as s:
                action(s, coach_id)
        except UserError as exc:
            self.error = str(exc)
            return
        self.error = ""
        self.saved = "Working hours saved."
        self._reload(coach_id)

    @rx.event
    def save_week(self, form: dict):
        def action(s, coach_id):
            parsed = {d: parse_periods(form.get(f"day{d}", "")) for d in range(7)}
            for d, windows in parsed.items():
                schedule.set_weekday(s, coach_id, d, windows)

        self._save(action)

    @rx.event
    def save_override(self, form: dict):
        def action(s, coach_id):
            try:
                day = dt.date.fromisoformat(str(form.get("day", "")).strip())
            except ValueError:
                raise UserError("Please pick a date for the exception.") from None
            schedule.set_override(
                s, coach_id, day, parse_periods(form.get("periods", ""))
            )

        self._save(action)

    @rx.event
    def remove_override(self, day: str):
        def action(s, coach_id):
            schedule.clear_override(s, coach_id, dt.date.fromisoformat(day))

        self._save(action)


def hours_tab() -> rx.Component:
    return rx.vstack(
        error_callout(HoursState.error),
        success_callout(HoursState.saved),
        rx.text(
            "Periods like 09:00-12:00, 13:00-17:00 in your own time zone; "
            "leave a day empty for a day off.",
            size="2",
        ),
        rx.form(
            rx.vstack(
                rx.foreach(
                    HoursState.week,
                    lambda d: rx.flex(
                        rx.el.label(
                            d.name,
                            html_for=f"day{d.weekday}",
                            width="7em",
                            flex_shrink="0",
                        ),
                        rx.input(
                            name=f"day{d.weekday}",
                            id=f"day{d.weekday}",
                            default_value=d.periods,
                            flex="1",
                            max_width="260px",
                            min_width="0",
                        ),
                        align="center",
                        gap="0.5em",
                        width="100%",
                    ),
                ),
                rx.button("Save weekly hours", type="submit"),
                spacing="2",
                width="100%",
            ),
            key=HoursState.form_key,
            on_submit=HoursState.save_week,
            reset_on_submit=False,
        ),
        rx.heading("Exceptions for one date", size="4", as_="h2"),
        rx.foreach(
            HoursState.overrides,
            lambda o: rx.flex(
                rx.text(f"{o.day}: {o.periods}"),
                rx.button(
                    "Remove",
                    size="1",
                    variant="soft",
                    aria_label=f"Remove the exception on {o.day}",
                    on_click=HoursState.remove_override(o.day),
                ),
                align="center",
                gap="0.75em",
                wrap="wrap",
            ),
        ),
        rx.form(
            rx.flex(
                rx.vstack(
                    rx.el.label("Date", html_for="override-day", font_size="0.9em"),
                    rx.input(name="day", type="date", id="override-day"),
                    spacing="1",
                ),
                rx.vstack(
                    rx.el.label(
                        "Periods (empty = day off)",
                        html_for="override-periods",
                        font_size="0.9em",
                    ),
                    rx.input(
                        name="periods",
                        id="override-periods",
                        placeholder="09:00-12:00",
                    ),
                    spacing="1",
                ),
                rx.button("Add exception", type="submit"),
                gap="0.75em",
                align="end",
                wrap="wrap",
            ),
            on_submit=HoursState.save_override,
            reset_on_submit=True,
        ),
        spacing="3",
        width="100%",
    )
