"""Events of the Microsoft sandbox: the stored form, what clients may write,
and Graph's JSON rendering (event resource, v1.0).

* A stored event is a ``singleInstance`` or a ``seriesMaster``. A series'
  occurrences are generated (``recurrence.occurrences``); a changed
  occurrence is kept as an exception, a deleted one as a cancelled original
  start. Occurrences and exceptions have ids derived from the master's id
  and their original start, so the same occurrence always has the same id.
* Every event has two ids: the default REST id and an immutable id
  (``Prefer: IdType="ImmutableId"``). Both are accepted in requests; the
  header picks the one responses use. Moving an event to another calendar
  changes the REST id, never the immutable one (Outlook immutable
  identifiers overview).
* Times are kept as aware UTC instants next to the zone names the client
  wrote; responses render ``start``/``end`` in UTC or in the zone of
  ``Prefer: outlook.timezone`` (all-day events keep their dates).
* ``changeKey`` changes on every write; ``@odata.etag`` is ``W/"<changeKey>"``.
* ``singleValueExtendedProperties`` are stored per event and rendered only
  when asked for with ``$expand``.
"""

from __future__ import annotations

import base64
import copy
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.microsoft import errors, recurrence
from sandbox.microsoft.timezones import (
    fmt_graph,
    fmt_stamp,
    parse_local,
    require_zone,
    to_utc,
    zone_for,
)

SHOW_AS = frozenset({"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"})
RESPONSES = frozenset(
    {"none", "organizer", "tentativelyAccepted", "accepted", "declined", "notResponded"}
)
IMPORTANCE = frozenset({"low", "normal", "high"})
SENSITIVITY = frozenset({"normal", "personal", "private", "confidential"})
WRITABLE = frozenset(
    {
        "subject",
        "body",
        "importance",
        "sensitivity",
        "showAs",
        "isAllDay",
        "isReminderOn",
        "reminderMinutesBeforeStart",
        "location",
        "locations",
        "attendees",
        "categories",
        "responseRequested",
        "allowNewTimeProposals",
        "isOnlineMeeting",
        "onlineMeetingProvider",
        "hideAttendees",
        "recurrence",
        "start",
        "end",
        "transactionId",
        "singleValueExtendedProperties",
        "organizer",
    }
)
# Read-only for clients; test controls ("what happened in Outlook") set them.
CONTROL_ONLY = frozenset({"isCancelled", "responseStatus", "isOrganizer"})
_EXT_ID = re.compile(
    r"^(?P<type>String|Integer|Boolean|SystemTime|Binary|Double|Float|Currency|CLSID|Long|Short)"
    r" (?:(?P<guid>\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
    r"[0-9A-Fa-f]{12}\}) (?:Name (?P<name>\S.*)|Id (?P<pid>0x[0-9A-Fa-f]+))"
    r"|(?P<tag>0x[0-9A-Fa-f]{1,4}))$",
    re.IGNORECASE,
)
_OCC_PREFIX = "AAMkOc"


@dataclass
class Exception_:
    """A changed occurrence of a series (Graph type ``exception``)."""

    fields: dict[str, Any]
    start: datetime
    end: datetime
    change_key: str
    modified: datetime


@dataclass
class StoredEvent:
    key: str  # the immutable id: identity inside the sandbox
    rest_id: str
    calendar_id: str
    fields: dict[str, Any]
    start: datetime  # aware UTC
    end: datetime
    start_zone: str  # the zone names the client wrote
    end_zone: str
    created: datetime
    modified: datetime
    change_key: str
    seq: int = 0
    deleted: bool = False
    ical_uid: str = ""
    series_version: int = 0
    exceptions: dict[datetime, Exception_] = field(default_factory=dict)
    cancelled: set[datetime] = field(default_factory=set)
    ext: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def is_series(self) -> bool:
        return bool(self.fields.get("recurrence"))

    @property
    def all_day(self) -> bool:
        return bool(self.fields.get("isAllDay"))

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def zone(self) -> ZoneInfo:
        return zone_for(self.start_zone) or ZoneInfo("UTC")

    def first_local(self) -> datetime:
        return self.start.astimezone(self.zone()).replace(tzinfo=None)

    def occurrence_starts(self, lo: datetime, hi: datetime) -> Iterator[datetime]:
        """Original starts (UTC) of live occurrences whose original or moved
        time overlaps ``[lo, hi)``."""
        rec = self.fields["recurrence"]
        seen: set[datetime] = set()
        for original in recurrence.occurrences(
            rec, self.first_local(), self.zone(), lo, hi, self.duration
        ):
            seen.add(original)
            if original in self.cancelled:
                continue
            exc = self.exceptions.get(original)
            if exc is None or overlaps(exc.start, exc.end, lo, hi):
                yield original
        for original, exc in self.exceptions.items():
            if (
                original not in seen
                and original not in self.cancelled
                and overlaps(exc.start, exc.end, lo, hi)
            ):
                yield original

    def has_occurrence(self, original: datetime) -> bool:
        if original in self.cancelled:
            return False
        if original in self.exceptions:
            return True
        return recurrence.is_occurrence(
            self.fields["recurrence"], self.first_local(), self.zone(), original
        )


def new_change_key() -> str:
    return base64.b64encode(secrets.token_bytes(22)).decode()


def new_ids() -> tuple[str, str]:
    """(immutable id, REST id) of a new item."""
    return (
        "AAkALg" + secrets.token_urlsafe(45) + "=",
        "AAMkAG" + secrets.token_urlsafe(45) + "=",
    )


def occurrence_id(master_id: str, original: datetime) -> str:
    raw = f"{master_id}\x00{original.astimezone(UTC):%Y%m%dT%H%M%SZ}".encode()
    return _OCC_PREFIX + base64.urlsafe_b64encode(raw).decode()


def split_occurrence_id(value: str) -> tuple[str, datetime] | None:
    if not value.startswith(_OCC_PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(value[len(_OCC_PREFIX) :].encode()).decode()
        master, _, stamp = raw.partition("\x00")
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except (ValueError, UnicodeDecodeError):
        return None
    return master, when


def overlaps(start: datetime, end: datetime, lo: datetime, hi: datetime) -> bool:
    """calendarView's rule: an event overlaps the window (a zero-length one
    when its instant is inside it)."""
    if end <= start:
        return lo <= start < hi
    return start < hi and end > lo


# -- what clients write ------------------------------------------------------------


@dataclass
class Timing:
    start: datetime
    end: datetime
    start_zone: str
    end_zone: str


def validate_write(
    body: dict[str, Any], *, creating: bool, control: bool = False
) -> dict[str, Any]:
    """The checked writable fields of ``body`` (400 on bad values)."""
    allowed = WRITABLE | (CONTROL_ONLY if control else frozenset())
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@odata"):
            continue
        if name not in allowed:
            if name in CONTROL_ONLY or name in (
                "id",
                "changeKey",
                "type",
                "seriesMasterId",
                "iCalUId",
                "createdDateTime",
                "lastModifiedDateTime",
                "originalStart",
                "originalStartTimeZone",
                "originalEndTimeZone",
            ):
                continue  # read-only properties are ignored, as Graph does
            raise errors.bad_request(
                f"Could not find a property named '{name}' on type "
                "'microsoft.graph.event'.",
                "RequestBodyRead",
            )
        out[name] = copy.deepcopy(value)
    _enum(out, "showAs", SHOW_AS)
    _enum(out, "importance", IMPORTANCE)
    _enum(out, "sensitivity", SENSITIVITY)
    if "responseStatus" in out:
        response = (out["responseStatus"] or {}).get("response", "none")
        if response not in RESPONSES:
            raise errors.bad_request(f"Invalid responseStatus '{response}'.")
    for flag in ("isAllDay", "isCancelled", "isReminderOn"):
        if flag in out and not isinstance(out[flag], bool):
            raise errors.bad_request(f"Property '{flag}' must be a boolean.")
    if out.get("recurrence") is not None:
        out["recurrence"] = recurrence.validate(out["recurrence"])
    txn = out.get("transactionId")
    if txn is not None and (not isinstance(txn, str) or not txn):
        raise errors.bad_request("transactionId must be a non-empty string.")
    if "singleValueExtendedProperties" in out:
        out["singleValueExtendedProperties"] = _extended(
            out["singleValueExtendedProperties"]
        )
    if "body" in out and out["body"] is not None:
        content_type = str((out["body"] or {}).get("contentType", "text")).lower()
        if content_type not in ("text", "html"):
            raise errors.bad_request("body.contentType must be text or html.")
        out["body"] = {
            "contentType": content_type,
            "content": str(out["body"].get("content") or ""),
        }
    if creating and ("start" not in out or "end" not in out):
        raise errors.bad_request(
            "Your request can't be completed. An event needs a start and an end.",
            "ErrorInvalidRequest",
        )
    return out


def timing(fields: dict[str, Any], base: Timing | None, all_day: bool) -> Timing:
    """Start and end of a write (falling back to ``base`` for what is absent)."""
    if "start" in fields:
        start, start_zone = _when(fields["start"], "start")
    elif base is not None:
        start, start_zone = base.start, base.start_zone
    else:
        raise errors.bad_request("start is required.", "ErrorInvalidRequest")
    if "end" in fields:
        end, end_zone = _when(fields["end"], "end")
    elif base is not None:
        end, end_zone = start + (base.end - base.start), base.end_zone
    else:
        raise errors.bad_request("end is required.", "ErrorInvalidRequest")
    if end < start:
        raise errors.bad_request(
            "The end time of the event is earlier than its start time.",
            "ErrorInvalidRequest",
        )
    if all_day:
        zone = require_zone(start_zone, "start")
        for moment in (start, end.astimezone(zone)):
            local = moment.astimezone(zone)
            if local.time() != time(0):
                raise errors.bad_request(
                    "The start and end of an all-day event must be midnight in "
                    "its time zone.",
                    "ErrorPropertyValidationFailure",
                )
        if end == start:
            raise errors.bad_request(
                "An all-day event must last at least one day.",
                "ErrorPropertyValidationFailure",
            )
    return Timing(start, end, start_zone, end_zone)


def _when(value: Any, name: str) -> tuple[datetime, str]:
    if not isinstance(value, dict):
        raise errors.bad_request(f"Property '{name}' must be a dateTimeTimeZone.")
    zone_name = str(value.get("timeZone") or "UTC")
    zone = require_zone(zone_name, name)
    return to_utc(parse_local(value.get("dateTime"), name), zone), zone_name


def _enum(fields: dict[str, Any], name: str, allowed: frozenset[str]) -> None:
    if name in fields and fields[name] not in allowed:
        raise errors.bad_request(
            f"Requested value '{fields[name]}' was not found in the enumeration "
            f"for property '{name}'.",
            "RequestBodyRead",
        )


def _extended(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise errors.bad_request("singleValueExtendedProperties must be a collection.")
    out = []
    for item in value:
        prop_id = str((item or {}).get("id") or "")
        if not _EXT_ID.match(prop_id):
            raise errors.bad_request(
                f"The extended property id '{prop_id}' is not valid.",
                "ErrorInvalidExtendedProperty",
            )
        out.append({"id": prop_id, "value": str(item.get("value", ""))})
    return out


def ext_key(prop_id: str) -> str:
    """Extended property ids compare case-insensitively except the Name."""
    match = _EXT_ID.match(prop_id)
    if match is None:
        return prop_id
    if match.group("name") is not None:
        return f"{match.group('type').lower()} {match.group('guid').lower()} name {match.group('name')}"
    return prop_id.lower()


# -- rendering ---------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """How a request wants events rendered."""

    zone: ZoneInfo | None = None  # Prefer: outlook.timezone
    zone_name: str = "UTC"
    immutable: bool = False  # Prefer: IdType="ImmutableId"
    expand_ext: tuple[str, ...] | None = None  # $expand filter ids ("" = all)


def render(
    ev: StoredEvent,
    original: datetime | None,
    view: View,
    *,
    owner: dict[str, str],
    web_base: str,
    collection: bool = False,
) -> dict[str, Any]:
    """An event (single, master, occurrence or exception) as Graph renders it."""
    master_id = ev.key if view.immutable else ev.rest_id
    fields = ev.fields
    start, end = ev.start, ev.end
    change_key = ev.change_key
    modified = ev.modified
    kind = "seriesMaster" if ev.is_series else "singleInstance"
    item_id = master_id
    if original is not None:
        exc = ev.exceptions.get(original)
        start, end = original, original + ev.duration
        change_key = occurrence_change_key(ev, exc)
        kind = "occurrence"
        if exc is not None:
            fields = {**ev.fields, **exc.fields}
            start, end, modified, kind = exc.start, exc.end, exc.modified, "exception"
        item_id = occurrence_id(master_id, original)
    all_day = bool(fields.get("isAllDay"))
    if all_day:
        # All-day events keep their dates whatever zone is preferred.
        ev_zone = ev.zone()
        start_local = start.astimezone(ev_zone).replace(tzinfo=None)
        end_local = end.astimezone(ev_zone).replace(tzinfo=None)
        start_out = start_local.strftime("%Y-%m-%dT%H:%M:%S.0000000")
        end_out = end_local.strftime("%Y-%m-%dT%H:%M:%S.0000000")
    else:
        zone = view.zone or ZoneInfo("UTC")
        start_out, end_out = fmt_graph(start, zone), fmt_graph(end, zone)
    response = copy.deepcopy(fields.get("responseStatus")) or {
        "response": "organizer",
        "time": "0001-01-01T00:00:00Z",
    }
    response.setdefault("time", "0001-01-01T00:00:00Z")
    is_organizer = fields.get("isOrganizer", response.get("response") == "organizer")
    organizer = fields.get("organizer") or {"emailAddress": dict(owner)}
    body = fields.get("body") or {"contentType": "html", "content": ""}
    out: dict[str, Any] = {}
    if collection:
        out["@odata.type"] = "#microsoft.graph.event"
    out.update(
        {
            "@odata.etag": f'W/"{change_key}"',
            "id": item_id,
            "createdDateTime": fmt_stamp(ev.created),
            "lastModifiedDateTime": fmt_stamp(modified),
            "changeKey": change_key,
            "categories": list(fields.get("categories") or []),
            "transactionId": fields.get("transactionId"),
            "originalStartTimeZone": ev.start_zone,
            "originalEndTimeZone": ev.end_zone,
            "iCalUId": ev.ical_uid
            if original is None
            else f"{ev.ical_uid}{original:%Y%m%dT%H%M%SZ}",
            "reminderMinutesBeforeStart": int(
                fields.get("reminderMinutesBeforeStart", 15)
            ),
            "isReminderOn": bool(fields.get("isReminderOn", True)),
            "hasAttachments": False,
            "subject": str(fields.get("subject") or ""),
            "bodyPreview": _preview(body),
            "importance": fields.get("importance", "normal"),
            "sensitivity": fields.get("sensitivity", "normal"),
            "isAllDay": all_day,
            "isCancelled": bool(fields.get("isCancelled", False)),
            "isOrganizer": bool(is_organizer),
            "responseRequested": bool(fields.get("responseRequested", True)),
            "seriesMasterId": master_id if original is not None else None,
            "showAs": fields.get("showAs", "busy"),
            "type": kind,
            "webLink": f"{web_base}/calendar/item/{item_id}",
            "onlineMeetingUrl": None,
            "isOnlineMeeting": bool(fields.get("isOnlineMeeting", False)),
            "onlineMeetingProvider": fields.get("onlineMeetingProvider", "unknown"),
            "allowNewTimeProposals": bool(fields.get("allowNewTimeProposals", True)),
            "isDraft": False,
            "hideAttendees": bool(fields.get("hideAttendees", False)),
            "responseStatus": response,
            "body": body,
            "start": {
                "dateTime": start_out,
                "timeZone": _zone_label(all_day, ev, view),
            },
            "end": {"dateTime": end_out, "timeZone": _zone_label(all_day, ev, view)},
            "location": _location(fields.get("location")),
            "locations": list(fields.get("locations") or []),
            "recurrence": copy.deepcopy(fields.get("recurrence"))
            if original is None
            else None,
            "attendees": copy.deepcopy(fields.get("attendees") or []),
            "organizer": organizer,
            "onlineMeeting": None,
        }
    )
    if original is not None:
        out["originalStart"] = fmt_stamp(original).replace(".0000000Z", "Z")
    if view.expand_ext is not None:
        wanted = {ext_key(i) for i in view.expand_ext if i}
        props = [
            {"id": prop_id, "value": value}
            for key, (prop_id, value) in ev.ext.items()
            if not wanted or key in wanted
        ]
        out["singleValueExtendedProperties"] = props
    return out


def removed(item_id: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.event",
        "id": item_id,
        "@removed": {"reason": "deleted"},
    }


def occurrence_change_key(ev: StoredEvent, exc: Exception_ | None) -> str:
    """An occurrence's change key: its exception's, else one that changes
    whenever the series does."""
    if exc is not None:
        return exc.change_key
    return base64.b64encode(f"{ev.key[-12:]}:{ev.series_version}".encode()).decode()


def _zone_label(all_day: bool, ev: StoredEvent, view: View) -> str:
    if all_day:
        return ev.start_zone if view.zone is None else view.zone_name
    return view.zone_name if view.zone is not None else "UTC"


def _location(value: Any) -> dict[str, Any]:
    base = {
        "displayName": "",
        "locationType": "default",
        "uniqueIdType": "unknown",
        "address": {},
        "coordinates": {},
    }
    if isinstance(value, dict):
        base.update(copy.deepcopy(value))
    return base


def _preview(body: dict[str, Any]) -> str:
    text = re.sub(r"<[^>]+>", " ", str(body.get("content") or ""))
    return " ".join(text.split())[:255]
