"""Raw HTTP checks of the Calendar API sandbox against Google's documented
behaviour: sync-token rules, deleted entries, id rules, ETags, auth and
scope errors, faults, and push-channel expiry."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.google import CALENDAR_READONLY, GoogleSandbox, start_google_sandbox
from sandbox.google.state import FORBIDDEN_WITH_SYNC_TOKEN, Delivery


@pytest.fixture(scope="module")
def google() -> Iterator[GoogleSandbox]:
    sandbox = start_google_sandbox()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def email(google: GoogleSandbox) -> str:
    return google.state.add_user(f"coach-{uuid.uuid4().hex[:8]}@example.com")


@pytest.fixture
def api(google: GoogleSandbox, email: str) -> Iterator[httpx.Client]:
    token = google.state.issue_tokens(email).access_token
    with httpx.Client(
        base_url=google.api_base,
        headers={"Authorization": f"Bearer {token}"},
        trust_env=False,
        timeout=10,
    ) as client:
        yield client


@pytest.fixture
def cal(google: GoogleSandbox, email: str) -> str:
    return google.state.add_calendar(email, "Raw", time_zone="UTC")


def events_path(cal: str) -> str:
    return f"/calendars/{cal}/events"


def body(summary: str, day: int = 3, hour: int = 9, **extra: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        "start": {"dateTime": f"2025-03-{day:02d}T{hour:02d}:00:00Z"},
        "end": {"dateTime": f"2025-03-{day:02d}T{hour + 1:02d}:00:00Z"},
        **extra,
    }


def first_error(response: httpx.Response) -> dict[str, Any]:
    return response.json()["error"]["errors"][0]


@pytest.mark.parametrize("param", FORBIDDEN_WITH_SYNC_TOKEN)
def test_sync_token_cannot_be_combined_with_filters(
    api: httpx.Client, cal: str, param: str
) -> None:
    token = api.get(events_path(cal)).json()["nextSyncToken"]
    value = (
        "2025-01-01T00:00:00Z"
        if param in ("timeMin", "timeMax", "updatedMin")
        else "x=y"
    )
    if param == "orderBy":
        value = "updated"
    response = api.get(events_path(cal), params={"syncToken": token, param: value})
    assert response.status_code == 400
    assert first_error(response)["location"] == param


def test_invalidated_sync_token_is_410_with_the_documented_body(
    google: GoogleSandbox, api: httpx.Client, cal: str
) -> None:
    token = api.get(events_path(cal)).json()["nextSyncToken"]
    assert api.get(events_path(cal), params={"syncToken": token}).status_code == 200
    google.state.invalidate_sync_tokens(cal)
    response = api.get(events_path(cal), params={"syncToken": token})
    assert response.status_code == 410
    assert response.json() == {
        "error": {
            "errors": [
                {
                    "domain": "calendar",
                    "reason": "fullSyncRequired",
                    "message": "Sync token is no longer valid, a full sync is required.",
                    "locationType": "parameter",
                    "location": "syncToken",
                }
            ],
            "code": 410,
            "message": "Sync token is no longer valid, a full sync is required.",
        }
    }


def test_deleted_events_show_up_minimal_in_incremental_sync_and_with_show_deleted(
    api: httpx.Client, cal: str
) -> None:
    created = api.post(events_path(cal), json=body("Soon gone")).json()
    token = api.get(events_path(cal)).json()["nextSyncToken"]
    assert api.delete(f"{events_path(cal)}/{created['id']}").status_code == 204

    [deleted] = api.get(events_path(cal), params={"syncToken": token}).json()["items"]
    assert set(deleted) == {"kind", "etag", "id", "status"}
    assert (deleted["id"], deleted["status"]) == (created["id"], "cancelled")
    assert api.get(events_path(cal)).json()["items"] == []
    shown = api.get(events_path(cal), params={"showDeleted": "true"}).json()["items"]
    assert [e["id"] for e in shown] == [created["id"]]
    again = api.delete(f"{events_path(cal)}/{created['id']}")
    assert (again.status_code, first_error(again)["reason"]) == (410, "deleted")
    reuse = api.post(events_path(cal), json={"id": created["id"], **body("Reuse")})
    assert (reuse.status_code, first_error(reuse)["reason"]) == (409, "duplicate")


def test_cancelled_instances_follow_the_show_deleted_and_single_events_rules(
    api: httpx.Client, cal: str
) -> None:
    master = api.post(
        events_path(cal),
        json={
            **body("Daily"),
            "start": {"dateTime": "2025-03-03T09:00:00Z", "timeZone": "UTC"},
            "end": {"dateTime": "2025-03-03T10:00:00Z", "timeZone": "UTC"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
        },
    ).json()
    instance = f"{master['id']}_20250304T090000Z"
    assert (
        api.get(f"{events_path(cal)}/{instance}").json()["recurringEventId"]
        == master["id"]
    )
    assert api.delete(f"{events_path(cal)}/{instance}").status_code == 204

    raw = api.get(events_path(cal)).json()["items"]
    assert [(e["id"], e["status"]) for e in raw] == [
        (master["id"], "confirmed"),
        (instance, "cancelled"),  # listed although showDeleted is false
    ]
    assert raw[1]["originalStartTime"] == {
        "dateTime": "2025-03-04T09:00:00Z",
        "timeZone": "UTC",
    }
    single = api.get(events_path(cal), params={"singleEvents": "true"}).json()["items"]
    assert [e["start"]["dateTime"] for e in single] == [
        "2025-03-03T09:00:00Z",
        "2025-03-05T09:00:00Z",
    ]
    with_deleted = api.get(
        events_path(cal), params={"singleEvents": "true", "showDeleted": "true"}
    ).json()["items"]
    assert sorted(e["status"] for e in with_deleted) == [
        "cancelled",
        "confirmed",
        "confirmed",
    ]


def test_time_window_filters_singles_and_series(api: httpx.Client, cal: str) -> None:
    api.post(events_path(cal), json=body("March 3", 3))
    api.post(events_path(cal), json=body("March 10", 10))
    api.post(
        events_path(cal),
        json={
            "summary": "Series",
            "start": {"dateTime": "2025-02-01T08:00:00Z", "timeZone": "UTC"},
            "end": {"dateTime": "2025-02-01T08:30:00Z", "timeZone": "UTC"},
            "recurrence": ["RRULE:FREQ=WEEKLY;UNTIL=20250308T000000Z"],
        },
    )
    window = {"timeMin": "2025-03-05T00:00:00Z", "timeMax": "2025-03-12T00:00:00Z"}
    names = [
        e["summary"] for e in api.get(events_path(cal), params=window).json()["items"]
    ]
    assert names == ["March 10"]
    window["timeMin"] = "2025-03-01T00:00:00Z"
    names = [
        e["summary"] for e in api.get(events_path(cal), params=window).json()["items"]
    ]
    assert sorted(names) == ["March 10", "March 3", "Series"]


def test_event_id_rules_of_insert(api: httpx.Client, cal: str) -> None:
    for bad in ("abcd", "abcdw", "ABCDE", "abc_de", "a" * 1025):
        response = api.post(events_path(cal), json={"id": bad, **body("x")})
        assert response.status_code == 400, bad
    assert (
        api.post(events_path(cal), json={"id": "v0a9v", **body("ok")}).status_code
        == 200
    )
    assert (
        api.post(events_path(cal), json={"id": "0" * 1024, **body("long")}).status_code
        == 200
    )


def test_if_match_guards_updates_and_deletes(api: httpx.Client, cal: str) -> None:
    created = api.post(events_path(cal), json=body("Guarded"))
    etag = created.json()["etag"]
    assert created.headers["ETag"] == etag
    path = f"{events_path(cal)}/{created.json()['id']}"
    moved = api.patch(path, json={"summary": "Moved"}, headers={"If-Match": etag})
    assert moved.status_code == 200
    stale = api.put(path, json=body("Again"), headers={"If-Match": etag})
    assert (stale.status_code, first_error(stale)["reason"]) == (412, "conditionNotMet")
    assert api.delete(path, headers={"If-Match": etag}).status_code == 412
    assert (
        api.get(path, headers={"If-None-Match": moved.json()["etag"]}).status_code
        == 304
    )
    assert (
        api.delete(path, headers={"If-Match": moved.json()["etag"]}).status_code == 204
    )


def test_private_extended_property_filter(api: httpx.Client, cal: str) -> None:
    api.post(
        events_path(cal),
        json=body("Ours", extendedProperties={"private": {"coachAppKey": "k1"}}),
    )
    api.post(events_path(cal), json=body("Theirs"))
    found = api.get(
        events_path(cal), params={"privateExtendedProperty": "coachAppKey=k1"}
    )
    assert [e["summary"] for e in found.json()["items"]] == ["Ours"]


def test_bad_token_and_missing_scope_use_the_documented_bodies(
    google: GoogleSandbox, api: httpx.Client, email: str, cal: str
) -> None:
    bad = api.get("/users/me/calendarList", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json()["error"] == {
        "errors": [
            {
                "domain": "global",
                "reason": "authError",
                "message": "Invalid Credentials",
                "locationType": "header",
                "location": "Authorization",
            }
        ],
        "code": 401,
        "message": "Invalid Credentials",
    }
    reader = google.state.issue_tokens(email, scopes=[CALENDAR_READONLY]).access_token
    write = api.post(
        events_path(cal), json=body("x"), headers={"Authorization": f"Bearer {reader}"}
    )
    assert (write.status_code, first_error(write)["reason"]) == (
        403,
        "insufficientPermissions",
    )


def test_readers_cannot_write(
    google: GoogleSandbox, api: httpx.Client, email: str
) -> None:
    google.state.add_user("owner@example.com")
    shared = google.state.add_calendar("owner@example.com", "Shared")
    google.state.share_calendar(shared, email, "reader")
    response = api.post(events_path(shared), json=body("x"))
    assert (response.status_code, first_error(response)["reason"]) == (
        403,
        "requiredAccessLevel",
    )
    assert api.get(events_path("someone-elses@example.com")).status_code == 404


def test_faults_have_googles_shapes(
    google: GoogleSandbox, api: httpx.Client, cal: str
) -> None:
    google.state.inject_fault("too_many_requests", retry_after=3)
    limited = api.get(events_path(cal))
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert first_error(limited) == {
        "domain": "usageLimits",
        "reason": "rateLimitExceeded",
        "message": "Rate Limit Exceeded",
    }
    google.state.inject_fault("server_error", count=2)
    assert [api.get(events_path(cal)).status_code for _ in range(3)] == [503, 503, 200]
    google.state.inject_fault("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(events_path(cal))
    google.state.inject_fault("slow", delay=0.3)
    started = time.monotonic()
    assert api.get(events_path(cal)).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_a_channel_stops_notifying_after_its_expiration(
    google: GoogleSandbox, api: httpx.Client, cal: str
) -> None:
    expiration = int(time.time() * 1000) + 800
    channel = api.post(
        f"{events_path(cal)}/watch",
        json={
            "id": "short-lived",
            "type": "web_hook",
            "address": "http://127.0.0.1:9/hook",
            "expiration": str(expiration),
        },
    ).json()
    assert channel["expiration"] == str(expiration)
    duplicate = api.post(
        f"{events_path(cal)}/watch",
        json={
            "id": "short-lived",
            "type": "web_hook",
            "address": "http://127.0.0.1:9/x",
        },
    )
    assert duplicate.status_code == 400
    api.post(events_path(cal), json=body("during"))
    time.sleep(1.0)
    api.post(events_path(cal), json=body("after"))
    time.sleep(0.2)

    def mine() -> list[Delivery]:
        return [d for d in google.state.delivery_log() if d.channel_id == "short-lived"]

    deadline = time.monotonic() + 5
    while len(mine()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(d.resource_state, d.message_number) for d in mine()] == [
        ("sync", 1),
        ("exists", 2),
    ]
    assert all(d.status_code is None and d.error for d in mine())  # nobody listened
    assert google.state.active_channels(cal) == []
