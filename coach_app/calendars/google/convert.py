"""Google Event resources ↔ what the sync engine understands.

Pulled events become iCalendar text in ``RemoteEvent.raw`` so that
``coach_app.calendars.ical.expand`` works unchanged for every provider:

* one VCALENDAR per series: the master VEVENT (its ``recurrence`` lines —
  RRULE, RDATE, EXDATE — copied verbatim) followed by one VEVENT with
  RECURRENCE-ID per modified instance; a *cancelled* instance becomes an
  EXDATE on the master (so it vanishes, as in Google's UI);
* timed values keep the event's ``timeZone`` as TZID, so a weekly 09:00
  Berlin meeting stays at 09:00 across DST; ``{date}`` values become
  ``VALUE=DATE`` (all-day, placed in the coach's zone by ``expand``);
* ``transparency`` → TRANSP (absent = OPAQUE), ``status`` → STATUS,
  ``attendees[].responseStatus`` → ATTENDEE;PARTSTAT (so the coach's
  "declined" is not busy), ``extendedProperties.private.coachAppKey`` →
  X-COACHAPP-KEY.

Events the app pushes carry their key in ``extendedProperties.private`` and
get a deterministic id: ``"ca"`` + the key in lowercase base32hex (Google
allows ``a-v0-9``, 5–1024 chars), so a retried insert hits 409 instead of
duplicating, and the key can be read back from the id.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar

from coach_app.calendars.base import OutgoingEvent, RemoteEvent
from coach_app.calendars.ical import KEY_PROPERTY, quick_fields

PRODID = "-//Coach App//Google Calendar//EN"
KEY_NAME = "coachAppKey"  # extendedProperties.private key
_ID_PREFIX = "ca"
_MAX_KEY_BYTES = 600  # (1024 - len(prefix)) * 5 / 8, rounded down with room
_PARTSTAT = {
    "needsAction": "NEEDS-ACTION",
    "declined": "DECLINED",
    "tentative": "TENTATIVE",
    "accepted": "ACCEPTED",
}


# -- ids and outgoing events --------------------------------------------------


def event_id_for_key(key: str) -> str:
    """The deterministic Google event id of the app's event ``key``."""
    raw = key.encode("utf-8")
    if not raw or len(raw) > _MAX_KEY_BYTES:
        raise ValueError(f"event key must be 1–{_MAX_KEY_BYTES} bytes: {key!r}")
    return _ID_PREFIX + base64.b32hexencode(raw).decode("ascii").rstrip("=").lower()


def key_for_event_id(event_id: str) -> str | None:
    """The key an app-created id encodes, or None for other ids."""
    if not event_id.startswith(_ID_PREFIX):
        return None
    body = event_id[len(_ID_PREFIX) :].upper()
    try:
        return base64.b32hexdecode(body + "=" * (-len(body) % 8)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def event_body(event: OutgoingEvent) -> dict[str, Any]:
    """The Event resource for an appointment (the app's full version of it)."""
    zone_name = _zone_key(event.start) or "UTC"
    zone = ZoneInfo(zone_name)
    body: dict[str, Any] = {
        "summary": event.summary,
        "start": {
            "dateTime": event.start.astimezone(zone).isoformat(),
            "timeZone": zone_name,
        },
        "end": {
            "dateTime": event.end.astimezone(zone).isoformat(),
            "timeZone": zone_name,
        },
        "status": "confirmed",
        "transparency": "opaque",
        "extendedProperties": {"private": {KEY_NAME: event.key}},
    }
    if event.description:
        body["description"] = event.description
    if event.location:
        body["location"] = event.location
    return body


def key_of(item: dict[str, Any]) -> str | None:
    private = (item.get("extendedProperties") or {}).get("private") or {}
    value = private.get(KEY_NAME)
    return str(value) if value else None


# -- incoming events -----------------------------------------------------------


def group(
    items: Iterable[dict[str, Any]], calendar_zone: str | None
) -> list[RemoteEvent]:
    """RemoteEvents of a full listing (``singleEvents=false``).

    Masters and singles keep their ids; modified instances join their master.
    An instance whose master is not in the listing (an invitation to one
    occurrence) stands alone. Cancelled entries that are not instances of a
    listed series are dropped: a full listing holds only what exists.
    """
    ordered = list(items)
    by_master: dict[str, list[dict[str, Any]]] = {}
    tops: dict[str, dict[str, Any]] = {}
    for item in ordered:
        if item.get("recurringEventId"):
            by_master.setdefault(str(item["recurringEventId"]), []).append(item)
        elif item.get("status") != "cancelled":
            tops[str(item["id"])] = item
    events = [
        remote_event(top, by_master.get(top_id, ()), calendar_zone)
        for top_id, top in tops.items()
    ]
    for master_id, instances in by_master.items():
        if master_id in tops:
            continue
        events.extend(
            remote_event(item, (), calendar_zone)
            for item in instances
            if item.get("status") != "cancelled"
        )
    return sorted(events, key=lambda e: e.id)


def remote_event(
    master: dict[str, Any],
    instances: Sequence[dict[str, Any]],
    calendar_zone: str | None,
) -> RemoteEvent:
    """One RemoteEvent for a single event or a series with its exceptions.

    An item whose fields cannot be converted (a date that is not one, a
    broken recurrence…) still becomes a RemoteEvent, with empty ``raw``: the
    sync engine then skips it by name and reports it, and the rest of the
    listing syncs.
    """
    try:
        raw = to_ical(master, instances, calendar_zone)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        summary = master.get("summary") if isinstance(master, dict) else None
        return RemoteEvent(
            id=str(master.get("id", "")),
            etag=master.get("etag"),
            uid=str(master.get("iCalUID") or master.get("id") or "") or None,
            raw="",
            summary=str(summary) if summary else None,
        )
    fields = quick_fields(raw)
    return RemoteEvent(
        id=str(master["id"]),
        etag=master.get("etag"),
        uid=fields.uid,
        raw=raw,
        summary=fields.summary,
        coach_key=fields.coach_key,
    )


def to_ical(
    master: dict[str, Any],
    instances: Sequence[dict[str, Any]],
    calendar_zone: str | None,
) -> str:
    """A VCALENDAR for ``master`` and its modified/cancelled ``instances``."""
    series = bool(master.get("recurrence"))
    master_zone = _zone(master.get("start", {}).get("timeZone"), calendar_zone)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    head = _vevent(master, master_zone)
    modified: list[icalendar.Event] = []
    if series:
        for item in instances:
            original = _when(item.get("originalStartTime") or {}, master_zone)
            if original is None:
                continue
            if item.get("status") == "cancelled":
                head.add("exdate", original)
            else:
                vevent = _vevent(item, master_zone)
                vevent.add("recurrence-id", original)
                modified.append(vevent)
    cal.add_component(head)
    for vevent in modified:
        cal.add_component(vevent)
    text = bytes(cal.to_ical()).decode("utf-8")
    if series:
        text = _insert_rules(text, master.get("recurrence") or [])
    return text


def _vevent(item: dict[str, Any], master_zone: ZoneInfo) -> icalendar.Event:
    zone = _maybe_zone(item.get("start", {}).get("timeZone")) or master_zone
    vevent = icalendar.Event()
    vevent.add("uid", str(item.get("iCalUID") or item["id"]))
    updated = _stamp(item.get("updated"))
    vevent.add("dtstamp", updated or datetime.now(UTC).replace(microsecond=0))
    if updated is not None:
        vevent.add("last-modified", updated)
    created = _stamp(item.get("created"))
    if created is not None:
        vevent.add("created", created)
    start = _when(item.get("start") or {}, zone)
    if start is not None:
        vevent.add("dtstart", start)
    end_zone = _maybe_zone(item.get("end", {}).get("timeZone")) or zone
    end = _when(item.get("end") or {}, end_zone)
    if end is not None:
        vevent.add("dtend", end)
    for name in ("summary", "description", "location"):
        if item.get(name):
            vevent.add(name, str(item[name]))
    vevent.add("status", str(item.get("status") or "confirmed").upper())
    transparent = item.get("transparency") == "transparent"
    vevent.add("transp", "TRANSPARENT" if transparent else "OPAQUE")
    if item.get("sequence") is not None:
        vevent.add("sequence", int(item["sequence"]))
    organizer = (item.get("organizer") or {}).get("email")
    if organizer:
        vevent.add("organizer", icalendar.vCalAddress(f"mailto:{organizer}"))
    for attendee in item.get("attendees") or []:
        email = attendee.get("email")
        if not email:
            continue
        address = icalendar.vCalAddress(f"mailto:{email}")
        address.params["PARTSTAT"] = _PARTSTAT.get(
            str(attendee.get("responseStatus")), "NEEDS-ACTION"
        )
        if attendee.get("displayName"):
            address.params["CN"] = str(attendee["displayName"])
        vevent.add("attendee", address)
    key = key_of(item)
    if key:
        vevent.add(KEY_PROPERTY, key)
    return vevent


def _insert_rules(text: str, rules: Iterable[str]) -> str:
    """Put Google's recurrence lines into the first VEVENT, verbatim.

    They are already iCalendar property lines; copying them as text keeps
    every form Google accepts, and a broken one surfaces from ``expand`` as a
    ``MalformedEvent`` for this event only.
    """
    lines = [
        " ".join(str(rule).splitlines()).strip() for rule in rules if str(rule).strip()
    ]
    marker = "END:VEVENT\r\n"
    index = text.find(marker)
    if index < 0 or not lines:
        return text
    return text[:index] + "\r\n".join(lines) + "\r\n" + text[index:]


def _when(value: dict[str, Any], zone: ZoneInfo | None) -> date | datetime | None:
    if value.get("date"):
        return date.fromisoformat(str(value["date"]))
    if not value.get("dateTime"):
        return None
    moment = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
    if moment.tzinfo is None:  # Google always sends an offset; be lenient
        moment = moment.replace(tzinfo=zone or UTC)
    return moment.astimezone(zone or UTC)


def _zone(name: str | None, fallback: str | None) -> ZoneInfo:
    return _maybe_zone(name) or _maybe_zone(fallback) or ZoneInfo("UTC")


def _maybe_zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _zone_key(moment: datetime) -> str | None:
    key = getattr(moment.tzinfo, "key", None)
    if not key:
        return None
    try:
        ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return str(key)


def _stamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)
