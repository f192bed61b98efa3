"""Calendars and events of the Google sandbox: validation of what clients
write, the stored form, Google's JSON rendering, and recurrence expansion.

Choices (see the package docstring for deviations from Google):

* Stored form: the writable fields of the Event resource, with ``dateTime``
  kept in UTC ("...Z") next to the event's own ``timeZone``; responses render
  ``dateTime`` in the calendar's zone (or the request's ``timeZone``), as
  Google does.
* ``transparency`` is omitted from responses when opaque (Google's default),
  so clients must treat "absent" as busy.
* Deleted events stay as tombstones (``status: "cancelled"``) so that sync
  tokens can report them and their ids cannot be reused (insert → 409), as
  with Google. ``events.get`` still returns them; lists only with
  ``showDeleted`` or a ``syncToken``, and then in minimal form (Google only
  guarantees ``id`` for deleted events; cancelled instances of a series keep
  ``recurringEventId`` and ``originalStartTime``).
* Instances of a recurring event have ids ``<masterId>_<YYYYMMDDTHHMMSSZ>``
  (``_<YYYYMMDD>`` when all-day). Writing to such an id stores an exception;
  deleting it stores a cancelled exception — how Google represents "this
  instance moved / deleted".
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.google import errors, recurrence
from sandbox.google.errors import ApiError
from sandbox.google.recurrence import RecurrenceError, Slot

EVENT_ID_RE = re.compile(r"[a-v0-9]{5,1024}")
_INSTANCE_RE = re.compile(r"^(?P<master>.+)_(?P<when>\d{8}(?:T\d{6}Z)?)$")

# Without timeMax, series are expanded this far ahead (Google pages on
# "forever"; a sandbox needs a bound) and never past this many instances.
EXPANSION_HORIZON = timedelta(days=730)
MAX_INSTANCES = 2500

WRITABLE = frozenset(
    {
        "summary",
        "description",
        "location",
        "start",
        "end",
        "recurrence",
        "transparency",
        "status",
        "extendedProperties",
        "attendees",
        "visibility",
        "colorId",
        "reminders",
        "source",
        "guestsCanModify",
        "guestsCanInviteOthers",
        "guestsCanSeeOtherGuests",
        "anyoneCanAddSelf",
    }
)
RESPONSE_STATUSES = frozenset({"needsAction", "declined", "tentative", "accepted"})
EVENT_STATUSES = frozenset({"confirmed", "tentative", "cancelled"})
FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class StoredEvent:
    """One stored event (single, series master, exception or tombstone)."""

    data: dict[str, Any]
    seq: int  # the calendar's change counter when this event last changed

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def cancelled(self) -> bool:
        return self.data.get("status") == "cancelled"

    @property
    def master_id(self) -> str | None:
        value = self.data.get("recurringEventId")
        return str(value) if value else None

    @property
    def is_series(self) -> bool:
        return bool(self.data.get("recurrence"))


@dataclass
class Calendar:
    """A calendar with its ACL (email → accessRole) and events."""

    id: str
    summary: str
    owner: str
    time_zone: str
    resource_id: str
    description: str = ""
    background_color: str = "#9fe1e7"
    foreground_color: str = "#000000"
    color_id: str = "14"
    acl: dict[str, str] = field(default_factory=dict)
    hidden_for: set[str] = field(default_factory=set)
    events: dict[str, StoredEvent] = field(default_factory=dict)
    seq: int = 0
    etag: str = '"0"'

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def exceptions_of(self, master_id: str) -> list[StoredEvent]:
        return [e for e in self.events.values() if e.master_id == master_id]


# -- time values -------------------------------------------------------------


def parse_rfc3339(value: Any, param: str) -> datetime:
    """An aware datetime from an RFC 3339 string with offset (400 otherwise)."""
    if not isinstance(value, str):
        raise errors.bad_request("Invalid Value", param=param)
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        raise errors.bad_request("Bad Request", param=param) from exc
    if moment.tzinfo is None:
        raise errors.bad_request("Bad Request", param=param)
    return moment


def fmt_in(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone).replace(microsecond=0)
    if local.utcoffset() == timedelta(0):
        return local.replace(tzinfo=None).isoformat() + "Z"
    return local.isoformat()


def fmt_utc(moment: datetime) -> str:
    return fmt_in(moment, ZoneInfo("UTC"))


def fmt_stamp(moment: datetime) -> str:
    """Google's ``updated``/``created`` form: UTC with milliseconds."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def when_value(when: dict[str, Any]) -> datetime | date:
    """The stored start/end value: aware UTC datetime, or a date."""
    if "date" in when:
        return date.fromisoformat(when["date"])
    return datetime.fromisoformat(when["dateTime"].replace("Z", "+00:00"))


def to_utc_bounds(value: datetime | date, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(0), zone).astimezone(UTC)


def interval(data: dict[str, Any], cal: Calendar) -> tuple[datetime, datetime]:
    """UTC span of a single event or exception (all-day in the calendar's zone)."""
    return (
        to_utc_bounds(when_value(data["start"]), cal.zone),
        to_utc_bounds(when_value(data["end"]), cal.zone),
    )


def overlaps(
    span: tuple[datetime, datetime], lo: datetime | None, hi: datetime | None
) -> bool:
    start, end = span
    if hi is not None and start >= hi:
        return False
    if lo is not None:
        if end == start:
            return start >= lo
        return end > lo
    return True


# -- writes ------------------------------------------------------------------


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """PATCH semantics: objects merge, arrays and scalars replace, null deletes."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def writable_part(data: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in data.items() if k in WRITABLE}


def validate_body(
    body: dict[str, Any], *, exception: bool
) -> tuple[dict[str, Any], datetime | date, datetime | date]:
    """The writable fields of ``body``, checked as Google checks them."""
    data = {k: copy.deepcopy(v) for k, v in body.items() if k in WRITABLE}
    rules = data.get("recurrence") or []
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise errors.bad_request("Invalid recurrence rule.")
    if rules and exception:
        raise errors.bad_request("Invalid recurrence rule.")
    if rules:
        try:
            recurrence.validate(rules)
        except RecurrenceError as exc:
            raise errors.bad_request("Invalid recurrence rule.") from exc
        data["recurrence"] = rules
    else:
        data.pop("recurrence", None)
    start_store, start = _when(data.get("start"), "start", recurring=bool(rules))
    end_store, end = _when(data.get("end"), "end", recurring=bool(rules))
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise errors.bad_request(
            "Start and end times must either both be date or both be dateTime."
        )
    if end < start:
        raise ApiError(
            400,
            "timeRangeEmpty",
            "The specified time range is empty.",
            domain="calendar",
            location_type="parameter",
            location="end",
        )
    data["start"], data["end"] = start_store, end_store
    _check_enum(data, "transparency", {"opaque", "transparent"})
    _check_enum(data, "visibility", {"default", "public", "private", "confidential"})
    status = data.setdefault("status", "confirmed")
    if status not in EVENT_STATUSES:
        raise errors.bad_request("Invalid Value", param="status")
    for name in ("summary", "description", "location"):
        if name in data and not isinstance(data[name], str):
            raise errors.bad_request("Invalid Value", param=name)
    _check_extended(data.get("extendedProperties"))
    attendees = data.get("attendees")
    if attendees is not None:
        if not isinstance(attendees, list):
            raise errors.bad_request("Invalid Value", param="attendees")
        for attendee in attendees:
            if not isinstance(attendee, dict) or not attendee.get("email"):
                raise ApiError(400, "required", "Missing attendee email.")
            attendee.setdefault("responseStatus", "needsAction")
            if attendee["responseStatus"] not in RESPONSE_STATUSES:
                raise errors.bad_request("Invalid attendee response status.")
    return data, start, end


def _when(
    when: Any, name: str, *, recurring: bool
) -> tuple[dict[str, Any], datetime | date]:
    if not isinstance(when, dict) or not (when.get("date") or when.get("dateTime")):
        raise ApiError(400, "required", f"Missing {name} time.")
    if when.get("date") and when.get("dateTime"):
        raise errors.bad_request(f"Invalid {name} time.")
    tz_name = when.get("timeZone")
    if tz_name is not None:
        try:
            recurrence.zone(tz_name)
        except RecurrenceError as exc:
            raise errors.bad_request(
                f"Invalid time zone definition for {name} time."
            ) from exc
    if when.get("date"):
        try:
            day = date.fromisoformat(str(when["date"]))
        except ValueError as exc:
            raise errors.bad_request(f"Invalid {name} time.") from exc
        return {"date": day.isoformat()}, day
    try:
        moment = datetime.fromisoformat(str(when["dateTime"]).replace("z", "Z"))
    except ValueError as exc:
        raise errors.bad_request(f"Invalid {name} time.") from exc
    if moment.tzinfo is None:
        if not tz_name:
            raise ApiError(
                400, "required", f"Missing time zone definition for {name} time."
            )
        moment = moment.replace(tzinfo=ZoneInfo(tz_name))
    if recurring and not tz_name:
        raise ApiError(
            400, "required", f"Missing time zone definition for {name} time."
        )
    stored: dict[str, Any] = {"dateTime": fmt_utc(moment)}
    if tz_name:
        stored["timeZone"] = tz_name
    return stored, moment.astimezone(UTC)


def _check_enum(data: dict[str, Any], name: str, allowed: set[str]) -> None:
    if name in data and data[name] not in allowed:
        raise errors.bad_request("Invalid Value", param=name)


def _check_extended(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise errors.bad_request("Invalid Value", param="extendedProperties")
    for scope, props in value.items():
        if scope not in ("private", "shared") or not isinstance(props, dict):
            raise errors.bad_request("Invalid Value", param="extendedProperties")
        for key, val in props.items():
            if not isinstance(key, str) or not isinstance(val, str):
                raise errors.bad_request("Invalid Value", param="extendedProperties")


# -- rendering ---------------------------------------------------------------


def render(
    data: dict[str, Any],
    cal: Calendar,
    *,
    viewer: str,
    base_url: str,
    zone: ZoneInfo | None = None,
    minimal_if_cancelled: bool = False,
) -> dict[str, Any]:
    """The Event resource as Google returns it."""
    if minimal_if_cancelled and data.get("status") == "cancelled":
        out: dict[str, Any] = {
            "kind": "calendar#event",
            "etag": data["etag"],
            "id": data["id"],
            "status": "cancelled",
        }
        if data.get("recurringEventId"):
            out["recurringEventId"] = data["recurringEventId"]
            out["originalStartTime"] = _render_when(
                data["originalStartTime"], zone or cal.zone
            )
        return out
    out_zone = zone or cal.zone
    out = {
        "kind": "calendar#event",
        "etag": data["etag"],
        "id": data["id"],
        "status": data.get("status", "confirmed"),
        "htmlLink": f"{base_url}/calendar/event?eid={data['id']}",
        "created": data["created"],
        "updated": data["updated"],
    }
    for name in ("summary", "description", "location", "colorId"):
        if name in data:
            out[name] = data[name]
    out["creator"] = _person(data.get("creator", {}), viewer)
    out["organizer"] = _person(data.get("organizer", {}), viewer)
    out["start"] = _render_when(data["start"], out_zone)
    out["end"] = _render_when(data["end"], out_zone)
    if data.get("recurrence"):
        out["recurrence"] = list(data["recurrence"])
    if data.get("recurringEventId"):
        out["recurringEventId"] = data["recurringEventId"]
        out["originalStartTime"] = _render_when(data["originalStartTime"], out_zone)
    if data.get("transparency") == "transparent":
        out["transparency"] = "transparent"
    if data.get("visibility") and data["visibility"] != "default":
        out["visibility"] = data["visibility"]
    out["iCalUID"] = data["iCalUID"]
    out["sequence"] = data.get("sequence", 0)
    if data.get("attendees"):
        out["attendees"] = [
            {**a, "self": True} if a.get("email", "").lower() == viewer.lower() else a
            for a in copy.deepcopy(data["attendees"])
        ]
    if data.get("extendedProperties"):
        out["extendedProperties"] = copy.deepcopy(data["extendedProperties"])
    out["reminders"] = copy.deepcopy(data.get("reminders") or {"useDefault": True})
    for name in (
        "source",
        "guestsCanModify",
        "guestsCanInviteOthers",
        "guestsCanSeeOtherGuests",
        "anyoneCanAddSelf",
    ):
        if name in data:
            out[name] = copy.deepcopy(data[name])
    out["eventType"] = "default"
    return out


def _render_when(when: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    if "date" in when:
        return {"date": when["date"]}
    out = {"dateTime": fmt_in(when_value(when), zone)}  # type: ignore[arg-type]
    if when.get("timeZone"):
        out["timeZone"] = when["timeZone"]
    return out


def _person(person: dict[str, Any], viewer: str) -> dict[str, Any]:
    out = dict(person)
    if out.get("email", "").lower() == viewer.lower():
        out["self"] = True
    return out


# -- recurrence --------------------------------------------------------------


def master_zone(data: dict[str, Any], cal: Calendar) -> ZoneInfo:
    return ZoneInfo(data["start"].get("timeZone") or cal.time_zone)


def instance_suffix(original: datetime | date) -> str:
    if isinstance(original, datetime):
        return original.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return original.strftime("%Y%m%d")


def split_instance_id(event_id: str) -> tuple[str, str] | None:
    match = _INSTANCE_RE.match(event_id)
    if not match:
        return None
    return match.group("master"), match.group("when")


def series_slots(
    data: dict[str, Any],
    cal: Calendar,
    lo: datetime | None,
    hi: datetime | None,
    *,
    now: datetime,
    limit: int = MAX_INSTANCES,
) -> Iterator[Slot]:
    """Generated occurrences of a series master overlapping ``[lo, hi)``."""
    start, end = when_value(data["start"]), when_value(data["end"])
    zone = master_zone(data, cal) if isinstance(start, datetime) else cal.zone
    return recurrence.slots(
        list(data["recurrence"]),
        start,
        end,
        zone,
        lo or FAR_PAST,
        hi or now + EXPANSION_HORIZON,
        limit,
    )


def virtual_instance(
    master: dict[str, Any], cal: Calendar, slot: Slot
) -> dict[str, Any]:
    """An unmodified instance of ``master`` in stored form."""
    data = copy.deepcopy(master)
    data.pop("recurrence", None)
    data["id"] = f"{master['id']}_{instance_suffix(slot.original)}"
    data["recurringEventId"] = master["id"]
    tz_name = master["start"].get("timeZone")
    if isinstance(slot.start, datetime):
        assert isinstance(slot.end, datetime) and isinstance(slot.original, datetime)
        data["start"] = _stored_dt(slot.start, tz_name)
        data["end"] = _stored_dt(slot.end, master["end"].get("timeZone"))
        data["originalStartTime"] = _stored_dt(slot.original, tz_name)
    else:
        assert isinstance(slot.end, date)
        data["start"] = {"date": slot.start.isoformat()}
        data["end"] = {"date": slot.end.isoformat()}
        data["originalStartTime"] = {"date": slot.original.isoformat()}
    return data


def find_slot(
    master: dict[str, Any], cal: Calendar, suffix: str, *, now: datetime
) -> Slot | None:
    """The generated occurrence whose instance id ends in ``suffix``."""
    if "T" in suffix:
        moment = datetime.strptime(suffix, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        lo, hi = moment - timedelta(days=2), moment + timedelta(days=2)
    else:
        day = datetime.strptime(suffix, "%Y%m%d").replace(tzinfo=UTC)
        lo, hi = day - timedelta(days=3), day + timedelta(days=3)
    for slot in series_slots(master, cal, lo, hi, now=now):
        if instance_suffix(slot.original) == suffix:
            return slot
    return None


def _stored_dt(moment: datetime, tz_name: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"dateTime": fmt_utc(moment)}
    if tz_name:
        out["timeZone"] = tz_name
    return out


def expand_series(
    master: StoredEvent,
    cal: Calendar,
    lo: datetime | None,
    hi: datetime | None,
    *,
    now: datetime,
    show_deleted: bool,
) -> list[dict[str, Any]]:
    """``singleEvents=true``: the series' instances in the window, exceptions
    applied (cancelled ones only with ``show_deleted``)."""
    exceptions = {e.id: e for e in cal.exceptions_of(master.id)}
    out: list[dict[str, Any]] = []
    for slot in series_slots(master.data, cal, lo, hi, now=now):
        instance = virtual_instance(master.data, cal, slot)
        if instance["id"] not in exceptions:
            out.append(instance)
    for exc in exceptions.values():
        if exc.cancelled:
            if show_deleted and overlaps(_original_span(exc.data, cal), lo, hi):
                out.append(exc.data)
        elif overlaps(interval(exc.data, cal), lo, hi):
            out.append(exc.data)
    return out


def _original_span(data: dict[str, Any], cal: Calendar) -> tuple[datetime, datetime]:
    start = to_utc_bounds(when_value(data["originalStartTime"]), cal.zone)
    return start, start


def series_in_window(
    master: StoredEvent,
    cal: Calendar,
    lo: datetime | None,
    hi: datetime | None,
    now: datetime,
) -> bool:
    if lo is None and hi is None:
        return True
    if any(True for _ in series_slots(master.data, cal, lo, hi, now=now, limit=1)):
        return True
    return any(
        not e.cancelled and overlaps(interval(e.data, cal), lo, hi)
        for e in cal.exceptions_of(master.id)
    )


def sort_key(data: dict[str, Any], cal: Calendar) -> tuple[datetime, str]:
    return to_utc_bounds(when_value(data["start"]), cal.zone), str(data["id"])
