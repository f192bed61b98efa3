"""iCalendar text as another client writes it, and the edits a phone makes,
for the servers that store iCalendar (CalDAV, the in-memory provider)."""

from __future__ import annotations

import datetime as dt

import icalendar

from coach_app.calendars.ical import KEY_PROPERTY
from remotes import Stored

UTC_FORMAT = "%Y%m%dT%H%M%SZ"


def calendar(*event_lines: str, more: tuple[tuple[str, ...], ...] = ()) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Tests//Phone//EN"]
    for body in (event_lines, *more):
        lines += ["BEGIN:VEVENT", "DTSTAMP:20250101T000000Z", *body, "END:VEVENT"]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def event(
    uid: str,
    summary: str,
    start: dt.datetime,
    minutes: int = 60,
    *,
    transparent: bool = False,
    declined_by: str | None = None,
) -> str:
    end = start + dt.timedelta(minutes=minutes)
    extra = ["TRANSP:TRANSPARENT"] if transparent else []
    if declined_by:
        extra.append(f"ATTENDEE;PARTSTAT=DECLINED:mailto:{declined_by}")
        extra.append("ATTENDEE;PARTSTAT=ACCEPTED:mailto:boss@example.com")
    return calendar(
        f"UID:{uid}",
        f"DTSTART:{start.astimezone(dt.UTC).strftime(UTC_FORMAT)}",
        f"DTEND:{end.astimezone(dt.UTC).strftime(UTC_FORMAT)}",
        f"SUMMARY:{summary}",
        *extra,
    )


def all_day(uid: str, summary: str, first: dt.date, days: int) -> str:
    last = first + dt.timedelta(days=days)
    return calendar(
        f"UID:{uid}",
        f"DTSTART;VALUE=DATE:{first:%Y%m%d}",
        f"DTEND;VALUE=DATE:{last:%Y%m%d}",
        f"SUMMARY:{summary}",
    )


def _local(moment: dt.datetime) -> str:
    zone = getattr(moment.tzinfo, "key", None)
    if zone is None or zone == "UTC":
        return ":" + moment.astimezone(dt.UTC).strftime(UTC_FORMAT)
    return f";TZID={zone}:{moment.strftime('%Y%m%dT%H%M%S')}"


def series(
    uid: str, summary: str, start: dt.datetime, minutes: int, rules: list[str]
) -> str:
    end = start + dt.timedelta(minutes=minutes)
    return calendar(
        f"UID:{uid}",
        f"DTSTART{_local(start)}",
        f"DTEND{_local(end)}",
        *rules,
        f"SUMMARY:{summary}",
    )


def _parse(text: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)


def _text(cal: icalendar.Calendar) -> str:
    return bytes(cal.to_ical()).decode("utf-8")


def _master(cal: icalendar.Calendar) -> icalendar.Event:
    return next(c for c in cal.walk("VEVENT") if "RECURRENCE-ID" not in c)


def with_moved_instance(
    text: str,
    original: dt.datetime,
    start: dt.datetime,
    end: dt.datetime,
    summary: str | None = None,
) -> str:
    """The series with one instance moved: an override VEVENT."""
    cal = _parse(text)
    master = _master(cal)
    override = icalendar.Event()
    override.add("uid", str(master["UID"]))
    override.add("dtstamp", dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    override.add("recurrence-id", original)
    override.add("dtstart", start)
    override.add("dtend", end)
    override.add("summary", summary or str(master.get("SUMMARY", "")))
    cal.add_component(override)
    return _text(cal)


def with_cancelled_instance(text: str, original: dt.datetime) -> str:
    """The series with one instance deleted, as calendar apps do: an EXDATE."""
    cal = _parse(text)
    _master(cal).add("exdate", original)
    return _text(cal)


def _only_event(cal: icalendar.Calendar) -> icalendar.Event:
    [vevent] = list(cal.walk("VEVENT"))
    return vevent


def renamed(text: str, summary: str) -> str:
    cal = _parse(text)
    vevent = _only_event(cal)
    del vevent["SUMMARY"]
    vevent.add("summary", summary)
    return _text(cal)


def moved(text: str, start: dt.datetime, end: dt.datetime) -> str:
    cal = _parse(text)
    vevent = _only_event(cal)
    for name, value in (("DTSTART", start), ("DTEND", end)):
        del vevent[name]
        vevent.add(name.lower(), value.astimezone(dt.UTC))
    return _text(cal)


def categorised(text: str) -> str:
    """Neither time nor title changed: a category added."""
    cal = _parse(text)
    _only_event(cal).add("categories", "Work")
    return _text(cal)


def is_categorised(text: str) -> bool:
    return "CATEGORIES:Work" in text.replace("\r\n ", "")


def stored(id: str, etag: str | None, text: str) -> Stored:
    vevent = _only_event(_parse(text))
    return Stored(
        id=id,
        etag=etag,
        key=str(vevent[KEY_PROPERTY]) if KEY_PROPERTY in vevent else None,
        summary=str(vevent.get("SUMMARY", "")),
        start=vevent.decoded("DTSTART"),
        end=vevent.decoded("DTEND"),
        description=str(vevent.get("DESCRIPTION", "")),
    )
