"""Graph event resources → RemoteEvents (no HTTP): zones, all-day dates,
our key, and what is busy."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from coach_app.calendars.errors import MalformedEvent
from coach_app.calendars.ical import busy_time, expand
from coach_app.calendars.microsoft.convert import (
    KEY_PROPERTY_ID,
    interval,
    key_of,
    remote_event,
)


def item(**fields: Any) -> dict[str, Any]:
    return {
        "id": "AAkALgabc=",
        "iCalUId": "uid-1",
        "subject": "Meeting",
        "start": {"dateTime": "2030-03-01T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2030-03-01T10:00:00.0000000", "timeZone": "UTC"},
        "@odata.etag": 'W/"ck1"',
        **fields,
    }


def test_windows_iana_and_tzone_names_are_mapped() -> None:
    for zone, expected_hour in (
        ("Pacific Standard Time", 17),
        ("W. Europe Standard Time", 8),
        ("Europe/Berlin", 8),
        ("tzone://Microsoft/Utc", 9),
    ):
        start, _ = interval(
            item(
                start={"dateTime": "2030-03-01T09:00:00.0000000", "timeZone": zone},
                end={"dateTime": "2030-03-01T10:00:00.0000000", "timeZone": zone},
            )
        )
        assert start == datetime(2030, 3, 1, expected_hour, tzinfo=UTC), zone


def test_an_unknown_zone_falls_back_to_the_original_one() -> None:
    start, _ = interval(
        item(
            start={
                "dateTime": "2030-03-01T09:00:00",
                "timeZone": "tzone://Microsoft/Custom",
            },
            end={
                "dateTime": "2030-03-01T10:00:00",
                "timeZone": "tzone://Microsoft/Custom",
            },
            originalStartTimeZone="Tokyo Standard Time",
        )
    )
    assert start == datetime(2030, 3, 1, 0, tzinfo=UTC)


def test_all_day_events_become_dates() -> None:
    event = item(
        isAllDay=True,
        start={
            "dateTime": "2030-03-02T00:00:00.0000000",
            "timeZone": "Pacific Standard Time",
        },
        end={
            "dateTime": "2030-03-03T00:00:00.0000000",
            "timeZone": "Pacific Standard Time",
        },
    )
    assert interval(event) == (date(2030, 3, 2), date(2030, 3, 3))
    [occurrence] = expand(
        remote_event(event).raw,
        datetime(2030, 3, 1, tzinfo=UTC),
        datetime(2030, 3, 5, tzinfo=UTC),
        "Europe/Berlin",
    )
    assert occurrence.all_day and occurrence.start == datetime(
        2030, 3, 1, 23, tzinfo=UTC
    )


def test_our_key_comes_from_the_property_or_our_transaction_id_only() -> None:
    assert key_of(item(transactionId="coachapp:coachapp-appt-5")) == "coachapp-appt-5"
    assert key_of(item(transactionId="teams-1234")) is None  # another app's
    with_property = item(
        singleValueExtendedProperties=[{"id": KEY_PROPERTY_ID, "value": "k"}]
    )
    assert key_of(with_property) == "k"
    converted = remote_event(item(transactionId="coachapp:k2"))
    assert converted.coach_key == "k2" and "X-COACHAPP-KEY:k2" in converted.raw
    assert (converted.id, converted.etag, converted.uid) == (
        "AAkALgabc=",
        'W/"ck1"',
        "uid-1",
    )


def test_an_event_whose_times_cannot_be_read_is_kept_by_name_for_the_engine_to_skip() -> (
    None
):
    broken = remote_event(
        item(subject="Board retreat", start={"dateTime": "someday", "timeZone": "UTC"})
    )
    assert (broken.id, broken.summary, broken.raw) == (
        "AAkALgabc=",
        "Board retreat",
        "",
    )
    # The engine reads busy time from ``raw``: an empty one is refused, so
    # the entry is skipped with a notice instead of vanishing silently.
    with pytest.raises(MalformedEvent):
        busy_time(
            broken.raw,
            datetime(2030, 1, 1, tzinfo=UTC),
            datetime(2030, 12, 31, tzinfo=UTC),
            "UTC",
            None,
        )
