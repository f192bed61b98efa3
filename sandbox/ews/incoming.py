"""Reading calendar item properties from requests (CreateItem items and
UpdateItem ``SetItemField``/``DeleteItemField`` changes).

Element names are those of ``CalendarItemType`` in the EWS reference
("CalendarItem", "Start", "LegacyFreeBusyStatus", "ExtendedProperty",
"StartTimeZone"…). Read-only properties (``IsCancelled``,
``MyResponseType``, ``CalendarItemType``…) and properties the sandbox does
not model (reminders, sensitivity, importance…) are accepted and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

from sandbox.ews.errors import EwsError
from sandbox.ews.ewsxml import (
    Element,
    children,
    local,
    parse_bool,
    parse_datetime,
    text_of,
    tq,
)
from sandbox.ews.recurrence import Recurrence, UnsupportedRecurrence
from sandbox.ews.shapes import ext_key
from sandbox.ews.store import FREE_BUSY, ExtKey

# element name → store attribute (for FieldURI "item:X"/"calendar:X" too)
SIMPLE = {
    "Subject": "subject",
    "Body": "body",
    "Location": "location",
    "Start": "start",
    "End": "end",
    "IsAllDayEvent": "is_all_day",
    "LegacyFreeBusyStatus": "free_busy",
    "Recurrence": "recurrence",
    "Categories": "categories",
    "StartTimeZone": "timezone",
    "MeetingTimeZone": "timezone",
    "UID": "uid",
    "RequiredAttendees": "attendees",
    "OptionalAttendees": "attendees",
}
# Defaults a DeleteItemField restores.
DEFAULTS: dict[str, object] = {
    "body": None,
    "location": None,
    "categories": (),
    "recurrence": None,
    "attendees": (),
    "subject": "",
}


@dataclass
class ItemValues:
    values: dict[str, object] = field(default_factory=dict)
    extended: dict[ExtKey, str] = field(default_factory=dict)
    removed_extended: list[ExtKey] = field(default_factory=list)


def zone_from_ms_id(ms_id: str | None) -> str:
    """IANA name for a Windows time zone id (CLDR windowsZones table)."""
    if not ms_id:
        raise EwsError("ErrorTimeZone", "The time zone is missing.")
    if ms_id == "UTC":
        return "UTC"
    name = MS_TIMEZONE_TO_IANA_MAP.get(ms_id)
    if name is None:
        raise EwsError("ErrorTimeZone", f"The time zone {ms_id!r} is not valid.")
    try:
        ZoneInfo(name)
    except ZoneInfoNotFoundError as exc:
        raise EwsError(
            "ErrorTimeZone", f"The time zone {ms_id!r} is not valid."
        ) from exc
    return name


def read_item(node: Element, context: tzinfo | None) -> ItemValues:
    """All supported properties of a ``t:CalendarItem``."""
    result = ItemValues()
    parts = children(node)
    # The item's own zone decides how wall-clock (offset-less) times read.
    item_zone = context
    for part in parts:
        if local(part.tag) in ("StartTimeZone", "MeetingTimeZone"):
            item_zone = ZoneInfo(_zone_of(part))
    for part in parts:
        read_property(part, result, item_zone)
    return result


def _zone_of(part: Element) -> str:
    if local(part.tag) == "MeetingTimeZone":
        return zone_from_ms_id(part.get("TimeZoneName"))
    return zone_from_ms_id(part.get("Id"))


def read_property(part: Element, into: ItemValues, zone: tzinfo | None) -> None:
    name = local(part.tag)
    if name == "ExtendedProperty":
        uri = part.find(tq("ExtendedFieldURI"))
        if uri is None:
            raise EwsError(
                "ErrorInvalidExtendedProperty", "ExtendedFieldURI is missing."
            )
        into.extended[ext_key(uri)] = text_of(part.find(tq("Value")), "") or ""
        return
    attr = SIMPLE.get(name)
    if attr is None:
        return
    try:
        into.values[attr] = _convert(name, part, zone)
    except UnsupportedRecurrence as exc:
        raise EwsError("ErrorCalendarInvalidRecurrence", str(exc)) from exc
    except (ValueError, TypeError) as exc:
        raise EwsError("ErrorInvalidPropertySet", f"{name}: {exc}") from exc


def _convert(name: str, part: Element, zone: tzinfo | None) -> object:
    text = part.text.strip() if part.text else ""
    if name in ("Start", "End"):
        return parse_datetime(text, zone)
    if name == "IsAllDayEvent":
        return parse_bool(text)
    if name == "LegacyFreeBusyStatus":
        if text not in FREE_BUSY:
            raise ValueError(f"{text!r} is not a LegacyFreeBusyType")
        return text
    if name == "Recurrence":
        return Recurrence.from_xml(part)
    if name == "Categories":
        return tuple(c.text or "" for c in children(part))
    if name in ("StartTimeZone", "MeetingTimeZone"):
        return _zone_of(part)
    if name in ("RequiredAttendees", "OptionalAttendees"):
        return tuple(
            text_of(a.find(f"{tq('Mailbox')}/{tq('EmailAddress')}"), "") or ""
            for a in children(part)
        )
    return part.text or ""
