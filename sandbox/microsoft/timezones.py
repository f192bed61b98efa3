"""Graph's ``dateTimeTimeZone`` values and time-zone names.

``timeZone`` may be a Windows name ("Pacific Standard Time"), an IANA name
("Europe/Berlin"), ``UTC`` or one of Outlook's ``tzone://Microsoft/…`` names
(``tzone://Microsoft/Utc``; ``tzone://Microsoft/Custom`` is a legacy custom
zone and has no IANA equivalent). Windows names are mapped with the CLDR
table that ``icalendar`` ships. ``dateTime`` is rendered the way Graph does:
seven fractional digits, no offset (``2026-12-09T20:30:00.0000000``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from sandbox.microsoft import errors

_SPECIAL = {
    "utc": "UTC",
    "tzone://microsoft/utc": "UTC",
    "coordinated universal time": "UTC",
    "greenwich mean time": "Europe/London",
}
_WINDOWS = {name.lower(): iana for name, iana in WINDOWS_TO_OLSON.items()}
# The reverse, for rendering a zone the way Outlook names it.
_IANA_TO_WINDOWS = {iana: name for name, iana in WINDOWS_TO_OLSON.items()}


@lru_cache(maxsize=512)
def zone_for(name: str | None) -> ZoneInfo | None:
    """The zone a Graph ``timeZone`` value names, or None if unknown."""
    if not name:
        return None
    key = name.strip()
    mapped = _SPECIAL.get(key.lower()) or _WINDOWS.get(key.lower()) or key
    try:
        return ZoneInfo(mapped)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def windows_name(iana: str) -> str | None:
    """Outlook's (Windows) name of an IANA zone, when CLDR has one."""
    return _IANA_TO_WINDOWS.get(iana)


def require_zone(name: str | None, field: str) -> ZoneInfo:
    zone = zone_for(name or "UTC")
    if zone is None:
        raise errors.GraphError(
            400,
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified. The following TimeZone "
            f"value is not supported: '{name}'.",
        )
    return zone


def parse_local(value: object, field: str) -> datetime:
    """A ``dateTime`` string as a naive wall-clock time (an offset is applied
    and dropped: the caller attaches the zone)."""
    if not isinstance(value, str) or not value:
        raise errors.bad_request(
            f"Property '{field}' must hold a dateTime.", "ErrorInvalidRequest"
        )
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    head, dot, tail = text.partition(".")
    if dot:
        digits = ""
        rest = tail
        while rest[:1].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise errors.bad_request(
            f"Cannot convert the literal '{value}' to the expected type "
            "'Edm.DateTimeOffset'.",
            "ErrorInvalidRequest",
        ) from exc
    return moment


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """An aware UTC instant for a wall-clock (or offset) time in ``zone``."""
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    return local.replace(tzinfo=zone).astimezone(UTC)


def fmt_graph(moment: datetime, zone: ZoneInfo) -> str:
    """``2026-12-09T20:30:00.0000000`` in ``zone`` (seven fractional digits)."""
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0"


def fmt_stamp(moment: datetime) -> str:
    """A DateTimeOffset as Graph writes it: ``2026-12-09T20:30:00.1234567Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def parse_offset_datetime(value: str, param: str) -> datetime:
    """``startDateTime``/``endDateTime`` of calendarView: an offset applies,
    none means UTC (calendar-list-calendarview reference)."""
    try:
        moment = parse_local(value, param)
    except errors.GraphError as exc:
        raise errors.invalid_parameter(
            f"The parameter '{param}' has an invalid value: '{value}'."
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
