"""iCalendar ↔ the app: expand stored events into busy/free occurrences, and
serialize the appointments we push.

Time rules (the availability engine depends on them):

* every ``Occurrence`` carries tz-aware UTC ``start``/``end``;
* DATE values (all-day) and floating times are wall-clock times of the coach,
  so they are placed in the coach's IANA zone — an all-day event on a DST
  change day is 23 or 25 hours long;
* a missing DTEND means DURATION, else one day for DATE and zero otherwise
  (RFC 5545 §3.6.1).

Busy means: not ``TRANSP:TRANSPARENT``, not ``STATUS:CANCELLED`` and, when the
coach's email is known, not declined by the coach (``PARTSTAT=DECLINED``).

Bounded work (``busy_time``): a series repeating within a day goes to
``dense.condense`` and comes back as merged blocks, never one occurrence per
instance. Every other rule is checked before ``recurring_ical_events``
expands it: parts out of range (``INTERVAL=0`` loops forever) raise
``MalformedEvent``, as do a daily, weekly or monthly series starting before
``OLDEST_START`` (expansion walks from ``DTSTART``) and a weekly, monthly or
yearly rule expanding into more than ``MAX_TIMES_A_DAY`` times a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from coach_app.calendars import dense
from coach_app.calendars.base import OutgoingEvent
from coach_app.calendars.errors import MalformedEvent

__all__ = [
    "BusyTime",
    "CondensedSeries",
    "MalformedEvent",
    "Occurrence",
    "QuickFields",
    "build_vevent",
    "busy_time",
    "expand",
    "quick_fields",
]

OLDEST_START = date(1900, 1, 1)
MAX_TIMES_A_DAY = 24
_VALID_FREQ = {"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
# What broken input raises from icalendar, dateutil and recurring_ical_events.
_BROKEN = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)

PRODID = "-//Coach App//Calendar Sync//EN"
KEY_PROPERTY = "X-COACHAPP-KEY"

# Expansion looks this far beyond the window so that floating and all-day
# events, whose UTC position depends on the coach's zone, are never cut off
# at the edges; the exact window is applied after conversion to UTC.
_WINDOW_PAD = timedelta(days=2)


@dataclass(frozen=True)
class Occurrence:
    """One instance of an event in UTC."""

    uid: str
    recurrence_id: str | None  # None for a one-off event; else "YYYYMMDD[THHMMSSZ]"
    start: datetime
    end: datetime
    all_day: bool
    busy: bool
    summary: str
    cancelled: bool = False


@dataclass(frozen=True)
class CondensedSeries:
    """A series kept as merged busy blocks (see ``dense``)."""

    uid: str
    summary: str
    busy: bool
    every: str  # "every minute", …; "" when it needs no notice
    blocks: list[dense.Block]
    approximate: bool = False


@dataclass(frozen=True)
class BusyTime:
    occurrences: list[Occurrence]
    condensed: list[CondensedSeries]


def busy_time(
    text: str,
    window_start: datetime,
    window_end: datetime,
    zone: str | tzinfo,
    coach_email: str | None = None,
) -> BusyTime:
    """Like ``expand``, but a series repeating within a day comes back as
    merged blocks (``condensed``) at bounded cost; its overridden instances
    are ordinary occurrences."""
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise ValueError("the window must be timezone-aware")
    coach_zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    calendar = _parse(text)
    first_uid = _first_uid(calendar)
    events = list(calendar.walk("VEVENT"))
    masters = [
        comp
        for comp in events
        if "RRULE" in comp and "RECURRENCE-ID" not in comp and _dense(comp)
    ]
    if not masters:
        return BusyTime(
            _expand(calendar, window_start, window_end, coach_zone, coach_email),
            [],
        )
    condensed: list[CondensedSeries] = []
    occurrences: list[Occurrence] = []
    taken: set[int] = set()
    for master in masters:
        uid = str(master.get("UID", ""))
        overrides = [
            comp
            for comp in events
            if "RECURRENCE-ID" in comp and str(comp.get("UID", "")) == uid
        ]
        taken.update(id(comp) for comp in (master, *overrides))
        try:
            series = dense.condense(
                master,
                window_start,
                window_end,
                coach_zone,
                excluded=[_when(comp, "RECURRENCE-ID") for comp in overrides],
            )
            for comp in overrides:
                occ = _occurrence(comp, coach_zone, {uid}, coach_email)
                if not occ.cancelled and _overlaps(occ, window_start, window_end):
                    occurrences.append(occ)
        except MalformedEvent as exc:
            raise MalformedEvent(str(exc), uid=uid or first_uid) from exc
        except _BROKEN as exc:
            raise MalformedEvent(f"cannot expand event: {exc}", uid=uid) from exc
        if str(master.get("STATUS", "")).upper() == "CANCELLED":
            continue
        transparent = str(master.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT"
        condensed.append(
            CondensedSeries(
                uid=uid,
                summary=str(master.get("SUMMARY", "")),
                busy=not (transparent or _declined_by(master, coach_email)),
                every=series.every,
                blocks=series.blocks,
                approximate=series.approximate,
            )
        )
    rest = [comp for comp in calendar.subcomponents if id(comp) not in taken]
    if any(comp.name == "VEVENT" for comp in rest):
        others = icalendar.Calendar()
        for comp in rest:
            others.add_component(comp)
        occurrences += _expand(
            others, window_start, window_end, coach_zone, coach_email
        )
    occurrences.sort(key=lambda o: (o.start, o.uid, o.recurrence_id or ""))
    return BusyTime(occurrences, condensed)


def expand(
    text: str,
    window_start: datetime,
    window_end: datetime,
    zone: str | tzinfo,
    coach_email: str | None = None,
) -> list[Occurrence]:
    """Occurrences of the VEVENTs in ``text`` within ``[window_start, window_end)``.

    Raises ``MalformedEvent`` when the text cannot be read; the caller should
    report and skip that one event. Every instance is one occurrence: for a
    series repeating within a day use ``busy_time``.
    """
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise ValueError("the window must be timezone-aware")
    coach_zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    return _expand(_parse(text), window_start, window_end, coach_zone, coach_email)


def _expand(
    calendar: icalendar.Calendar,
    window_start: datetime,
    window_end: datetime,
    coach_zone: tzinfo,
    coach_email: str | None,
) -> list[Occurrence]:
    first_uid = _first_uid(calendar)
    for comp in calendar.walk("VEVENT"):
        if "RRULE" in comp:
            _check_rules(comp, first_uid)
    recurring_uids = {
        str(comp.get("UID"))
        for comp in calendar.walk("VEVENT")
        if any(name in comp for name in ("RRULE", "RDATE", "RECURRENCE-ID"))
    }
    try:
        components = recurring_ical_events.of(calendar).between(
            window_start - _WINDOW_PAD, window_end + _WINDOW_PAD
        )
        occurrences = [
            _occurrence(comp, coach_zone, recurring_uids, coach_email)
            for comp in components
        ]
    # Broken input surfaces from icalendar/recurring_ical_events as many
    # exception types (bad RRULE, missing DTSTART, unparsable values); all of
    # them mean "this one event is unreadable".
    except (*_BROKEN, recurring_ical_events.InvalidCalendar) as exc:
        raise MalformedEvent(f"cannot expand event: {exc}", uid=first_uid) from exc
    inside = [o for o in occurrences if _overlaps(o, window_start, window_end)]
    return sorted(inside, key=lambda o: (o.start, o.uid, o.recurrence_id or ""))


def build_vevent(event: OutgoingEvent, *, dtstamp: datetime | None = None) -> str:
    """Serialize an appointment as a VCALENDAR with one VEVENT (UID = key)."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    vevent = icalendar.Event()
    vevent.add("uid", event.key)
    vevent.add(
        "dtstamp", (dtstamp or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    )
    vevent.add("dtstart", event.start.astimezone(UTC))
    vevent.add("dtend", event.end.astimezone(UTC))
    vevent.add("summary", event.summary)
    if event.description:
        vevent.add("description", event.description)
    if event.location:
        vevent.add("location", event.location)
    vevent.add("transp", "OPAQUE")
    vevent.add(KEY_PROPERTY, event.key)
    cal.add_component(vevent)
    return bytes(cal.to_ical()).decode("utf-8")


@dataclass(frozen=True)
class QuickFields:
    uid: str | None
    summary: str | None
    coach_key: str | None


def quick_fields(text: str) -> QuickFields:
    """UID, SUMMARY and our key from the first VEVENT, without a full parse.

    A pull can carry thousands of events; a line scan is two orders of
    magnitude cheaper than ``icalendar`` and is all the listing needs. The
    full parse happens in ``expand``, where its errors are reported per event.
    """
    found: dict[str, str] = {}
    in_event = False
    for line in _unfolded_lines(text):
        upper = line[:16].upper()
        if upper.startswith("BEGIN:VEVENT"):
            in_event = True
        elif upper.startswith("END:VEVENT"):
            break
        elif in_event:
            name, value = _split_property(line)
            if name in ("UID", "SUMMARY", KEY_PROPERTY) and name not in found:
                found[name] = _unescape(value)
    return QuickFields(found.get("UID"), found.get("SUMMARY"), found.get(KEY_PROPERTY))


def _dense(comp: icalendar.Component) -> bool:
    try:
        return dense.is_dense(comp)
    except _BROKEN as exc:
        raise MalformedEvent(f"unreadable RRULE: {exc}") from exc


def _check_rules(comp: icalendar.Component, uid: str | None) -> None:
    """Refuse rules that would make ``recurring_ical_events`` loop for long."""
    rules = comp.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules]:
        try:
            freq = str((rule.get("FREQ") or [""])[0]).upper()
            if freq not in _VALID_FREQ:
                raise MalformedEvent(f"FREQ={freq!r} is unknown", uid=uid)
            interval = int((rule.get("INTERVAL") or [1])[0])
            for part, (low, high) in dense.PART_RANGES.items():
                for value in rule.get(part) or ():
                    number = int(value)
                    if not low <= number <= high or (number == 0 and low < 0):
                        raise MalformedEvent(
                            f"{part}={number} is out of range", uid=uid
                        )
            times = 1
            for part in ("BYHOUR", "BYMINUTE", "BYSECOND"):
                times *= max(1, len(rule.get(part) or ()))
        except MalformedEvent:
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise MalformedEvent(f"unreadable RRULE: {exc}", uid=uid) from exc
        if interval < 1:
            raise MalformedEvent("INTERVAL must be at least 1", uid=uid)
        if times > MAX_TIMES_A_DAY:
            raise MalformedEvent(f"{times} instances a day is too many", uid=uid)
        start = getattr(comp.get("DTSTART"), "dt", None)
        start_day = start.date() if isinstance(start, datetime) else start
        if (
            freq in ("DAILY", "WEEKLY", "MONTHLY")
            and isinstance(start_day, date)
            and start_day < OLDEST_START
        ):
            raise MalformedEvent(f"a {freq} series starting {start_day}", uid=uid)


def _parse(text: str) -> icalendar.Calendar:
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise MalformedEvent(f"not iCalendar data: {exc}") from exc
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise MalformedEvent("not a VCALENDAR object")
    return calendar


def _first_uid(calendar: icalendar.Calendar) -> str | None:
    for comp in calendar.walk("VEVENT"):
        if "UID" in comp:
            return str(comp["UID"])
    return None


def _occurrence(
    comp: icalendar.Component,
    coach_zone: tzinfo,
    recurring_uids: set[str],
    coach_email: str | None,
) -> Occurrence:
    uid = str(comp.get("UID", ""))
    raw_start = _when(comp, "DTSTART")
    all_day = not isinstance(raw_start, datetime)
    start = _to_utc(raw_start, coach_zone)
    duration = getattr(comp.get("DURATION"), "dt", None)
    if "DTEND" in comp:
        end = _to_utc(_when(comp, "DTEND"), coach_zone)
    elif isinstance(duration, timedelta):
        end = start + duration
    else:
        end = _to_utc(raw_start + timedelta(days=1), coach_zone) if all_day else start
    recurrence_id = None
    if uid in recurring_uids and "RECURRENCE-ID" in comp:
        recurrence_id = _recurrence_key(_when(comp, "RECURRENCE-ID"), coach_zone)
    cancelled = str(comp.get("STATUS", "")).upper() == "CANCELLED"
    transparent = str(comp.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT"
    busy = not (transparent or cancelled or _declined_by(comp, coach_email))
    return Occurrence(
        uid=uid,
        recurrence_id=recurrence_id,
        start=start,
        end=end,
        all_day=all_day,
        busy=busy,
        summary=str(comp.get("SUMMARY", "")),
        cancelled=cancelled,
    )


def _when(comp: icalendar.Component, name: str) -> date | datetime:
    value = getattr(comp.get(name), "dt", None)
    if not isinstance(value, date):  # datetime is a subclass of date
        raise ValueError(f"{name} is missing or not a date-time: {value!r}")
    return value


def _to_utc(value: date | datetime, coach_zone: tzinfo) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), coach_zone).astimezone(UTC)
    if value.tzinfo is None:  # floating: the coach's wall clock
        return value.replace(tzinfo=coach_zone).astimezone(UTC)
    return value.astimezone(UTC)


def _recurrence_key(value: date | datetime, coach_zone: tzinfo) -> str:
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    return _to_utc(value, coach_zone).strftime("%Y%m%dT%H%M%SZ")


def _declined_by(comp: icalendar.Component, coach_email: str | None) -> bool:
    if not coach_email:
        return False
    attendees = comp.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    wanted = coach_email.strip().lower()
    for attendee in attendees:
        address = str(attendee).strip()
        if address.lower().startswith("mailto:"):
            address = address[len("mailto:") :]
        params = getattr(attendee, "params", {})
        if (
            address.lower() == wanted
            and str(params.get("PARTSTAT", "")).upper() == "DECLINED"
        ):
            return True
    return False


def _overlaps(occ: Occurrence, window_start: datetime, window_end: datetime) -> bool:
    if occ.end == occ.start:  # zero-length: a point inside the half-open window
        return window_start <= occ.start < window_end
    return occ.start < window_end and occ.end > window_start


def _unfolded_lines(text: str) -> list[str]:
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += line[1:]
        else:
            lines.append(line)
    return lines


def _split_property(line: str) -> tuple[str, str]:
    in_quotes = False
    name_end = None
    for index, char in enumerate(line):
        if char == '"':
            in_quotes = not in_quotes
        elif char in ";:" and name_end is None and not in_quotes:
            name_end = index
        if char == ":" and not in_quotes:
            return line[: name_end or index].upper(), line[index + 1 :]
    return line.upper(), ""


def _unescape(value: str) -> str:
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append("\n" if nxt in ("n", "N") else nxt)
        else:
            out.append(char)
    return "".join(out)
