"""State of the coach's calendar: a week (or day) time grid.

Appointments are created, rescheduled and cancelled here (never from the
external calendar). A time over a busy external event asks for confirmation;
a time over another appointment is refused. Positions come from the pure
`views.week`; this state only turns items into boxes for the browser.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import reflex as rx
from pydantic import BaseModel

from coach_app import live
from coach_app.db import read_scope, session_scope
from coach_app.models import Coach, utcnow
from coach_app.pages.notice_mixin import NoticesMixin
from coach_app.services import booking
from coach_app.services.appointment_types import list_types
from coach_app.services.calendar_view import Item, week_items
from coach_app.services.errors import UserError
from coach_app.state import AuthState
from coach_app.views.clock import long_date, short_date
from coach_app.views.week import Span, empty_slots, hour_range, now_line, place_day

HOUR_PX = 48


class EventBox(BaseModel):
    key: str
    kind: str  # appointment | external
    id: int
    title: str
    time: str
    label: str  # type name, or Busy / Free
    source: str
    css: str
    day: str  # local start date and time, to prefill Reschedule
    start: str
    top: float = 0
    height: float = 0
    left: float = 0
    width: float = 100


class EmptySlot(BaseModel):
    time: str
    top: float
    height: float


class Column(BaseModel):
    iso: str
    short: str
    long: str
    today: bool
    all_day: list[EventBox]
    events: list[EventBox]
    now_top: float  # -1: no now-line in this column


class HourLabel(BaseModel):
    label: str
    top: float


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


def _box(item: Item) -> EventBox:
    css = "cal-event cal-appointment"
    if item.kind == "external":
        css = f"cal-event cal-external {item.label.lower()}"
    time = "All day" if item.all_day else f"{item.start:%H:%M}–{item.end:%H:%M}"
    return EventBox(
        key=f"{item.kind}-{item.id}",
        kind=item.kind,
        id=item.id,
        title=item.title,
        time=time,
        label=item.label,
        source=item.source,
        css=css,
        day=item.start.date().isoformat(),
        start=f"{item.start:%H:%M}",
    )


class CalendarState(NoticesMixin, AuthState):
    view: str = "week"  # week | day
    first_day: str = ""
    title: str = ""
    timezone: str = "UTC"
    grid_height: int = 14 * HOUR_PX
    hours: list[HourLabel] = []
    slots: list[EmptySlot] = []
    columns: list[Column] = []
    type_choices: list[TypeChoice] = []
    # The event whose details are open ("" = none) and the create dialog.
    selected: EventBox | None = None
    moving: bool = False
    confirm_cancel: bool = False
    creating: bool = False
    new_day: str = ""
    new_time: str = ""
    error: str = ""
    success: str = ""
    warning: str = ""
    _pending: dict = {}
    _boxes: dict[str, EventBox] = {}

    # -- loading -------------------------------------------------------------

    def _load(self, coach_id: int) -> None:
        with read_scope() as s:  # never waits for a sync writing events
            coach = s.get(Coach, coach_id)
            assert coach is not None
            self.timezone = coach.timezone
            zone = ZoneInfo(coach.timezone)
            today = utcnow().astimezone(zone).date()
            if not self.first_day:
                self.first_day = self._align(today).isoformat()
            first = dt.date.fromisoformat(self.first_day)
            count = 7 if self.view == "week" else 1
            _, by_day = week_items(s, coach_id, first, count)
            self._load_notices(s, coach_id, coach.timezone)
            self.type_choices = [
                TypeChoice(id=str(t.id), name=t.name)
                for t in list_types(s, coach_id)
                if t.active
            ]
        self._lay_out(by_day, zone, today)

    def _align(self, day: dt.date) -> dt.date:
        return day - dt.timedelta(days=day.weekday()) if self.view == "week" else day

    def _lay_out(
        self, by_day: dict[dt.date, list[Item]], zone: ZoneInfo, today: dt.date
    ) -> None:
        timed = [i for items in by_day.values() for i in items if not i.all_day]
        spans = [Span("", i.start, i.end) for i in timed]
        now = utcnow()
        if today in by_day:  # the now-line always shows on today's column
            spans.append(Span("now", now, now + dt.timedelta(minutes=1)))
        hours = hour_range(spans, zone)
        self.grid_height = (hours[1] - hours[0]) * HOUR_PX
        span = hours[1] - hours[0]
        self.hours = [
            HourLabel(label=f"{h:02d}:00", top=round((h - hours[0]) / span * 100, 4))
            for h in range(hours[0], hours[1])
        ]
        self.slots = [
            EmptySlot(time=t, top=a, height=b) for t, a, b in empty_slots(hours)
        ]
        now = utcnow()
        boxes: dict[str, EventBox] = {}
        columns = []
        for day, items in by_day.items():
            spans = [
                Span(f"{i.kind}-{i.id}", i.start, i.end) for i in items if not i.all_day
            ]
            placed = {p.key: p for p in place_day(day, spans, zone, hours)}
            events, all_day = [], []
            for item in items:
                box = _box(item)
                boxes[box.key] = box
                if item.all_day:
                    all_day.append(box)
                elif box.key in placed:
                    p = placed[box.key]
                    events.append(
                        box.model_copy(
                            update={
                                "top": p.top,
                                "height": p.height,
                                "left": p.left,
                                "width": p.width,
                            }
                        )
                    )
            line = now_line(now, day, zone, hours)
            columns.append(
                Column(
                    iso=day.isoformat(),
                    short=short_date(day),
                    long=long_date(day),
                    today=day == today,
                    all_day=all_day,
                    events=events,
                    now_top=-1 if line is None else line,
                )
            )
        self.columns = columns
        self._boxes = boxes
        days = list(by_day)
        if len(days) == 1:
            self.title = long_date(days[0])
        else:
            self.title = (
                f"{short_date(days[0])} – {short_date(days[-1])} {days[-1].year}"
            )
        if self.selected is not None and self.selected.key not in boxes:
            self.selected = None

    @rx.event
    def load(self):
        coach_id = self._coach_id()
        if coach_id is not None:
            self._load(coach_id)
            live.watch("calendar", coach_id, self.router.session.client_token)

    def _apply_live(self, coach_id: int, _offer: object) -> None:
        self._load(coach_id)

    # -- moving around ---------------------------------------------------------

    @rx.event
    def fit_width(self, width: int):
        """On a narrow screen the calendar opens on the day view."""
        if int(width or 0) < 640 and self.view == "week":
            return CalendarState.set_view("day")

    @rx.event
    def set_view(self, view: str | list[str]):
        view = view[0] if isinstance(view, list) and view else str(view)
        coach_id = self._coach_id()
        if coach_id is None:
            return rx.redirect("/login")
        if view not in ("week", "day") or view == self.view:
            return
        today = utcnow().astimezone(ZoneInfo(self.timezone)).date()
        first = dt.date.fromisoformat(self.first_day) if self.first_day else today
        if view == "day" and first <= today < first + dt.timedelta(days=7):
            first = today  # from this week to today, not to its Monday
        self.view = view
        self.first_day = self._align(first).isoformat()
        self._load(coach_id)

    @rx.event
    def show_day(self, iso: str):
        coach_id = self._coach_id()
        if coach_id is None:
            return rx.redirect("/login")
        self.view = "day"
        self.first_day = dt.date.fromisoformat(str(iso)).isoformat()
        self._load(coach_id)

    @rx.event
    def shift(self, steps: int):
        coach_id = self._coach_id()
        if coach_id is None:
            return rx.redirect("/login")
        days = 7 if self.view == "week" else 1
        first = dt.date.fromisoformat(self.first_day)
        self.first_day = (first + dt.timedelta(days=days * int(steps))).isoformat()
        self._load(coach_id)

    @rx.event
    def go_today(self):
        coach_id = self._coach_id()
        if coach_id is None:
            return rx.redirect("/login")
        self.first_day = ""
        self._load(coach_id)

    # -- details of one event ----------------------------------------------------

    def _clear_messages(self) -> None:
        self.error = self.success = self.warning = ""
        self._pending = {}

    @rx.event
    def open_event(self, key: str):
        if self._coach_id() is None:
            return rx.redirect("/login")
        self._clear_messages()
        self.selected = self._boxes.get(str(key))
        self.moving = self.confirm_cancel = False

    @rx.event
    def close_details(self, open_: bool = False):
        if not open_:
            self.selected = None
            self.moving = self.confirm_cancel = False
            self.error = self.warning = ""

    @rx.event
    def start_move(self):
        self.moving = True
        self.confirm_cancel = False
        self._clear_messages()

    @rx.event
    def ask_cancel(self):
        self.confirm_cancel = True
        self.moving = False

    @rx.event
    def keep_appointment(self):
        self.confirm_cancel = False

    # -- creating ----------------------------------------------------------------

    @rx.event
    def open_create(self, day: str, time: str):
        if self._coach_id() is None:
            return rx.redirect("/login")
        self._clear_messages()
        self.new_day, self.new_time = str(day), str(time)
        self.creating = True

    @rx.event
    def open_create_now(self):
        today = utcnow().astimezone(ZoneInfo(self.timezone)).date().isoformat()
        shown = [c.iso for c in self.columns]
        day = today if today in shown or not shown else shown[0]
        return CalendarState.open_create(day, "09:00")

    @rx.event
    def close_create(self, open_: bool = False):
        if not open_:
            self.creating = False
            self.error = self.warning = ""
            self._pending = {}

    # -- changes -----------------------------------------------------------------

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
        self.selected = None
        self.creating = self.moving = self.confirm_cancel = False
        self.success = success
        self._load(coach_id)

    @rx.event
    def create(self, form: dict):
        self._pending = {"op": "create", "form": dict(form)}
        self._create(allow_conflict=False)

    def _create(self, allow_conflict: bool) -> None:
        form = self._pending.get("form", {})
        origin = self.router.url.origin

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
                base_url=origin,
            )

        self._run(action, "Appointment created; the client has been emailed.")

    @rx.event
    def reschedule(self, form: dict):
        if self.selected is None or self.selected.kind != "appointment":
            return
        self._pending = {"op": "reschedule", "form": dict(form), "id": self.selected.id}
        self._reschedule(allow_conflict=False)

    def _reschedule(self, allow_conflict: bool) -> None:
        form, appt_id = self._pending.get("form", {}), int(self._pending.get("id", 0))
        origin = self.router.url.origin

        def action(s, coach_id):
            booking.reschedule(
                s,
                coach_id,
                appt_id,
                _parse_local(form.get("day", ""), form.get("time", ""), self.timezone),
                allow_conflict=allow_conflict,
                base_url=origin,
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
    def cancel_appointment(self):
        if self.selected is None or self.selected.kind != "appointment":
            return
        appt_id = self.selected.id
        origin = self.router.url.origin
        self._run(
            lambda s, coach_id: booking.cancel(s, coach_id, appt_id, base_url=origin),
            "Appointment cancelled; the client has been emailed.",
        )


live.register_applier("calendar", CalendarState, CalendarState._apply_live)
