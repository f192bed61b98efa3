"""Mailboxes, calendars and events of the Microsoft sandbox: the write core
shared by the Graph API and the test controls.

Callers hold the sandbox lock. Every change bumps the calendar's change
counter (``seq``, what delta rounds compare against) and is announced to
``on_change(calendar, event, "created" | "updated" | "deleted")`` (the
subscriptions). Deleted events stay as tombstones so a delta round can
still name them.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.common.oauth import User
from sandbox.microsoft import errors
from sandbox.microsoft.events import (
    Exception_,
    StoredEvent,
    Timing,
    View,
    ext_key,
    new_change_key,
    new_ids,
    occurrence_change_key,
    overlaps,
    render,
    split_occurrence_id,
    timing,
    validate_write,
)

ChangeHook = Callable[["Calendar", StoredEvent, str], None]


@dataclass
class Mailbox:
    user: User
    object_id: str
    time_zone: str
    calendars: list[str] = field(default_factory=list)
    default_calendar: str = ""

    @property
    def tenant_id(self) -> str:
        return self.user.tenant_id


@dataclass
class Calendar:
    id: str
    email: str  # whose mailbox lists it
    name: str
    can_edit: bool
    color: str
    hex_color: str
    owner_name: str
    owner_address: str
    is_default: bool = False
    change_key: str = field(default_factory=new_change_key)
    events: dict[str, StoredEvent] = field(default_factory=dict)
    seq: int = 0


class Store:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.mailboxes: dict[str, Mailbox] = {}
        self.calendars: dict[str, Calendar] = {}
        self.on_change: ChangeHook | None = None
        # Stamps (createdDateTime, lastModifiedDateTime) read this clock;
        # ``MicrosoftSandboxState.advance_clock`` moves it.
        self.clock_offset = timedelta(0)
        self._event_calendar: dict[str, str] = {}  # immutable id → calendar id
        self._rest_to_key: dict[str, str] = {}
        self._transactions: dict[tuple[str, str], str] = {}  # (email, id) → key
        # Whether a deleted event's transactionId stays used (not documented).
        self.remember_deleted_transactions = False

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    # -- mailboxes and calendars ---------------------------------------------------

    def add_mailbox(self, user: User, *, personal: bool, time_zone: str) -> Mailbox:
        box = self.mailboxes.get(user.email)
        if box is None:
            object_id = secrets.token_hex(8) if personal else str(uuid.uuid4())
            box = self.mailboxes[user.email] = Mailbox(user, object_id, time_zone)
            cal = self.new_calendar(user.email, "Calendar", can_edit=True)
            cal.is_default = True
            box.default_calendar = cal.id
        return box

    def new_calendar(
        self,
        email: str,
        name: str,
        *,
        can_edit: bool,
        color: str = "auto",
        hex_color: str = "",
        owner: tuple[str, str] | None = None,
    ) -> Calendar:
        box = self.mailboxes.get(email)
        if box is None:
            raise KeyError(f"unknown sandbox account {email}")
        owner_name, owner_address = owner or (box.user.name, email)
        cal = Calendar(
            id="AAMkAGCal" + secrets.token_urlsafe(40) + "AAA=",
            email=email,
            name=name,
            can_edit=can_edit,
            color=color,
            hex_color=hex_color,
            owner_name=owner_name,
            owner_address=owner_address,
        )
        self.calendars[cal.id] = cal
        box.calendars.append(cal.id)
        return cal

    def remove_calendar(self, cal_id: str) -> None:
        """Delete a calendar and its events (calendar-delete; the default
        calendar cannot be deleted). Its ids answer 404 from now on."""
        cal = self.calendars[cal_id]
        if cal.is_default:
            raise ValueError("the default calendar cannot be deleted")
        del self.calendars[cal_id]
        self.mailboxes[cal.email].calendars.remove(cal_id)
        for key in cal.events:
            self._event_calendar.pop(key, None)

    def calendar_of(self, email: str, ref: str | None) -> Calendar:
        """``email``'s calendar ``ref`` (None: the default one), else 404."""
        box = self.mailboxes[email]
        cal = self.calendars.get(box.default_calendar if ref is None else ref)
        if cal is None or cal.email != email:
            raise errors.item_not_found()
        return cal

    def render_calendar(self, cal: Calendar) -> dict[str, Any]:
        return {
            "id": cal.id,
            "name": cal.name,
            "color": cal.color,
            "hexColor": cal.hex_color,
            "isDefaultCalendar": cal.is_default,
            "changeKey": cal.change_key,
            "canShare": cal.can_edit,
            "canViewPrivateItems": cal.can_edit,
            "canEdit": cal.can_edit,
            "allowedOnlineMeetingProviders": [],
            "defaultOnlineMeetingProvider": "none",
            "isTallyingResponses": cal.can_edit,
            "isRemovable": not cal.is_default,
            "owner": {"name": cal.owner_name, "address": cal.owner_address},
        }

    # -- writes -----------------------------------------------------------------------

    def existing_transaction(
        self, email: str, transaction_id: str
    ) -> StoredEvent | None:
        """The live event an earlier create with ``transaction_id`` made.

        With ``remember_deleted_transactions`` on, one made for an event
        since deleted is refused (``ErrorDuplicateTransactionId``)."""
        key = self._transactions.get((email, transaction_id))
        cal_id = self._event_calendar.get(key or "")
        stored = self.calendars[cal_id].events.get(key or "") if cal_id else None
        if stored is not None and stored.deleted and self.remember_deleted_transactions:
            raise errors.duplicate_transaction()
        return None if stored is None or stored.deleted else stored

    def insert(
        self,
        cal: Calendar,
        body: dict[str, Any],
        *,
        control: bool,
        validated: bool = False,
    ) -> StoredEvent:
        fields = (
            body if validated else validate_write(body, creating=True, control=control)
        )
        start, end = fields.pop("start"), fields.pop("end")
        when = timing({"start": start, "end": end}, None, bool(fields.get("isAllDay")))
        ext_list = fields.pop("singleValueExtendedProperties", None) or []
        key, rest_id = new_ids()
        now = self.now()
        stored = StoredEvent(
            key=key,
            rest_id=rest_id,
            calendar_id=cal.id,
            fields=fields,
            start=when.start,
            end=when.end,
            start_zone=when.start_zone,
            end_zone=when.end_zone,
            created=now,
            modified=now,
            change_key=new_change_key(),
            ical_uid="040000008200E00074C5B7101A82E008" + secrets.token_hex(28).upper(),
        )
        for item in ext_list:
            stored.ext[ext_key(item["id"])] = (item["id"], item["value"])
        self._rest_to_key[rest_id] = key
        self._event_calendar[key] = cal.id
        if fields.get("transactionId"):
            self._transactions[(cal.email, str(fields["transactionId"]))] = key
        self.save(cal, stored, "created")
        return stored

    def patch(
        self,
        stored: StoredEvent,
        original: datetime | None,
        fields: dict[str, Any],
        if_match: str | None,
        *,
        control: bool,
    ) -> None:
        """Change an event or series (``original`` None) or one occurrence."""
        if original is not None:
            self._patch_occurrence(stored, original, fields, if_match)
            return
        check_if_match(if_match, stored.change_key)
        txn = fields.get("transactionId", stored.fields.get("transactionId"))
        if txn != stored.fields.get("transactionId") and (
            stored.fields.get("transactionId") or not control
        ):
            raise errors.bad_request(
                "transactionId cannot be changed after the event was created.",
                "ErrorInvalidRequest",
            )
        ext_list = fields.pop("singleValueExtendedProperties", None) or []
        base = Timing(stored.start, stored.end, stored.start_zone, stored.end_zone)
        when = base
        if {"start", "end", "isAllDay"} & fields.keys():
            when = timing(fields, base, bool(fields.get("isAllDay", stored.all_day)))
        fields.pop("start", None)
        fields.pop("end", None)
        reshaped = "recurrence" in fields or (when.start, when.end) != (
            stored.start,
            stored.end,
        )
        for name, value in fields.items():
            if value is None and name == "recurrence":
                stored.fields.pop(name, None)
            else:
                stored.fields[name] = value
        for item in ext_list:
            stored.ext[ext_key(item["id"])] = (item["id"], item["value"])
        stored.start, stored.end = when.start, when.end
        stored.start_zone, stored.end_zone = when.start_zone, when.end_zone
        stored.series_version += 1
        if reshaped and stored.is_series:
            # A new pattern or time drops the exceptions (Outlook asks first).
            stored.exceptions.clear()
            stored.cancelled.clear()
        self.touch(stored, "updated")

    def _patch_occurrence(
        self,
        stored: StoredEvent,
        original: datetime,
        fields: dict[str, Any],
        if_match: str | None,
    ) -> None:
        exc = stored.exceptions.get(original)
        check_if_match(if_match, occurrence_version(stored, original))
        for name in ("recurrence", "transactionId", "singleValueExtendedProperties"):
            fields.pop(name, None)
        base = Timing(
            exc.start if exc else original,
            exc.end if exc else original + stored.duration,
            stored.start_zone,
            stored.end_zone,
        )
        when = timing(fields, base, bool(fields.get("isAllDay", stored.all_day)))
        fields.pop("start", None)
        fields.pop("end", None)
        stored.exceptions[original] = Exception_(
            {**(exc.fields if exc else {}), **fields},
            when.start,
            when.end,
            new_change_key(),
            self.now(),
        )
        self.touch(stored, "updated")

    def delete(
        self, stored: StoredEvent, original: datetime | None, if_match: str | None
    ) -> None:
        """Delete an event or series, or cancel one occurrence."""
        if original is None:
            check_if_match(if_match, stored.change_key)
            stored.deleted = True
            self.touch(stored, "deleted")
            return
        check_if_match(if_match, occurrence_version(stored, original))
        stored.exceptions.pop(original, None)
        stored.cancelled.add(original)
        self.touch(stored, "updated")

    def relocate(self, stored: StoredEvent, target: Calendar) -> StoredEvent:
        """Move to another calendar: a tombstone stays behind, the REST id
        changes, the immutable id stays."""
        source = self.calendars[stored.calendar_id]
        tomb = StoredEvent(**{**stored.__dict__, "deleted": True})
        self.save(source, tomb, "deleted")
        moved = StoredEvent(
            **{
                **stored.__dict__,
                "rest_id": new_ids()[1],
                "calendar_id": target.id,
                "exceptions": dict(stored.exceptions),
                "cancelled": set(stored.cancelled),
                "ext": dict(stored.ext),
                "fields": dict(stored.fields),
            }
        )
        self._rest_to_key[moved.rest_id] = moved.key
        self._event_calendar[moved.key] = target.id
        moved.change_key = new_change_key()
        self.save(target, moved, "created")
        return moved

    def touch(self, stored: StoredEvent, change: str) -> None:
        stored.change_key = new_change_key()
        stored.modified = self.now()
        self.save(self.calendars[stored.calendar_id], stored, change)

    def save(self, cal: Calendar, stored: StoredEvent, change: str) -> None:
        cal.seq += 1
        stored.seq = cal.seq
        cal.events[stored.key] = stored
        if self.on_change is not None:
            self.on_change(cal, stored, change)

    # -- reads ------------------------------------------------------------------------

    def resolve(
        self, email: str, cal_ref: str | None, event_id: str
    ) -> tuple[StoredEvent, datetime | None]:
        """An event of ``email`` (in calendar ``cal_ref`` if given), 404 else."""
        stored, original = self.resolve_any(event_id)
        cal = self.calendars[stored.calendar_id]
        if cal.email != email or (cal_ref is not None and cal_ref != cal.id):
            raise errors.item_not_found()
        return stored, original

    def resolve_any(self, event_id: str) -> tuple[StoredEvent, datetime | None]:
        """The stored event and occurrence (None: the event itself) an id names."""
        occurrence = split_occurrence_id(event_id)
        master_ref, original = occurrence if occurrence else (event_id, None)
        key = self._rest_to_key.get(master_ref, master_ref)
        cal_id = self._event_calendar.get(key)
        if cal_id is None:
            if not master_ref.startswith(("AAkALg", "AAMkAG")):
                raise errors.id_malformed()
            raise errors.item_not_found()
        stored = self.calendars[cal_id].events.get(key)
        if (
            stored is None
            or stored.deleted
            or master_ref
            not in (stored.rest_id, stored.key)  # a REST id from before a move
            or (
                original is not None
                and (not stored.is_series or not stored.has_occurrence(original))
            )
        ):
            raise errors.item_not_found()
        return stored, original

    def view_items(
        self, cal: Calendar, lo: datetime, hi: datetime
    ) -> list[tuple[str, datetime | None]]:
        """(event key, occurrence start or None) of what calendarView lists."""
        out: list[tuple[str, datetime | None]] = []
        for ev in cal.events.values():
            out.extend((ev.key, o) for o in event_items(ev, lo, hi))
        return out

    def render(
        self,
        ev: StoredEvent,
        original: datetime | None,
        view: View,
        *,
        collection: bool = False,
    ) -> dict[str, Any]:
        cal = self.calendars[ev.calendar_id]
        return render(
            ev,
            original,
            view,
            owner={"name": cal.owner_name, "address": cal.owner_address},
            web_base=self.base_url,
            collection=collection,
        )


def event_items(ev: StoredEvent, lo: datetime, hi: datetime) -> list[datetime | None]:
    """The items an event contributes to the view ``[lo, hi)``."""
    if ev.deleted:
        return []
    if ev.is_series:
        return list(ev.occurrence_starts(lo, hi))
    return [None] if overlaps(ev.start, ev.end, lo, hi) else []


def item_start(ev: StoredEvent, original: datetime | None) -> datetime:
    if original is None:
        return ev.start
    exc = ev.exceptions.get(original)
    return exc.start if exc else original


def occurrence_version(ev: StoredEvent, original: datetime) -> str:
    """The change key (and etag) one occurrence shows."""
    return occurrence_change_key(ev, ev.exceptions.get(original))


def check_if_match(if_match: str | None, change_key: str) -> None:
    """``If-Match`` against an item's change key (412 when stale)."""
    if if_match is None or if_match.strip() == "*":
        return
    candidates = [c.strip().removeprefix("W/").strip('"') for c in if_match.split(",")]
    if change_key not in candidates:
        raise errors.conflict_change_key()
