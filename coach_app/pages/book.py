"""Public booking page `/book/<slug>`: type → day → slot → details → confirmed.

Slots are computed on the server (`services.offers`: once per change of the
coach's data, shared by every open page); the browser receives only the
days and the chosen day's times, rendered in the invitee's own zone
(detected from the browser, changeable). Every action shows the current
offer, and a failed booking shows fresh slots.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import reflex as rx
from pydantic import BaseModel

from coach_app import live
from coach_app.components.forms import error_callout
from coach_app.components.layout import public_page
from coach_app.db import session_scope
from coach_app.models import utcnow
from coach_app.services import booking, offers
from coach_app.services.errors import UserError
from coach_app.services.validation import check_timezone, timezone_names

_TIMEZONES = timezone_names()


class TypeOption(BaseModel):
    id: int
    name: str
    duration: int


class DayOption(BaseModel):
    iso: str
    label: str
    count: int


class SlotOption(BaseModel):
    iso: str
    label: str


def _day_label(day: dt.date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


class _Rendered:
    """The day buttons of one grouping (`Offer.days`: one offer, type and
    zone), and its slot buttons per day as they are asked for."""

    def __init__(self, grouped: list[tuple[dt.date, list[dt.datetime]]]) -> None:
        self.days = [
            DayOption(iso=d.isoformat(), label=_day_label(d), count=len(v))
            for d, v in grouped
        ]
        self._by_day = {d.isoformat(): v for d, v in grouped}
        self._slots: dict[str, list[SlotOption]] = {}

    def has(self, day: str) -> bool:
        return day in self._by_day

    def slots(self, day: str) -> list[SlotOption]:
        made = self._slots.get(day)
        if made is None:
            made = self._slots[day] = [
                SlotOption(
                    iso=local.astimezone(dt.UTC).isoformat(), label=f"{local:%H:%M}"
                )
                for local in self._by_day.get(day, [])
            ]
        return made


# Made once per grouping and shared by every open page showing it: a live
# push to fifty pages in one zone renders once. Nothing mutates them in place.
_rendered_cache: dict[int, tuple[object, _Rendered]] = {}


def _rendered(grouped: list[tuple[dt.date, list[dt.datetime]]]) -> _Rendered:
    hit = _rendered_cache.get(id(grouped))
    if hit is not None and hit[0] is grouped:
        return hit[1]
    rendered = _Rendered(grouped)
    if len(_rendered_cache) >= 64:
        _rendered_cache.clear()
    _rendered_cache[id(grouped)] = (grouped, rendered)
    return rendered


class BookState(rx.State):
    found: bool = True
    coach_name: str = ""
    types: list[TypeOption] = []
    type_id: int = 0
    timezone: str = "UTC"
    days: list[DayOption] = []
    day: str = ""
    slots: list[SlotOption] = []
    slot: str = ""
    error: str = ""
    notice: str = ""
    confirmed: bool = False
    confirmation: str = ""

    def _slug(self) -> str:
        parts = [p for p in self.router.url.path.split("/") if p]
        return parts[1] if len(parts) >= 2 and parts[0] == "book" else ""

    def _refresh(self) -> None:
        """Show the coach's current offer (kept in memory, see
        `services.offers`) and keep the invitee's choices that are still
        valid."""
        try:
            offer = offers.offer_for_slug(self._slug())
        except UserError as exc:
            self.found = False
            self.error = str(exc)
            return
        self._show(offer)
        live.watch("book", offer.coach_id, self.router.session.client_token)

    def _apply_live(self, coach_id: int, offer: offers.Offer) -> None:
        """A live push: the coach's offer was computed once for all open pages,
        so this renders it without touching the database."""
        if not self.confirmed or self.slot == "":
            self._show(offer)

    def _pick_type(self, types: list[tuple[int, str, int]]) -> int:
        if self.type_id not in {t[0] for t in types}:
            self.type_id = types[0][0] if types else 0
        return self.type_id

    def _set(self, name: str, value: object) -> None:
        """Assign only what changed: a live push then sends each open page
        just its changed vars, and its browser re-renders only those."""
        if getattr(self, name) != value:
            setattr(self, name, value)

    def _show(self, offer: offers.Offer) -> None:
        types = offer.type_options
        self._pick_type(types)
        self._set("found", True)
        self._set("coach_name", offer.coach_name)
        self._set("types", [TypeOption(id=i, name=n, duration=d) for i, n, d in types])
        self._render_slots(offer.days(self.type_id, self.timezone, utcnow()))

    def _render_slots(self, grouped: list[tuple[dt.date, list[dt.datetime]]]) -> None:
        rendered = _rendered(grouped)
        self._set("days", rendered.days)
        if not rendered.has(self.day):
            self.day = rendered.days[0].iso if rendered.days else ""
        self._set("slots", rendered.slots(self.day))
        if self.slot and self.slot not in {x.iso for x in self.slots}:
            self.slot = ""
            self.notice = (
                "The time you picked is no longer available. Please pick another."
            )

    @rx.event
    def load(self):
        self.error = self.notice = ""
        self.confirmed = False
        self.slot = ""
        self._refresh()

    @rx.event
    def set_timezone(self, name: str):
        try:
            self.timezone = check_timezone(str(name))
        except UserError:
            self.timezone = "UTC"
        self._refresh()

    @rx.event
    def choose_type(self, type_id: str):
        self.type_id = int(type_id)
        self.slot = ""
        self._refresh()

    @rx.event
    def choose_day(self, iso: str):
        self.day = iso
        self.slot = ""
        self.notice = ""
        self._refresh()

    @rx.event
    def choose_slot(self, iso: str):
        self.notice = self.error = ""
        self.slot = iso
        self._refresh()

    @rx.event
    def back_to_times(self):
        self.slot = ""
        self._refresh()

    @rx.var
    def slot_label(self) -> str:
        if not self.slot:
            return ""
        local = dt.datetime.fromisoformat(self.slot).astimezone(ZoneInfo(self.timezone))
        return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} ({self.timezone})"

    @rx.event
    def confirm(self, form: dict):
        self.error = ""
        if not self.slot:
            self.error = "Please pick a time first."
            return
        try:
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
                )
        except booking.SlotTaken as exc:
            self.slot = ""
            self.notice = str(exc)
            offers.outdated(self._slug())  # the database knows better
            self._refresh()
            return
        except UserError as exc:
            self.error = str(exc)
            self._refresh()
            return
        self.confirmed = True
        self.confirmation = (
            f"{done.type_name} with {done.coach_name} on {self.slot_label}. "
            "A confirmation email is on its way."
        )
        self.slot = ""
        self._refresh()


live.register_applier("book", BookState, BookState._apply_live)


def _type_picker() -> rx.Component:
    return rx.vstack(
        rx.text("Appointment type", weight="bold"),
        rx.hstack(
            rx.foreach(
                BookState.types,
                lambda t: rx.button(
                    f"{t.name} ({t.duration} min)",
                    variant=rx.cond(BookState.type_id == t.id, "solid", "outline"),
                    on_click=BookState.choose_type(t.id.to_string()),
                ),
            ),
            wrap="wrap",
        ),
        spacing="2",
    )


def _zone_picker() -> rx.Component:
    return rx.hstack(
        rx.el.label("Your time zone", html_for="invitee-timezone"),
        rx.el.select(
            *[rx.el.option(z, value=z) for z in _TIMEZONES],
            id="invitee-timezone",
            value=BookState.timezone,
            on_change=BookState.set_timezone,
        ),
        align="center",
    )


def _day_picker() -> rx.Component:
    return rx.vstack(
        rx.text("Day", weight="bold"),
        rx.cond(
            BookState.days.length() > 0,
            rx.hstack(
                rx.foreach(
                    BookState.days,
                    lambda d: rx.button(
                        d.label,
                        size="1",
                        variant=rx.cond(BookState.day == d.iso, "solid", "soft"),
                        on_click=BookState.choose_day(d.iso),
                    ),
                ),
                wrap="wrap",
            ),
            rx.text("No open times at the moment.", id="no-slots"),
        ),
        spacing="2",
    )


def _slot_picker() -> rx.Component:
    return rx.vstack(
        rx.text("Time", weight="bold"),
        rx.hstack(
            rx.foreach(
                BookState.slots,
                lambda x: rx.button(
                    x.label,
                    variant="outline",
                    class_name="slot",
                    on_click=BookState.choose_slot(x.iso),
                ),
            ),
            wrap="wrap",
            id="slot-list",
        ),
        spacing="2",
    )


def _details_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading(BookState.slot_label, size="4", id="chosen-slot"),
            rx.el.label("Your name", html_for="invitee-name"),
            rx.input(name="name", id="invitee-name", width="100%"),
            rx.el.label("Your email", html_for="invitee-email"),
            rx.input(name="email", id="invitee-email", type="email", width="100%"),
            rx.el.label("Note for the coach (optional)", html_for="invitee-note"),
            rx.text_area(name="note", id="invitee-note", width="100%"),
            rx.hstack(
                rx.button("Confirm booking", type="submit"),
                rx.button(
                    "Back",
                    variant="soft",
                    type="button",
                    on_click=BookState.back_to_times,
                ),
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=BookState.confirm,
        reset_on_submit=False,
    )


@public_page("/book/[booking_slug]", "Book", on_load=[BookState.load])
def book_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.cond(
                BookState.found,
                rx.vstack(
                    rx.heading(f"Book a session with {BookState.coach_name}", size="6"),
                    rx.cond(
                        BookState.confirmed,
                        rx.callout(
                            BookState.confirmation,
                            icon="check",
                            color_scheme="green",
                            role="status",
                            id="confirmation",
                        ),
                    ),
                    error_callout(BookState.error),
                    rx.cond(
                        BookState.notice != "",
                        rx.callout(
                            BookState.notice,
                            icon="info",
                            color_scheme="amber",
                            role="alert",
                        ),
                    ),
                    _zone_picker(),
                    _type_picker(),
                    rx.cond(
                        BookState.slot != "",
                        _details_form(),
                        rx.vstack(_day_picker(), _slot_picker(), spacing="4"),
                    ),
                    spacing="4",
                    width="100%",
                ),
                rx.vstack(
                    rx.heading("Booking page not found", size="6"),
                    rx.text(BookState.error),
                ),
            ),
            width="100%",
            max_width="760px",
            on_mount=rx.call_script(
                "Intl.DateTimeFormat().resolvedOptions().timeZone",
                callback=BookState.set_timezone,
            ),
        ),
        padding="2em 1em",
    )
