"""State of the public booking page `/book/<slug>`.

Steps: pick (type, day on a month calendar, time) → details → done. With
`?reschedule=<manage token>` the same page moves an existing appointment:
the type is fixed to the appointment's, and details become one confirmation.

Open slots come from the coach's offer (`services.offers`: read once per
change of the coach's data, kept in memory, shared by every open page) into
a backend-only list; the browser gets the month grid and the chosen day's
times, rendered in the invitee's zone and clock. Live pushes
(`coach_app.live`) re-render them without touching the database.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import reflex as rx
from pydantic import BaseModel

from coach_app import live
from coach_app.availability import group_by_local_date
from coach_app.db import read_scope, session_scope
from coach_app.models import Appointment, AppointmentType, Client, Coach, utcnow
from coach_app.notify import links
from coach_app.services import availability, booking, manage, offers
from coach_app.services.add_to_calendar import Entry, google_link, ics_file
from coach_app.services.errors import UserError
from coach_app.services.validation import check_timezone, timezone_names
from coach_app.views.clock import clock, long_date, month_title, utc_offset
from coach_app.views.month import add_months, first_of_month, key_target, month_weeks

TAKEN_NOTICE = "The time you picked is no longer available. Please pick another."


class TypeCard(BaseModel):
    id: int
    name: str
    duration: int
    description: str


class DayView(BaseModel):
    iso: str
    day: int
    in_month: bool
    open: bool
    today: bool
    label: str


class SlotOption(BaseModel):
    iso: str
    label: str


# Month grids made once per (grouping, month, today) and shared by the open
# pages showing them: a live push to fifty pages in one zone builds one.
# Nothing mutates them in place.
_month_views: dict[tuple[int, str, dt.date], tuple[dict, list]] = {}


def _month_view(grouped: dict, month: str, today: dt.date) -> list[list[DayView]]:
    key = (id(grouped), month, today)
    hit = _month_views.get(key)
    if hit is not None and hit[0] is grouped:
        return hit[1]
    first = dt.date.fromisoformat(month)
    weeks = [
        [
            DayView(
                iso=c.iso,
                day=c.day,
                in_month=c.in_month,
                open=c.open_count > 0,
                today=c.is_today,
                label=c.label,
            )
            for c in week
        ]
        for week in month_weeks(first, {d: len(v) for d, v in grouped.items()}, today)
    ]
    if len(_month_views) >= 256:
        _month_views.clear()
    _month_views[key] = (grouped, weeks)
    return weeks


class BookState(rx.State):
    found: bool = True
    coach_name: str = ""
    types: list[TypeCard] = []
    type_id: int = 0
    timezone: str = "UTC"
    zone_text: str = "UTC"
    zone_error: str = ""
    hour12: bool = False
    month: str = ""  # first day of the shown month
    weeks: list[list[DayView]] = []
    has_prev_month: bool = False
    has_next_month: bool = False
    focus_day: str = ""  # the one day of the grid reached by Tab
    day: str = ""
    slots: list[SlotOption] = []
    slot: str = ""
    step: str = "pick"  # pick | details | done
    error: str = ""
    notice: str = ""
    moving_from: str = ""  # reschedule mode: the appointment's current time
    done_title: str = ""
    done_when: str = ""
    manage_url: str = ""
    google_url: str = ""
    ics: str = ""
    _open: list[dt.datetime] = []
    _descriptions: dict[int, str] = {}
    _token: str = ""
    _refused: bool = False  # a reschedule link that does not work: show only why

    # -- where the page is ---------------------------------------------------

    def _slug(self) -> str:
        parts = [p for p in self.router.url.path.split("/") if p]
        return parts[1] if len(parts) >= 2 and parts[0] == "book" else ""

    @rx.var
    def moving(self) -> bool:
        return self.moving_from != ""

    @rx.var
    def month_label(self) -> str:
        return month_title(dt.date.fromisoformat(self.month)) if self.month else ""

    @rx.var
    def day_label(self) -> str:
        return long_date(dt.date.fromisoformat(self.day)) if self.day else ""

    @rx.var
    def zone_label(self) -> str:
        now = dt.datetime.now(ZoneInfo(self.timezone))
        return f"{self.timezone} ({utc_offset(now)})"

    @rx.var
    def slot_label(self) -> str:
        return self._when(dt.datetime.fromisoformat(self.slot)) if self.slot else ""

    def _when(self, start: dt.datetime) -> str:
        local = start.astimezone(ZoneInfo(self.timezone))
        return (
            f"{long_date(local.date())}, {clock(local, self.hour12)} ({self.timezone})"
        )

    # -- loading and live updates --------------------------------------------

    def _refresh(self) -> None:
        """Show the coach's current offer (read once per change and kept in
        memory, see `services.offers`); keep choices still valid."""
        if self._refused:
            return
        try:
            offer = offers.offer_for_slug(self._slug())
            fixed = None
            if self.moving:
                with read_scope() as s:
                    fixed = self._moving_type(s)
        except UserError as exc:
            self._refuse(str(exc))
            return
        if fixed is not None and fixed.id not in {t[0] for t in offer.type_options}:
            self._show_archived_type(offer, fixed)
        else:
            self._show_offer(offer, fixed.id if fixed else None)
        live.watch("book", offer.coach_id, self.router.session.client_token)

    def _moving_type(self, s) -> AppointmentType | None:
        managed = manage.open_link(s, self._token)
        return s.get(AppointmentType, managed.type_id) if managed.type_id else None

    def _show_archived_type(self, offer: offers.Offer, fixed: AppointmentType) -> None:
        """Moving an appointment whose type is no longer offered to new
        invitees: its slots are computed from the database."""
        with read_scope() as s:
            coach = s.get(Coach, offer.coach_id)
            open_slots = availability.slots(s, coach, fixed, utcnow())
        self._descriptions = {fixed.id: fixed.description}  # type: ignore[dict-item]
        types = [(fixed.id, fixed.name, fixed.duration_min)]
        self._pick_type(types)  # type: ignore[arg-type]
        self._show(offer.coach_name, types, open_slots)  # type: ignore[arg-type]

    def _show_offer(self, offer: offers.Offer, only_type: int | None = None) -> None:
        types = offer.type_options
        if only_type is not None:
            types = [t for t in types if t[0] == only_type]
        self._descriptions = offer.descriptions
        self._pick_type(types)
        now = utcnow()
        self._show(
            offer.coach_name,
            types,
            offer.slots(self.type_id, now),
            offer.day_map(self.type_id, self.timezone, now),
        )

    def _apply_live(self, coach_id: int, offer: offers.Offer) -> None:
        """A live push: the coach's offer, computed once for all open pages."""
        if self.step == "done" or self._refused:
            return
        if self.moving:
            # Only the appointment's own type; an archived one is not in the
            # offer, and its page keeps what the last load computed.
            if self.type_id not in {t[0] for t in offer.type_options}:
                return
            self._show_offer(offer, self.type_id)
        else:
            self._show_offer(offer)

    def _pick_type(self, types: list[tuple[int, str, int]]) -> int:
        if self.type_id not in {t[0] for t in types}:
            self.type_id = types[0][0] if types else 0
        return self.type_id

    def _set(self, name: str, value: object) -> None:
        """Assign only what changed: a live push then sends each open page
        just its changed vars, and its browser re-renders only those."""
        if getattr(self, name) != value:
            setattr(self, name, value)

    def _show(
        self,
        coach_name: str,
        types: list[tuple[int, str, int]],
        open_slots: list[dt.datetime],
        grouped: dict | None = None,
    ) -> None:
        self._set("found", True)
        self._set("coach_name", coach_name)
        self._set(
            "types",
            [
                TypeCard(
                    id=i, name=n, duration=d, description=self._descriptions.get(i, "")
                )
                for i, n, d in types
            ],
        )
        self._open = open_slots
        self._render(grouped)

    def _render(self, grouped: dict | None = None) -> None:
        """`grouped`: the open slots by the invitee's local date, when the
        offer has them already (shared by the pages in one zone)."""
        zone = ZoneInfo(self.timezone)
        if grouped is None:
            grouped = group_by_local_date(self._open, zone)
        if self.day and dt.date.fromisoformat(self.day) not in grouped:
            self.day = ""
        if not self.day and grouped:
            self.day = next(iter(grouped)).isoformat()
            self.month = ""
        today = utcnow().astimezone(zone).date()
        if not self.month:
            shown = dt.date.fromisoformat(self.day) if self.day else today
            self.month = first_of_month(shown).isoformat()
        self._render_month(grouped, today)
        self.has_prev_month = self.month > first_of_month(today).isoformat()
        self.has_next_month = (
            bool(grouped) and self.month < first_of_month(max(grouped)).isoformat()
        )
        chosen = grouped.get(dt.date.fromisoformat(self.day), []) if self.day else []
        hour12 = self.hour12
        slots = [
            SlotOption(
                iso=local.astimezone(dt.UTC).isoformat(), label=clock(local, hour12)
            )
            for local in chosen
        ]
        self._set("slots", slots)
        if self.slot and self.slot not in {x.iso for x in slots}:
            self.slot = ""
            self.step = "pick"
            self.notice = TAKEN_NOTICE

    def _render_month(self, grouped: dict, today: dt.date) -> None:
        # Read the plain lists, not the state's vars: inside a live push
        # the state is a proxy, and every element read through it costs.
        weeks = _month_view(grouped, self.month, today)
        self._set("weeks", weeks)
        in_month = [c for w in weeks for c in w if c.in_month]
        if self.focus_day not in {c.iso for c in in_month}:
            chosen = [c.iso for c in in_month if c.iso == self.day]
            open_days = [c.iso for c in in_month if c.open]
            self.focus_day = (chosen or open_days or [in_month[0].iso])[0]

    @rx.event
    def load(self):
        self.error = self.notice = self.zone_error = ""
        self.step = "pick"
        self.slot = self.day = self.month = self.moving_from = ""
        self._refused = False
        self._token = self.router.url.query_parameters.get("reschedule", "")
        if self._token:
            try:
                with read_scope() as s:
                    managed = manage.open_link(s, self._token)
            except UserError as exc:
                return self._refuse(str(exc))
            if managed.slug != self._slug() or managed.cancelled:
                return self._refuse(
                    "This appointment was cancelled, so it cannot be moved."
                    if managed.cancelled
                    else manage.INVALID
                )
            self.type_id = managed.type_id
            self.moving_from = self._when(managed.start)
        self._refresh()

    def _refuse(self, message: str) -> None:
        self.found = False
        self.error = message
        self._refused = True

    @rx.event
    def detect(self, found: list | str):
        """The browser's zone and hour cycle, once, when the page mounts."""
        values = found if isinstance(found, list) else json.loads(found or "[]")
        zone = str(values[0]) if values else ""
        self.hour12 = len(values) > 1 and str(values[1]) in ("h11", "h12")
        self._set_zone(zone or "UTC", quiet=True)

    def _set_zone(self, name: str, quiet: bool = False) -> bool:
        try:
            self.timezone = check_timezone(name)
        except UserError as exc:
            if not quiet:
                self.zone_error = f"{exc} Please pick one from the list."
            return False
        self.zone_text = self.timezone
        self.zone_error = ""
        if self.moving_from and self._token:
            with read_scope() as s:
                self.moving_from = self._when(manage.open_link(s, self._token).start)
        self._refresh()
        return True

    @rx.event
    def type_zone(self, text: str):
        """Typing in the zone search: a full zone name applies at once."""
        self.zone_text = str(text)
        match = _ZONES.get(self.zone_text.strip().lower())
        if match and match != self.timezone:
            self._set_zone(match)

    def _settle_zone(self, text: str) -> None:
        """Leaving the zone search: apply what it holds, or say why not."""
        text = text.strip()
        if not text:
            self.zone_text = self.timezone
            return
        match = _ZONES.get(text.lower(), text)
        if match != self.timezone:
            self._set_zone(match)

    @rx.event
    def leave_zone(self, text: str):
        self._settle_zone(str(text))

    @rx.event
    def submit_zone(self, form: dict):
        self._settle_zone(str(form.get("zone", "")))

    @rx.event
    def set_hour12(self, value: bool):
        self.hour12 = bool(value)
        self._render()
        if self.moving_from and self._token:
            with read_scope() as s:
                self.moving_from = self._when(manage.open_link(s, self._token).start)

    # -- picking ---------------------------------------------------------------

    @rx.event
    def choose_type(self, type_id: int):
        if self.moving:
            return
        self.type_id = int(type_id)
        self.slot = self.day = self.month = ""
        self.notice = ""
        self._refresh()

    @rx.event
    def shift_month(self, months: int):
        first = dt.date.fromisoformat(self.month) if self.month else utcnow().date()
        self.month = add_months(first, int(months)).isoformat()
        self._render()

    @rx.event
    def choose_day(self, iso: str):
        try:
            chosen = dt.date.fromisoformat(str(iso))
        except ValueError:
            return
        grouped = group_by_local_date(self._open, ZoneInfo(self.timezone))
        self.focus_day = chosen.isoformat()
        if chosen not in grouped:
            return  # a day without open times: nothing to choose
        self.day = chosen.isoformat()
        self.slot = self.notice = ""
        self._refresh()

    @rx.event
    def day_key(self, key: str, _info: dict | None = None):
        """Arrow keys, Home/End and Page Up/Down move the grid's focus."""
        if not self.focus_day:
            return
        target = key_target(dt.date.fromisoformat(self.focus_day), str(key))
        if target is None:
            return
        today = utcnow().astimezone(ZoneInfo(self.timezone)).date()
        if target < today and first_of_month(target) < first_of_month(today):
            return
        if first_of_month(target).isoformat() != self.month:
            self.month = first_of_month(target).isoformat()
        self.focus_day = target.isoformat()
        self._render()
        return rx.call_script(_FOCUS_SCRIPT % json.dumps(f"day-{self.focus_day}"))

    @rx.event
    def choose_slot(self, iso: str):
        self.notice = self.error = ""
        self.slot = str(iso)
        self._refresh()
        if self.slot:
            self.step = "details"

    @rx.event
    def back(self):
        self.step = "pick"
        self.slot = ""
        self.error = ""
        self._refresh()

    # -- confirming --------------------------------------------------------------

    def _taken(self, exc: UserError) -> None:
        self.slot = ""
        self.step = "pick"
        self.notice = str(exc)
        offers.outdated(self._slug())  # the database knows better than the cache
        self._refresh()

    @rx.event
    def confirm(self, form: dict):
        self.error = ""
        if not self.slot:
            self.error = "Please pick a time first."
            return
        if self.moving:
            return self._move()
        try:
            with session_scope() as s:  # counted even when the booking fails
                booking.admit(s, self._slug(), self.router.session.client_ip)
            with session_scope() as s:
                done = booking.book(
                    s,
                    slug=self._slug(),
                    type_id=self.type_id,
                    start=dt.datetime.fromisoformat(self.slot),
                    name=form.get("name", ""),
                    email=form.get("email", ""),
                    note=form.get("note", ""),
                    invitee_timezone=self.timezone,
                    base_url=self.router.url.origin,
                )
                self._done(s, s.get(Appointment, done.appointment_id))
        except booking.SlotTaken as exc:
            return self._taken(exc)
        except UserError as exc:
            self.error = str(exc)
            self._refresh()
            return
        return _focus_result()

    def _move(self):
        try:
            with session_scope() as s:
                moved = manage.reschedule(
                    s,
                    self._token,
                    dt.datetime.fromisoformat(self.slot),
                    base_url=self.router.url.origin,
                )
                self._done(s, moved)
        except booking.SlotTaken as exc:
            return self._taken(exc)
        except UserError as exc:
            self.error = str(exc)
            return
        return _focus_result()

    def _done(self, s, appointment: Appointment | None) -> None:
        assert appointment is not None
        coach = s.get(Coach, appointment.coach_id)
        client = s.get(Client, appointment.client_id)
        type_row = s.get(AppointmentType, appointment.appointment_type_id)
        base = links.public_base(self.router.url.origin)
        self.manage_url = links.manage_url(base, links.manage_token(appointment))
        entry = Entry(
            appointment_id=appointment.id,  # type: ignore[arg-type]
            version=appointment.version,
            title=f"{type_row.name if type_row else 'Appointment'} with {coach.display_name}",
            start=appointment.start,
            end=appointment.end,
            coach_name=coach.display_name,
            coach_email=coach.email,
            client_name=client.name,
            client_email=client.email,
            manage_url=self.manage_url,
        )
        self.done_title = entry.title
        self.done_when = self._when(appointment.start)
        self.google_url = google_link(entry)
        self.ics = ics_file(entry)
        self.step = "done"
        self.slot = ""

    @rx.event
    def download_ics(self):
        if self.step != "done" or not self.ics:
            return
        return rx.download(
            data=self.ics, filename="appointment.ics", mime_type="text/calendar"
        )

    @rx.event
    def book_another(self):
        return rx.redirect(f"/book/{self._slug()}")


def _focus_result():
    return rx.call_script(_FOCUS_SCRIPT % json.dumps("done-heading"))


# Focus an element once React has rendered it (a new month's day, the summary).
_FOCUS_SCRIPT = (
    "(function f(n){const e=document.getElementById(%s);"
    "if(e){e.focus()}else if(n>0){requestAnimationFrame(()=>f(n-1))}})(60)"
)

# The zone search matches whole names whatever their case.
_ZONES = {name.lower(): name for name in timezone_names()}
live.register_applier("book", BookState, BookState._apply_live)
