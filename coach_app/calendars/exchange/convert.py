"""EWS calendar items ↔ what the sync engine understands.

Pulled items become iCalendar text in ``RemoteEvent.raw`` so that
``coach_app.calendars.ical.expand`` works for EWS as for every provider:

* a single item is one VEVENT (UTC times, or ``VALUE=DATE`` for an all-day
  event, read in the item's own ``StartTimeZone``);
* an all-day item spans whole days from its start date: their number is
  its ``Duration`` in days, rounded (a day across a DST change lasts 23 or
  25 hours). exchangelib's own end date is not used: it takes 24 hours off
  the end instant, which lands a day early after a spring-forward day;
* a recurring master is one VEVENT per series whose instances are the
  occurrences a ``CalendarView`` returned over the sync window, each named
  by its ``OriginalStart`` (which stays when an occurrence is moved) —
  DTSTART is the first, ``RDATE`` lists the rest, and an instance that
  differs (a moved exception, another free/busy status, a cancellation)
  gets its own VEVENT with ``RECURRENCE-ID`` = its original start. Deleted
  occurrences are simply absent.
  EWS expands the series itself (time zones, exceptions), so no EWS
  recurrence pattern is translated here. A series with no occurrence in
  the window has its only instance excluded;
* busy semantics (DESIGN.md): ``LegacyFreeBusyStatus`` Free → TRANSP
  TRANSPARENT (every other status, NoData included, is busy);
  ``IsCancelled`` → STATUS CANCELLED; ``MyResponseType`` Decline → the
  mailbox's ATTENDEE with PARTSTAT DECLINED, and TRANSPARENT as well, so a
  declined meeting never blocks whichever address the engine compares;
* our appointments carry their key in a private extended property
  (``CoachAppKey`` in our own property set), copied to X-COACHAPP-KEY.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import icalendar
from exchangelib import CalendarItem, EWSDate, EWSTimeZone, ExtendedProperty

from coach_app.calendars.base import OutgoingEvent, RemoteEvent
from coach_app.calendars.ical import KEY_PROPERTY, quick_fields

PRODID = "-//Coach App//Exchange Web Services//EN"
KEY_FIELD = "coach_app_key"


class CoachAppKey(ExtendedProperty):
    """Our private key on pushed appointments (PROVIDERS.md: an
    ExtendedFieldURI with our own PropertySetId, a name, type String)."""

    property_set_id = "3f4c0b2e-8a1d-4c6e-9b57-2d0e6a9c1f84"
    property_name = "CoachAppKey"
    property_type = "String"


class CleanGlobalObjectId(ExtendedProperty):
    """PidLidCleanGlobalObjectId (MS-OXOCAL): one value for a series' master
    and all its occurrences. FindItem (so CalendarView) does not return the
    iCalendar UID, but serves this property, which ties occurrences to
    their master."""

    distinguished_property_set_id = "Meeting"
    property_id = 0x23
    property_type = "Binary"


SERIES_FIELD = "clean_global_object_id"

for _name, _cls in ((KEY_FIELD, CoachAppKey), (SERIES_FIELD, CleanGlobalObjectId)):
    if _name not in {f.name for f in CalendarItem.FIELDS}:
        CalendarItem.register(_name, _cls)

# What a pull asks for (SyncFolderItems and GetItem) and what a
# CalendarView asks for: never the body, never attendee lists.
ITEM_FIELDS = (
    "subject",
    "start",
    "end",
    "duration",
    "is_all_day",
    "legacy_free_busy_status",
    "is_cancelled",
    "my_response_type",
    "type",
    "uid",
    "_start_timezone",
    SERIES_FIELD,
    KEY_FIELD,
)
# What tells when a series' instances lie (GetItem only).
SPAN_FIELDS = ("first_occurrence", "last_occurrence", "modified_occurrences")
VIEW_FIELDS = (
    *(f for f in ITEM_FIELDS if f not in (KEY_FIELD, "uid")),
    "original_start",
)

Moment = dt.datetime | dt.date


def single_event(item: CalendarItem, mailbox: str) -> RemoteEvent:
    cal = _calendar()
    start, end = _span(item)
    cal.add_component(_vevent(item, _uid(item), start, end, mailbox))
    return _remote(item, cal)


def series_event(
    master: CalendarItem, occurrences: Sequence[CalendarItem], mailbox: str
) -> RemoteEvent:
    """A recurring master with the occurrences seen in the sync window."""
    cal = _calendar()
    uid = _uid(master)
    if not occurrences:
        start, end = _span(master)
        head = _vevent(master, uid, start, end, mailbox)
        head.add("exdate", start)
        cal.add_component(head)
        return _remote(master, cal)
    # (original start, start, end) of each instance, by original start.
    instances = sorted(
        ((_original(o), *_span(o), o) for o in occurrences),
        key=lambda entry: _sort_key(entry[0]),
    )
    duration = _length(*_span(master))
    first = instances[0][0]
    head = _vevent(master, uid, first, _plus(first, duration), mailbox)
    rest = [original for original, *_ in instances[1:]]
    if rest:
        head.add("rdate", rest)
    cal.add_component(head)
    for original, start, end, occ in instances:
        moved = (start, end) != (original, _plus(original, duration))
        if moved or _state(occ) != _state(master):
            override = _vevent(occ, uid, start, end, mailbox, summary_from=master)
            override.add("recurrence-id", original)
            cal.add_component(override)
    return _remote(master, cal)


def item_values(event: OutgoingEvent) -> dict[str, Any]:
    """CalendarItem fields for an appointment we push (the app's full version)."""
    zone = _ews_zone(event.start)
    return {
        "subject": event.summary,
        "body": event.description or None,
        "location": event.location,
        "start": event.start.astimezone(zone),
        "end": event.end.astimezone(zone),
        "is_all_day": False,
        "legacy_free_busy_status": "Busy",
        "reminder_is_set": False,
        KEY_FIELD: event.key,
    }


UPDATE_FIELDS = (
    "subject",
    "body",
    "location",
    "start",
    "end",
    "is_all_day",
    "legacy_free_busy_status",
    KEY_FIELD,
)


# -- helpers ---------------------------------------------------------------------------


def _calendar() -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    return cal


def _remote(item: CalendarItem, cal: icalendar.Calendar) -> RemoteEvent:
    raw = bytes(cal.to_ical()).decode("utf-8")
    fields = quick_fields(raw)
    return RemoteEvent(
        id=str(item.id),
        etag=item.changekey,
        uid=fields.uid,
        raw=raw,
        summary=fields.summary,
        coach_key=getattr(item, KEY_FIELD, None) or None,
    )


def _uid(item: CalendarItem) -> str:
    if item.uid:
        return str(item.uid)
    series = series_key(item)
    return series.hex().upper() if series else str(item.id)


def series_key(item: CalendarItem) -> bytes | None:
    """What ties an occurrence to its master (CleanGlobalObjectId)."""
    value = getattr(item, SERIES_FIELD, None)
    return bytes(value) if value else None


def _span(item: CalendarItem) -> tuple[Moment, Moment]:
    """Start and exclusive end; all-day items as dates (exchangelib gives an
    all-day item's end as its last day, inclusive, and gets it wrong after
    a 23-hour day: the ``Duration`` decides how many days it spans)."""
    start, end = item.start, item.end
    if isinstance(start, dt.datetime):
        return _plain(start), _plain(end)
    start_day = dt.date(start.year, start.month, start.day)
    days = _whole_days(getattr(item, "duration", None))
    if days is not None:
        return start_day, start_day + dt.timedelta(days=days)
    end_day = dt.date(end.year, end.month, end.day) + dt.timedelta(days=1)
    return start_day, max(end_day, start_day + dt.timedelta(days=1))


_DURATION = re.compile(
    r"P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)


def _whole_days(duration: str | None) -> int | None:
    """Whole days in an ``xs:duration`` ("P1DT23H", "PT47H0M"), at least one;
    None when it cannot be read."""
    found = _DURATION.fullmatch((duration or "").strip())
    if not found or not any(found.groupdict().values()):
        return None
    parts = {k: float(v or 0) for k, v in found.groupdict().items()}
    hours = parts["d"] * 24 + parts["h"] + parts["m"] / 60 + parts["s"] / 3600
    return max(1, round(hours / 24))


def _original(occ: CalendarItem) -> Moment:
    """What names an instance: its ``OriginalStart`` (its start if none is
    given), as a date for an all-day series."""
    start = _span(occ)[0]
    original = getattr(occ, "original_start", None)
    if original is None:
        return start
    if isinstance(start, dt.datetime):
        return _plain(original)
    local = original.astimezone(getattr(occ, "_start_timezone", None) or dt.UTC)
    return dt.date(local.year, local.month, local.day)


def _plus(moment: Moment, length: dt.timedelta) -> Moment:
    if isinstance(moment, dt.datetime):
        return moment + length
    return moment + dt.timedelta(days=length.days)


def _sort_key(moment: Moment) -> dt.datetime:
    if isinstance(moment, dt.datetime):
        return moment
    return dt.datetime.combine(moment, dt.time(0), dt.UTC)


def _length(start: Moment, end: Moment) -> dt.timedelta:
    return _sort_key(end) - _sort_key(start)


def _state(item: CalendarItem) -> tuple[object, ...]:
    return (
        item.legacy_free_busy_status,
        bool(item.is_cancelled),
        item.my_response_type,
        item.subject,
    )


def _vevent(
    item: CalendarItem,
    uid: str,
    start: Moment,
    end: Moment,
    mailbox: str,
    summary_from: CalendarItem | None = None,
) -> icalendar.Event:
    vevent = icalendar.Event()
    vevent.add("uid", uid)
    vevent.add("dtstamp", dt.datetime.now(dt.UTC).replace(microsecond=0))
    vevent.add("dtstart", _plain(start))
    vevent.add("dtend", _plain(end))
    summary = item.subject or (
        summary_from.subject if summary_from is not None else None
    )
    if summary:
        vevent.add("summary", summary)
    declined = item.my_response_type == "Decline"
    free = item.legacy_free_busy_status == "Free"
    vevent.add("transp", "TRANSPARENT" if free or declined else "OPAQUE")
    vevent.add("status", "CANCELLED" if item.is_cancelled else "CONFIRMED")
    if item.legacy_free_busy_status:
        vevent.add(
            "x-microsoft-cdo-busystatus", str(item.legacy_free_busy_status).upper()
        )
    if declined and mailbox:
        attendee = icalendar.vCalAddress(f"mailto:{mailbox}")
        attendee.params["PARTSTAT"] = "DECLINED"
        vevent.add("attendee", attendee)
    key = getattr(item, KEY_FIELD, None)
    if key:
        vevent.add(KEY_PROPERTY, key)
    return vevent


def _plain(moment: Moment) -> Moment:
    """exchangelib's EWSDate/EWSDateTime as plain date/datetime for icalendar."""
    if isinstance(moment, dt.datetime):
        return dt.datetime.fromtimestamp(moment.timestamp(), dt.UTC)
    return dt.date(moment.year, moment.month, moment.day)


def _ews_zone(moment: dt.datetime) -> EWSTimeZone:
    key = getattr(moment.tzinfo, "key", None)
    if key:
        try:
            return EWSTimeZone(key)
        except Exception:  # noqa: BLE001 - a zone Windows has no name for
            pass
    return EWSTimeZone("UTC")


def is_date(value: object) -> bool:
    return isinstance(value, dt.date | EWSDate) and not isinstance(value, dt.datetime)
