"""Graph events ↔ what the sync engine understands.

Pulled events come from ``calendarView`` (series already expanded), so each
single event, occurrence or exception becomes its own ``RemoteEvent`` with
one VEVENT in ``raw`` (iCalendar text, as ``ical.expand`` reads for every
provider):

* times: ``start``/``end`` are ``dateTimeTimeZone`` values; the zone may be a
  Windows name ("Pacific Standard Time"), an IANA name or Outlook's
  ``tzone://Microsoft/Utc``, mapped with the CLDR table ``icalendar`` ships.
  An unknown zone (``tzone://Microsoft/Custom``) falls back to
  ``originalStartTimeZone``, then UTC. All-day events become DATE values
  (their dates, whatever zone is named), placed in the coach's zone later;
* busy (DESIGN.md): ``showAs`` busy, oof, tentative or workingElsewhere, not
  ``isCancelled``, not declined (``responseStatus.response``) → OPAQUE; free
  and unknown → TRANSPARENT; a declined event is TRANSPARENT too (it is
  shown, as free); a cancelled one has STATUS:CANCELLED;
* our key: events the app writes carry it twice, as ``transactionId``
  (``coachapp:<key>``, which Graph returns in every listing) and as a private
  ``singleValueExtendedProperty`` (returned only with ``$expand``, so read by
  ``get``). Another app's ``transactionId`` is not ours.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from coach_app.calendars.base import OutgoingEvent, RemoteEvent
from coach_app.calendars.ical import KEY_PROPERTY

PRODID = "-//Coach App//Microsoft Graph//EN"
# A private property of our own (a GUID of the app's, a name).
KEY_PROPERTY_ID = "String {5b0b8a1e-7c0a-4d5e-9a8b-c0ac4a990001} Name CoachAppKey"
TRANSACTION_PREFIX = "coachapp:"
BUSY_SHOW_AS = frozenset({"busy", "oof", "tentative", "workingElsewhere"})
_SPECIAL_ZONES = {
    "utc": "UTC",
    "tzone://microsoft/utc": "UTC",
    "coordinated universal time": "UTC",
}
_WINDOWS = {name.lower(): iana for name, iana in WINDOWS_TO_OLSON.items()}


def zone_for(name: str | None) -> ZoneInfo | None:
    """The zone a Graph time-zone name means (Windows, IANA, tzone://), or None."""
    if not name:
        return None
    key = name.strip()
    mapped = _SPECIAL_ZONES.get(key.lower()) or _WINDOWS.get(key.lower()) or key
    try:
        return ZoneInfo(mapped)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# -- outgoing ---------------------------------------------------------------------


def transaction_id(key: str) -> str:
    return TRANSACTION_PREFIX + key


def transaction_id_again(key: str, attempt: int) -> str:
    """The ``attempt``-th transactionId for ``key`` (2, 3, …):
    ``coachapp:<key>:<attempt>`` (our keys hold no colon). The sequence is
    the same every time, so a retried create still finds its event."""
    return f"{transaction_id(key)}:{attempt}"


def event_body(event: OutgoingEvent, *, with_key: bool = True) -> dict[str, Any]:
    """The event resource for an appointment (the app's full version of it)."""
    body: dict[str, Any] = {
        "subject": event.summary,
        "body": {"contentType": "text", "content": event.description},
        "start": _utc_value(event.start),
        "end": _utc_value(event.end),
        "isAllDay": False,
        "showAs": "busy",
        "isReminderOn": False,
        "responseRequested": False,
        "location": {"displayName": event.location or ""},
    }
    if with_key:
        body["transactionId"] = transaction_id(event.key)
        body["singleValueExtendedProperties"] = [
            {"id": KEY_PROPERTY_ID, "value": event.key}
        ]
    return body


def _utc_value(moment: datetime) -> dict[str, str]:
    utc = moment.astimezone(UTC)
    return {"dateTime": utc.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


# -- incoming ---------------------------------------------------------------------


def key_of(item: dict[str, Any]) -> str | None:
    """Our key on an event: the extended property if it came along (``$expand``),
    else our ``transactionId``."""
    for prop in item.get("singleValueExtendedProperties") or []:
        if str(prop.get("id", "")).lower() == KEY_PROPERTY_ID.lower() and prop.get(
            "value"
        ):
            return str(prop["value"])
    txn = item.get("transactionId")
    if isinstance(txn, str) and txn.startswith(TRANSACTION_PREFIX):
        return txn[len(TRANSACTION_PREFIX) :].split(":", 1)[0] or None
    return None


def is_busy(item: dict[str, Any]) -> bool:
    response = (item.get("responseStatus") or {}).get("response")
    return (
        item.get("showAs", "busy") in BUSY_SHOW_AS
        and not item.get("isCancelled")
        and response != "declined"
    )


def interval(item: dict[str, Any]) -> tuple[datetime | date, datetime | date]:
    """Start and end: aware UTC datetimes, or dates for an all-day event."""
    start, end = item.get("start") or {}, item.get("end") or {}
    if item.get("isAllDay"):
        first = _date_of(start)
        last = _date_of(end)
        return first, last if last > first else first + timedelta(days=1)
    fallback = item.get("originalStartTimeZone")
    return _instant(start, fallback), _instant(
        end, item.get("originalEndTimeZone") or fallback
    )


def remote_event(item: dict[str, Any]) -> RemoteEvent:
    """One RemoteEvent (one VEVENT) for a single event, occurrence or exception.

    An item whose times cannot be read still becomes a RemoteEvent, with
    empty ``raw``: the sync engine then skips it by name and tells the
    coach, and the rest of the listing syncs (as for Google).
    """
    try:
        start, end = interval(item)
    except (KeyError, ValueError, TypeError):
        subject = item.get("subject")
        return RemoteEvent(
            id=str(item.get("id", "")),
            etag=item.get("@odata.etag") or item.get("changeKey"),
            uid=str(item.get("iCalUId") or item.get("id") or "") or None,
            raw="",
            summary=str(subject) if subject else None,
            coach_key=key_of(item),
        )
    key = key_of(item)
    uid = str(item.get("iCalUId") or item["id"])
    subject = str(item.get("subject") or "")
    location = str((item.get("location") or {}).get("displayName") or "")
    stamp = parse_time(item.get("lastModifiedDateTime")) or datetime.now(UTC)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "BEGIN:VEVENT",
        f"UID:{_text(uid)}",
        f"DTSTAMP:{_utc(stamp)}",
        _moment("DTSTART", start),
        _moment("DTEND", end),
        *([f"SUMMARY:{_text(subject)}"] if subject else []),
        *([f"LOCATION:{_text(location)}"] if location else []),
        f"STATUS:{'CANCELLED' if item.get('isCancelled') else 'CONFIRMED'}",
        f"TRANSP:{'OPAQUE' if is_busy(item) else 'TRANSPARENT'}",
        *([f"{KEY_PROPERTY}:{_text(key)}"] if key else []),
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return RemoteEvent(
        id=str(item["id"]),
        etag=item.get("@odata.etag") or item.get("changeKey"),
        uid=uid,
        raw="".join(_fold(line) + "\r\n" for line in lines),
        summary=subject or None,
        coach_key=key,
    )


# -- iCalendar text (written directly: icalendar's writer would be most of
# the cost of pulling 10,000 events) ---------------------------------------------


def _text(value: str) -> str:
    """RFC 5545 §3.3.11 TEXT escaping."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _moment(name: str, value: datetime | date) -> str:
    if isinstance(value, datetime):
        return f"{name}:{_utc(value)}"
    return f"{name};VALUE=DATE:{value.strftime('%Y%m%d')}"


def _fold(line: str) -> str:
    """RFC 5545 §3.1: lines of at most 75 octets, continued with a space."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > (75 if not parts else 74):
            parts.append(current)
            current, size = "", 0
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


def _instant(value: dict[str, Any], fallback_zone: str | None) -> datetime:
    moment = _parse(str(value["dateTime"]))
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    zone = zone_for(value.get("timeZone")) or zone_for(fallback_zone) or ZoneInfo("UTC")
    return moment.replace(tzinfo=zone).astimezone(UTC)


def _date_of(value: dict[str, Any]) -> date:
    return _parse(str(value["dateTime"])).date()


def _parse(text: str) -> datetime:
    """Graph's ``2026-12-09T20:30:00.0000000`` (seven digits, maybe an offset)."""
    text = text.strip().replace("Z", "+00:00")
    head, dot, tail = text.partition(".")
    if dot:
        digits = "".join(c for c in tail[:7] if c.isdigit())
        rest = tail[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    return datetime.fromisoformat(text)


def parse_time(value: Any) -> datetime | None:
    """A Graph DateTimeOffset (``2026-12-09T20:30:00.1234567Z``) as aware
    UTC; None when absent or unreadable."""
    if not value:
        return None
    try:
        moment = _parse(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
