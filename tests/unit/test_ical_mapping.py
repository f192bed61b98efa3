"""iCalendar → busy/free occurrences, and the VEVENT we push."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coach_app.calendars.base import OutgoingEvent
from coach_app.calendars.ical import (
    MalformedEvent,
    Occurrence,
    build_vevent,
    expand,
    quick_fields,
)

WINDOW = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


def cal(*vevent_lines: str) -> str:
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Test//EN",
            "BEGIN:VEVENT",
            "UID:ev-1",
            "DTSTAMP:20250101T000000Z",
            "SUMMARY:Dentist",
            *vevent_lines,
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


TIMED = ("DTSTART:20250610T090000Z", "DTEND:20250610T100000Z")


def only(
    text: str, zone: str | tzinfo = "Europe/Berlin", coach_email: str | None = None
) -> Occurrence:
    [occurrence] = expand(text, *WINDOW, zone, coach_email)
    return occurrence


# --- busy or free ----------------------------------------------------------


def test_an_opaque_event_is_busy_and_keeps_its_utc_times() -> None:
    occ = only(cal(*TIMED))
    assert (occ.uid, occ.recurrence_id, occ.start, occ.end) == (
        "ev-1",
        None,
        datetime(2025, 6, 10, 9, tzinfo=UTC),
        datetime(2025, 6, 10, 10, tzinfo=UTC),
    )
    assert (occ.busy, occ.all_day, occ.cancelled, occ.summary) == (
        True,
        False,
        False,
        "Dentist",
    )


def test_a_transparent_event_is_free() -> None:
    assert only(cal(*TIMED, "TRANSP:TRANSPARENT")).busy is False


def test_an_explicitly_opaque_event_is_busy() -> None:
    assert only(cal(*TIMED, "TRANSP:OPAQUE")).busy is True


def test_a_cancelled_event_is_not_busy_and_is_marked_cancelled() -> None:
    occ = only(cal(*TIMED, "STATUS:CANCELLED"))
    assert (occ.busy, occ.cancelled) == (False, True)


def test_a_tentative_event_is_busy() -> None:
    assert only(cal(*TIMED, "STATUS:TENTATIVE")).busy is True


ATTENDEES = (
    "ORGANIZER:mailto:boss@example.com",
    "ATTENDEE;PARTSTAT=DECLINED:mailto:Coach@Example.com",
    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:other@example.com",
)


def test_an_event_the_coach_declined_is_not_busy() -> None:
    assert only(cal(*TIMED, *ATTENDEES), coach_email="coach@example.com").busy is False


def test_a_decline_by_someone_else_leaves_the_event_busy() -> None:
    assert only(cal(*TIMED, *ATTENDEES), coach_email="other@example.com").busy is True


def test_declines_are_ignored_when_the_coach_email_is_unknown() -> None:
    assert only(cal(*TIMED, *ATTENDEES)).busy is True


def test_a_single_attendee_who_declined_is_recognised() -> None:
    text = cal(*TIMED, "ATTENDEE;CN=Me;PARTSTAT=DECLINED:mailto:coach@example.com")
    assert only(text, coach_email="coach@example.com").busy is False


# --- time zones, all-day, floating, missing DTEND ----------------------------


def test_an_all_day_event_on_the_spring_forward_day_lasts_23_hours() -> None:
    occ = only(cal("DTSTART;VALUE=DATE:20250330", "DTEND;VALUE=DATE:20250331"))
    assert occ.all_day is True
    assert (occ.start, occ.end) == (
        datetime(2025, 3, 29, 23, tzinfo=UTC),
        datetime(2025, 3, 30, 22, tzinfo=UTC),
    )


def test_an_all_day_event_on_the_fall_back_day_lasts_25_hours() -> None:
    occ = only(cal("DTSTART;VALUE=DATE:20251102"), zone="America/New_York")
    assert (occ.start, occ.end) == (
        datetime(2025, 11, 2, 4, tzinfo=UTC),
        datetime(2025, 11, 3, 5, tzinfo=UTC),
    )


def test_a_weekly_all_day_series_crossing_dst_keeps_local_midnights() -> None:
    text = cal("DTSTART;VALUE=DATE:20250323", "RRULE:FREQ=WEEKLY;COUNT=2")
    occurrences = expand(text, *WINDOW, "Europe/Berlin")
    assert [(o.recurrence_id, o.start) for o in occurrences] == [
        ("20250323", datetime(2025, 3, 22, 23, tzinfo=UTC)),
        ("20250330", datetime(2025, 3, 29, 23, tzinfo=UTC)),
    ]


def test_a_floating_time_is_the_coach_wall_clock() -> None:
    occ = only(cal("DTSTART:20250710T090000", "DTEND:20250710T093000"))
    assert (occ.start, occ.end) == (
        datetime(2025, 7, 10, 7, tzinfo=UTC),
        datetime(2025, 7, 10, 7, 30, tzinfo=UTC),
    )


def test_a_tzid_time_ignores_the_coach_zone() -> None:
    text = cal("DTSTART;TZID=America/New_York:20250710T090000", "DURATION:PT1H")
    assert only(text, zone="Asia/Tokyo").start == datetime(2025, 7, 10, 13, tzinfo=UTC)


def test_missing_dtend_uses_duration() -> None:
    occ = only(cal("DTSTART:20250610T090000Z", "DURATION:PT45M"))
    assert occ.end - occ.start == timedelta(minutes=45)


def test_missing_dtend_on_a_date_lasts_one_day() -> None:
    occ = only(cal("DTSTART;VALUE=DATE:20250610"), zone="UTC")
    assert (occ.start, occ.end) == (
        datetime(2025, 6, 10, tzinfo=UTC),
        datetime(2025, 6, 11, tzinfo=UTC),
    )


def test_missing_dtend_on_a_time_lasts_zero_and_still_appears() -> None:
    occ = only(cal("DTSTART:20250610T090000Z"))
    assert occ.start == occ.end == datetime(2025, 6, 10, 9, tzinfo=UTC)


def test_the_window_is_half_open() -> None:
    text = cal(*TIMED)
    at = datetime(2025, 6, 10, 10, tzinfo=UTC)
    assert expand(text, at, at + timedelta(hours=1), "UTC") == []
    assert (
        len(expand(text, at - timedelta(hours=2), at - timedelta(minutes=59), "UTC"))
        == 1
    )
    assert expand(text, at - timedelta(hours=2), at - timedelta(hours=1), "UTC") == []


def test_the_window_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        expand(cal(*TIMED), datetime(2025, 1, 1), datetime(2025, 2, 1), "UTC")


def test_a_zone_object_is_accepted_as_well_as_a_name() -> None:
    fixed = timezone(timedelta(hours=5))
    occ = only(cal("DTSTART:20250610T090000", "DTEND:20250610T100000"), zone=fixed)
    assert occ.start == datetime(2025, 6, 10, 4, tzinfo=UTC)


def test_only_vevents_are_expanded() -> None:
    text = cal(*TIMED).replace(
        "END:VCALENDAR",
        "BEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250611T090000Z\r\n"
        "END:VTODO\r\nEND:VCALENDAR",
    )
    assert [o.uid for o in expand(text, *WINDOW, "UTC")] == ["ev-1"]


# --- malformed input -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "this is not a calendar",
        "",
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n",  # truncated
        cal("SUMMARY:no start at all"),
        cal("DTSTART:20250610T090000Z", "RRULE:FREQ=SOMETIMES"),
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEND:VCARD\r\n",
    ],
    ids=["prose", "empty", "truncated", "no-dtstart", "bad-rrule", "vcard"],
)
def test_malformed_text_raises_malformed_event(text: str) -> None:
    with pytest.raises(MalformedEvent):
        expand(text, *WINDOW, "UTC")


def test_an_event_ending_before_it_starts_blocks_the_swapped_interval() -> None:
    # recurring_ical_events reads it leniently; blocking the hour is the safe side.
    occ = only(cal("DTSTART:20250610T090000Z", "DTEND:20250610T080000Z"))
    assert (occ.start, occ.end) == (
        datetime(2025, 6, 10, 8, tzinfo=UTC),
        datetime(2025, 6, 10, 9, tzinfo=UTC),
    )


def test_malformed_event_names_the_uid_when_it_can() -> None:
    with pytest.raises(MalformedEvent) as caught:
        expand(cal("SUMMARY:no start"), *WINDOW, "UTC")
    assert caught.value.uid == "ev-1"
    assert "skipped" in caught.value.user_message


# --- what we push ------------------------------------------------------------


def appointment(**overrides: object) -> OutgoingEvent:
    fields: dict[str, object] = {
        "key": "appt-17",
        "summary": "Coaching, session 2; Ada",
        "description": "Line one\nLine two",
        "start": datetime(2025, 3, 30, 10, tzinfo=timezone(timedelta(hours=2))),
        "end": datetime(2025, 3, 30, 11, tzinfo=timezone(timedelta(hours=2))),
        "location": "Zoom",
    }
    fields.update(overrides)
    return OutgoingEvent(**fields)  # type: ignore[arg-type]


def test_build_vevent_writes_utc_times_our_key_and_opaque() -> None:
    text = build_vevent(appointment(), dtstamp=datetime(2025, 1, 1, tzinfo=UTC))
    assert "DTSTART:20250330T080000Z\r\n" in text
    assert "DTEND:20250330T090000Z\r\n" in text
    assert "DTSTAMP:20250101T000000Z\r\n" in text
    assert "TRANSP:OPAQUE\r\n" in text
    assert "X-COACHAPP-KEY:appt-17\r\n" in text
    [vevent] = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert (str(vevent["UID"]), str(vevent["SUMMARY"]), str(vevent["DESCRIPTION"])) == (
        "appt-17",
        "Coaching, session 2; Ada",
        "Line one\nLine two",
    )
    assert str(vevent["LOCATION"]) == "Zoom"


def test_a_built_event_expands_to_one_busy_occurrence() -> None:
    occ = only(build_vevent(appointment(location=None)))
    assert (occ.uid, occ.busy, occ.start, occ.end) == (
        "appt-17",
        True,
        datetime(2025, 3, 30, 8, tzinfo=UTC),
        datetime(2025, 3, 30, 9, tzinfo=UTC),
    )


def test_outgoing_events_need_aware_ordered_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        appointment(start=datetime(2025, 1, 1, 9))
    with pytest.raises(ValueError, match="after start"):
        appointment(end=datetime(2025, 3, 30, 7, tzinfo=UTC))


@given(
    summary=st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
        min_size=1,
        max_size=200,
    ),
    key=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,60}", fullmatch=True),
)
def test_quick_fields_reads_back_what_build_vevent_wrote(
    summary: str, key: str
) -> None:
    text = build_vevent(appointment(key=key, summary=summary))
    fields = quick_fields(text)
    assert (fields.uid, fields.summary, fields.coach_key) == (key, summary, key)


def test_quick_fields_unfolds_lines_and_ignores_quoted_colons() -> None:
    text = (
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:abc\r\n"
        'SUMMARY;ALTREP="http://x.example/a:b":Long sum\r\n mary\\, here\r\n'
        "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:other\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert quick_fields(text) == quick_fields(text.replace("\r\n", "\n"))
    fields = quick_fields(text)
    assert (fields.uid, fields.summary, fields.coach_key) == (
        "abc",
        "Long summary, here",
        None,
    )
