"""One calendar entry we cannot read is skipped by name; it never stops,
hangs or crashes the pull of the others.

(The whole path — a broken entry on a CalDAV server, the connection's note
naming it, the rest stored — is held by the sync suite:
``tests/sync/test_pull.py::test_malformed_entry_is_skipped_and_reported_while_the_rest_syncs``.)
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest

from coach_app.calendars.base import ChangeSet, RemoteEvent
from coach_app.calendars.errors import MalformedEvent
from coach_app.calendars.google.convert import group
from coach_app.calendars.ical import busy_time, expand
from coach_app.models import CalendarConnection
from coach_app.sync import pull
from coach_app.sync.snapshot import ConnectionSnapshot, SubSnapshot

UTC = dt.UTC
NOW = dt.datetime(2030, 1, 7, tzinfo=UTC)
WINDOW = (NOW, NOW + dt.timedelta(days=60))


def google_item(event_id: str, summary: str, start: str) -> dict:
    return {
        "id": event_id,
        "etag": '"1"',
        "status": "confirmed",
        "summary": summary,
        "start": {"dateTime": start},
        "end": {"dateTime": "2030-01-08T11:00:00Z"},
    }


def test_a_google_item_that_cannot_be_converted_still_lists_the_others() -> None:
    listing = group(
        [
            google_item("good1", "Dentist", "2030-01-08T10:00:00Z"),
            google_item("bad1", "Broken lunch", "half past twelve"),
        ],
        "UTC",
    )
    by_id = {event.id: event for event in listing}
    assert set(by_id) == {"good1", "bad1"}
    assert [o.summary for o in expand(by_id["good1"].raw, *WINDOW, "UTC")] == [
        "Dentist"
    ]
    assert (by_id["bad1"].summary, by_id["bad1"].raw) == ("Broken lunch", "")
    with pytest.raises(MalformedEvent):
        expand(by_id["bad1"].raw, *WINDOW, "UTC")


def vcalendar(*lines: str) -> str:
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Tests//Broken//EN",
            "BEGIN:VEVENT",
            "UID:broken-1",
            "DTSTART:20300108T120000Z",
            "DTEND:20300108T130000Z",
            *lines,
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;INTERVAL=0",  # dateutil loops for ever
        "FREQ=MONTHLY;BYDAY=99MO",  # IndexError inside dateutil
        "FREQ=YEARLY;BYMONTH=13",
        "FREQ=SOMETIMES",
    ],
)
def test_rules_that_hung_or_crashed_the_expansion_are_unreadable_at_once(
    rule: str,
) -> None:
    text = vcalendar(f"RRULE:{rule}")
    with ThreadPoolExecutor(max_workers=2) as pool:
        for call in (expand, busy_time):
            future = pool.submit(call, text, *WINDOW, "UTC")
            with pytest.raises(MalformedEvent):
                future.result(timeout=5)


def test_any_failure_while_expanding_one_entry_skips_only_that_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = pull.busy_time

    def flaky(text: str, *args: object, **kwargs: object):
        if "UID:broken-1" in text:
            raise RecursionError("the parser gave up")
        return real(text, *args, **kwargs)

    monkeypatch.setattr(pull, "busy_time", flaky)
    good = vcalendar("SUMMARY:Dentist").replace("broken-1", "good-1")
    changes = ChangeSet(
        [
            RemoteEvent("/cal/good.ics", '"1"', "good-1", good, "Dentist"),
            RemoteEvent("/cal/bad.ics", '"1"', "broken-1", vcalendar(), "Odd one"),
        ],
        full=True,
    )
    prepared = pull._prepare(_snapshot(), True, changes, NOW)
    assert list(prepared.expanded) == ["/cal/good.ics"]
    assert prepared.malformed == {"/cal/bad.ics": "Odd one"}


def _snapshot() -> ConnectionSnapshot:
    connection = CalendarConnection(id=1, coach_id=1, provider="caldav")
    return ConnectionSnapshot(
        connection=connection,
        coach_id=1,
        coach_name="Kim",
        coach_email="kim@example.com",
        coach_timezone="UTC",
        horizon_days=60,
        subs=(SubSnapshot(1, "/cal/", "Work", True, False),),
    )
