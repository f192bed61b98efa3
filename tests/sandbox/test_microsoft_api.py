"""The Microsoft sandbox's Graph API over HTTP: calendars, calendarView
delta rounds, event writes, preferences, errors and throttling."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from sandbox.microsoft import MicrosoftSandbox
from tests.microsoft.shapes import weekly_series

KEY_PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name CoachAppKey"
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
LO, HI = NOW - timedelta(days=1), NOW + timedelta(days=30)


@pytest.fixture
def cal(microsoft: MicrosoftSandbox, account: str) -> str:
    return microsoft.state.mailboxes_default(account)


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def delta_round(
    api: httpx.Client, url: str, *, size: int = 2, params: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], str, list[dict[str, Any]]]:
    """Follow nextLinks to the deltaLink: (items, deltaLink, pages)."""
    pages = []
    response = api.get(
        url, params=params, headers={"Prefer": f"odata.maxpagesize={size}"}
    )
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        assert ("@odata.nextLink" in page) != ("@odata.deltaLink" in page)
        if "@odata.deltaLink" in page:
            items = [i for p in pages for i in p["value"]]
            return items, page["@odata.deltaLink"], pages
        response = api.get(
            page["@odata.nextLink"], headers={"Prefer": f"odata.maxpagesize={size}"}
        )


def first_round(
    api: httpx.Client, cal: str, size: int = 2
) -> tuple[list[dict[str, Any]], str]:
    items, link, _ = delta_round(
        api,
        f"/me/calendars/{cal}/calendarView/delta",
        size=size,
        params={"startDateTime": LO.isoformat(), "endDateTime": HI.isoformat()},
    )
    return items, link


def test_me_and_calendars_with_a_read_only_one(
    microsoft: MicrosoftSandbox, account: str, api: httpx.Client
) -> None:
    me = api.get("/me").json()
    assert (me["userPrincipalName"], me["mail"]) == (account, account)
    for n in range(11):
        microsoft.state.add_calendar(account, f"Extra {n}")
    shared = microsoft.state.add_calendar(
        account, "Team rota", can_edit=False, owner=("Boss", "boss@contoso.example")
    )
    first = api.get("/me/calendars").json()
    assert len(first["value"]) == 10 and first["value"][0]["isDefaultCalendar"]
    rest = api.get(first["@odata.nextLink"]).json()
    assert "@odata.nextLink" not in rest
    everything = first["value"] + rest["value"]
    assert len(everything) == 13
    team = next(c for c in everything if c["id"] == shared)
    assert (
        team["canEdit"] is False and team["owner"]["address"] == "boss@contoso.example"
    )
    denied = api.post(
        f"/me/calendars/{shared}/events",
        json={
            "subject": "x",
            "start": {
                "dateTime": at(1).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
            "end": {"dateTime": at(2).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        },
    )
    assert (denied.status_code, denied.json()["error"]["code"]) == (
        403,
        "ErrorAccessDenied",
    )


def test_a_removed_calendar_is_no_longer_listed_and_its_events_are_gone(
    microsoft: MicrosoftSandbox, cal: str, account: str, api: httpx.Client
) -> None:
    extra = microsoft.state.add_calendar(account, "Scratch")
    event = microsoft.state.add_event(
        extra, {"subject": "Lunch", "start": at(1), "end": at(2)}
    )
    window = {"startDateTime": LO.isoformat(), "endDateTime": HI.isoformat()}
    microsoft.state.remove_calendar(extra)

    listed = [c["id"] for c in api.get("/me/calendars").json()["value"]]
    assert listed == [cal] == microsoft.state.calendar_ids(account)
    for path, params in (
        (f"/me/events/{event['id']}", None),
        (f"/me/calendars/{extra}", None),
        (f"/me/calendars/{extra}/calendarView/delta", window),
    ):
        gone = api.get(path, params=params)
        assert (gone.status_code, gone.json()["error"]["code"]) == (
            404,
            "ErrorItemNotFound",
        ), path
    assert microsoft.state.get_event(event["id"]) is None
    with pytest.raises(ValueError):
        microsoft.state.remove_calendar(cal)  # the default one stays


def test_personal_accounts_have_no_mail_property(microsoft: MicrosoftSandbox) -> None:
    email = microsoft.state.add_account(
        f"p{uuid.uuid4().hex[:6]}@outlook.example", kind="personal"
    )
    token = microsoft.state.issue_tokens(email).access_token
    me = httpx.get(
        microsoft.graph_base + "/me",
        headers={"Authorization": f"Bearer {token}"},
        trust_env=False,
    ).json()
    assert me["mail"] is None and me["userPrincipalName"] == email


def test_a_delta_round_pages_every_event_once_and_ends_with_a_delta_link(
    microsoft: MicrosoftSandbox, cal: str, api: httpx.Client
) -> None:
    ids = {
        microsoft.state.add_event(
            cal, {"subject": f"e{n}", "start": at(n + 1), "end": at(n + 2)}
        )["id"]
        for n in range(5)
    }
    microsoft.state.add_event(
        cal, {"subject": "long ago", "start": at(-100), "end": at(-99)}
    )
    items, link, pages = delta_round(
        api,
        f"/me/calendars/{cal}/calendarView/delta()",
        size=2,
        params={"startDateTime": LO.isoformat(), "endDateTime": HI.isoformat()},
    )
    assert [len(p["value"]) for p in pages] == [2, 2, 1]
    assert "$deltatoken=" in link and "/calendarView/delta()" in link
    assert all("$skiptoken=" in p["@odata.nextLink"] for p in pages[:-1])
    assert {microsoft.state.get_event(i)["subject"] for i in ids} == {
        i["subject"] for i in items
    }
    event = items[0]
    assert event["@odata.type"] == "#microsoft.graph.event"
    assert event["type"] == "singleInstance" and event["showAs"] == "busy"
    assert event["start"]["timeZone"] == "UTC"
    assert len(event["start"]["dateTime"].split(".")[1]) == 7
    again = api.get(link).json()
    assert again["value"] == [] and "@odata.deltaLink" in again


def test_without_prefer_pages_hold_ten_and_skip_tokens_can_be_retried(
    microsoft: MicrosoftSandbox, cal: str, api: httpx.Client
) -> None:
    for n in range(12):
        microsoft.state.add_event(
            cal, {"subject": f"e{n}", "start": at(n + 1), "end": at(n + 2)}
        )
    first = api.get(
        f"/me/calendars/{cal}/calendarView/delta",
        params={"startDateTime": LO.isoformat(), "endDateTime": HI.isoformat()},
    ).json()
    assert len(first["value"]) == 10
    once = api.get(first["@odata.nextLink"]).json()
    twice = api.get(first["@odata.nextLink"]).json()
    assert [i["id"] for i in once["value"]] == [i["id"] for i in twice["value"]]
    assert len(once["value"]) == 2


def test_the_next_round_reports_changes_and_removals_even_outside_the_window(
    microsoft: MicrosoftSandbox, cal: str, api: httpx.Client
) -> None:
    keep = microsoft.state.add_event(
        cal, {"subject": "keep", "start": at(2), "end": at(3)}
    )
    moved = microsoft.state.add_event(
        cal, {"subject": "moved", "start": at(4), "end": at(5)}
    )
    gone = microsoft.state.add_event(
        cal, {"subject": "gone", "start": at(6), "end": at(7)}
    )
    items, link = first_round(api, cal)
    assert len(items) == 3
    microsoft.state.update_event(keep["id"], {"showAs": "free"})
    microsoft.state.move_event(
        moved["id"], at(24 * 90), at(24 * 90 + 1)
    )  # out of the window
    microsoft.state.delete_event(gone["id"])
    outside = microsoft.state.add_event(
        cal, {"subject": "far", "start": at(24 * 200), "end": at(24 * 200 + 1)}
    )
    items, _, _ = delta_round(api, link)
    changed = {i["id"]: i for i in items if "@removed" not in i}
    removed = {i["id"] for i in items if "@removed" in i}
    rest_ids = {
        e: api.get(f"/me/events/{microsoft.state.get_event(e)['id']}").json()["id"]
        for e in (keep["id"], moved["id"], outside["id"])
    }
    assert (
        set(changed) == {rest_ids[keep["id"]]}
        and changed[rest_ids[keep["id"]]]["showAs"] == "free"
    )
    assert rest_ids[moved["id"]] in removed and rest_ids[outside["id"]] in removed
    assert len(removed) == 3
    assert all(i["@removed"] == {"reason": "deleted"} for i in items if "@removed" in i)


def test_series_come_expanded_and_a_cancelled_occurrence_is_removed(
    microsoft: MicrosoftSandbox, cal: str, api: httpx.Client
) -> None:
    start = NOW + timedelta(days=1)
    series = microsoft.state.add_event(cal, weekly_series("Weekly", start, 3))
    microsoft.state.move_occurrence(
        series["id"],
        start + timedelta(days=7),
        start + timedelta(days=8),
        start + timedelta(days=8, hours=1),
    )
    items, link = first_round(api, cal, size=10)
    kinds = sorted(i["type"] for i in items)
    assert kinds == ["exception", "occurrence", "occurrence"]
    master_ids = {i["seriesMasterId"] for i in items}
    assert len(master_ids) == 1 and None not in master_ids
    assert {i["originalStart"][:10] for i in items} == {
        (start + timedelta(days=7 * n)).date().isoformat() for n in range(3)
    }
    microsoft.state.cancel_occurrence(series["id"], start + timedelta(days=14))
    items, _, _ = delta_round(api, link)
    assert [("@removed" in i) for i in items] == [True]
    cancelled = microsoft.state.occurrence_id(series["id"], start + timedelta(days=14))
    assert api.get(f"/me/events/{cancelled}").status_code == 404


def test_evicted_and_unknown_tokens_answer_410_sync_state_not_found(
    microsoft: MicrosoftSandbox, cal: str, api: httpx.Client
) -> None:
    _, link = first_round(api, cal)
    microsoft.state.evict_delta_tokens(cal)
    gone = api.get(link)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
    assert {"request-id", "date"} <= gone.json()["error"]["innerError"].keys()
    unknown = api.get(
        f"/me/calendars/{cal}/calendarView/delta", params={"$deltatoken": "nope"}
    )
    assert unknown.status_code == 410
    _, link = first_round(api, cal)
    microsoft.state.evict_delta_tokens(cal, with_location=True)
    reset = api.get(link)
    assert reset.status_code == 410 and reset.headers["Location"].endswith(
        "$deltatoken="
    )


def test_delta_refuses_a_missing_window_and_unsupported_query_options(
    cal: str, api: httpx.Client
) -> None:
    missing = api.get(f"/me/calendars/{cal}/calendarView/delta")
    assert (missing.status_code, missing.json()["error"]["code"]) == (
        400,
        "ErrorInvalidParameter",
    )
    selected = api.get(
        f"/me/calendars/{cal}/calendarView/delta",
        params={
            "startDateTime": LO.isoformat(),
            "endDateTime": HI.isoformat(),
            "$select": "subject",
        },
    )
    assert (
        selected.status_code == 400 and "$select" in selected.json()["error"]["message"]
    )


def test_replays_resend_known_items_and_one_entry_twice(
    microsoft: MicrosoftSandbox, cal: str, api: httpx.Client
) -> None:
    a = microsoft.state.add_event(cal, {"subject": "a", "start": at(1), "end": at(2)})
    microsoft.state.add_event(cal, {"subject": "b", "start": at(3), "end": at(4)})
    _, link = first_round(api, cal)
    microsoft.state.update_event(a["id"], {"subject": "a2"})
    microsoft.state.inject_replays(cal, 1)
    items, _, _ = delta_round(api, link, size=10)
    ids = [i["id"] for i in items]
    assert len(ids) == 3 and len(set(ids)) == 2


def test_transaction_id_creates_once_and_if_match_guards_writes(
    microsoft: MicrosoftSandbox, cal: str, api: httpx.Client
) -> None:
    body = {
        "subject": "Session",
        "start": {"dateTime": at(5).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": at(6).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "transactionId": "coachapp-appt-42",
        "singleValueExtendedProperties": [
            {"id": KEY_PROP, "value": "coachapp-appt-42"}
        ],
    }
    first = api.post(f"/me/calendars/{cal}/events", json=body)
    second = api.post(f"/me/calendars/{cal}/events", json=body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] == second.json()["id"]
    assert len(microsoft.state.events(cal)) == 1
    event = first.json()
    assert event["transactionId"] == "coachapp-appt-42"
    assert "singleValueExtendedProperties" not in event
    expanded = api.get(
        f"/me/events/{event['id']}",
        params={
            "$expand": f"singleValueExtendedProperties($filter=id eq '{KEY_PROP}')"
        },
    ).json()
    assert expanded["singleValueExtendedProperties"] == [
        {"id": KEY_PROP, "value": "coachapp-appt-42"}
    ]

    etag = event["@odata.etag"]
    assert etag == f'W/"{event["changeKey"]}"'
    patched = api.patch(
        f"/me/events/{event['id']}",
        json={"subject": "Moved"},
        headers={"If-Match": etag},
    )
    assert patched.status_code == 200 and patched.json()["@odata.etag"] != etag
    stale = api.patch(
        f"/me/events/{event['id']}",
        json={"subject": "Again"},
        headers={"If-Match": etag},
    )
    assert (stale.status_code, stale.json()["error"]["code"]) == (
        412,
        "ErrorIrresolvableConflict",
    )
    assert (
        api.delete(f"/me/events/{event['id']}", headers={"If-Match": etag}).status_code
        == 412
    )
    assert (
        api.delete(
            f"/me/events/{event['id']}",
            headers={"If-Match": patched.json()["@odata.etag"]},
        ).status_code
        == 204
    )
    missing = api.get(f"/me/events/{event['id']}")
    assert (missing.status_code, missing.json()["error"]["code"]) == (
        404,
        "ErrorItemNotFound",
    )
    changed_txn = api.post(
        f"/me/calendars/{cal}/events", json={**body, "transactionId": "other"}
    )
    assert (
        api.patch(
            f"/me/events/{changed_txn.json()['id']}", json={"transactionId": "x"}
        ).status_code
        == 400
    )


def test_time_zone_and_immutable_id_preferences(
    microsoft: MicrosoftSandbox, cal: str, account: str, api: httpx.Client
) -> None:
    created = api.post(
        f"/me/calendars/{cal}/events",
        json={
            "subject": "Pacific",
            "start": {
                "dateTime": "2030-03-01T09:00:00",
                "timeZone": "Pacific Standard Time",
            },
            "end": {
                "dateTime": "2030-03-01T10:00:00",
                "timeZone": "Pacific Standard Time",
            },
        },
    ).json()
    assert created["start"] == {
        "dateTime": "2030-03-01T17:00:00.0000000",
        "timeZone": "UTC",
    }
    assert created["originalStartTimeZone"] == "Pacific Standard Time"
    berlin = api.get(
        f"/me/events/{created['id']}",
        headers={"Prefer": 'outlook.timezone="Europe/Berlin"'},
    )
    assert berlin.json()["start"] == {
        "dateTime": "2030-03-01T18:00:00.0000000",
        "timeZone": "Europe/Berlin",
    }
    assert 'outlook.timezone="Europe/Berlin"' in berlin.headers["Preference-Applied"]
    all_day = microsoft.state.add_event(
        cal, {"subject": "Off", "start": date(2030, 3, 2), "end": date(2030, 3, 3)}
    )
    shown = api.get(
        f"/me/events/{all_day['id']}",
        headers={"Prefer": 'outlook.timezone="Tokyo Standard Time"'},
    ).json()
    assert (
        shown["isAllDay"]
        and shown["start"]["dateTime"] == "2030-03-02T00:00:00.0000000"
    )

    immutable = api.get(
        f"/me/events/{created['id']}", headers={"Prefer": 'IdType="ImmutableId"'}
    ).json()["id"]
    assert immutable != created["id"]
    assert api.get(f"/me/events/{immutable}").json()["id"] == created["id"]
    other = microsoft.state.add_calendar(account, "Other")
    microsoft.state.move_to_calendar(immutable, other)
    assert (
        api.get(f"/me/events/{created['id']}").status_code == 404
    )  # the REST id changed
    after = api.get(
        f"/me/events/{immutable}", headers={"Prefer": 'IdType="ImmutableId"'}
    ).json()
    assert after["id"] == immutable


def test_every_error_uses_the_odata_envelope(
    microsoft: MicrosoftSandbox, api: httpx.Client
) -> None:
    anonymous = httpx.get(microsoft.graph_base + "/me/calendars", trust_env=False)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "WWW-Authenticate" in anonymous.headers
    for response in (
        api.get("/me/nothing"),
        api.get("/v2/whatever"),
        api.post(
            "/me/events",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        ),
        api.put("/me"),
        api.get("/me/events/garbage"),
    ):
        assert response.status_code in (400, 404, 405), response.text
        assert set(response.json()["error"]) >= {"code", "message", "innerError"}


def test_throttling_and_injected_faults(
    microsoft: MicrosoftSandbox, api: httpx.Client
) -> None:
    microsoft.state.inject_fault("too_many_requests", retry_after=3)
    limited = api.get("/me")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert limited.json()["error"]["code"] == "ApplicationThrottled"
    microsoft.state.inject_fault("server_error", retry_after=5)
    busy = api.get("/me")
    assert (busy.status_code, busy.headers["Retry-After"]) == (503, "5")
    assert busy.json()["error"]["code"] == "serviceNotAvailable"
    microsoft.state.inject_fault("drop")
    with pytest.raises(httpx.HTTPError):
        api.get("/me")
    assert api.get("/me").status_code == 200


def test_requests_over_the_mailbox_limits_get_429(
    microsoft: MicrosoftSandbox, api: httpx.Client
) -> None:
    access = microsoft.state.authenticate(api.headers["Authorization"])
    held = [microsoft.state.admit(access) for _ in range(4)]  # four in flight
    try:
        crowded = api.get("/me")
    finally:
        for key in held:
            microsoft.state.release(key)
    assert (crowded.status_code, crowded.json()["error"]["code"]) == (
        429,
        "ApplicationThrottled",
    )
    assert "MailboxConcurrency" in crowded.json()["error"]["message"]
    assert int(crowded.headers["Retry-After"]) >= 1
    assert api.get("/me").status_code == 200

    microsoft.state.throttle_requests_per_10_minutes = 1
    try:
        over = api.get("/me")
    finally:
        microsoft.state.throttle_requests_per_10_minutes = 10_000
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 500
