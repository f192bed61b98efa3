"""Google's own published client (google-api-python-client, with its bundled
Calendar v3 discovery document) against the sandbox: if Google's client can
build requests for, and parse the answers of, the sandbox, the sandbox speaks
Google's shapes (paths, parameters, bodies, status codes, error bodies).

Test-only dependency (the `test` extra): google-api-python-client, which
brings google-auth, google-auth-httplib2 and httplib2.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import google.oauth2.credentials as credentials_module
import google_auth_httplib2
import httplib2
import pytest
from googleapiclient import discovery, errors

from sandbox.google import GoogleSandbox, start_google_sandbox


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
def service(google: GoogleSandbox, email: str) -> Any:
    issued = google.state.issue_tokens(email)
    creds = credentials_module.Credentials(token=issued.access_token)
    http = google_auth_httplib2.AuthorizedHttp(
        creds, http=httplib2.Http(timeout=10, proxy_info=None)
    )
    return discovery.build(
        "calendar",
        "v3",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": google.api_base + "/"},
    )


@pytest.fixture
def calendar_id(google: GoogleSandbox, email: str) -> str:
    return google.state.add_calendar(email, "Shapes", time_zone="Europe/Berlin")


def event(summary: str, day: int, hour: int, **extra: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        "start": {"dateTime": f"2025-03-{day:02d}T{hour:02d}:00:00+01:00"},
        "end": {"dateTime": f"2025-03-{day:02d}T{hour + 1:02d}:00:00+01:00"},
        **extra,
    }


def reason(error: Any) -> str:
    return json.loads(error.content)["error"]["errors"][0]["reason"]


def test_calendar_list_pages_with_the_client_paging_helper(
    google: GoogleSandbox, service: Any, email: str
) -> None:
    for n in range(3):
        google.state.add_calendar(email, f"Cal {n}")
    request = service.calendarList().list(maxResults=2)
    seen: list[dict[str, Any]] = []
    while request is not None:
        page = request.execute()
        seen.extend(page["items"])
        request = service.calendarList().list_next(request, page)
    assert seen[0]["id"] == email and seen[0]["primary"] is True
    assert [c["summary"] for c in seen[1:]] == ["Cal 0", "Cal 1", "Cal 2"]
    assert {c["accessRole"] for c in seen} == {"owner"}


def test_insert_list_with_sync_token_patch_delete(
    service: Any, calendar_id: str
) -> None:
    events = service.events()
    created = events.insert(
        calendarId=calendar_id,
        body={"id": "coachapp0001", **event("First", 3, 10)},
        sendUpdates="none",
    ).execute()
    assert (created["id"], created["status"], created["kind"]) == (
        "coachapp0001",
        "confirmed",
        "calendar#event",
    )
    assert created["etag"].startswith('"') and created["etag"].endswith('"')
    assert created["start"] == {"dateTime": "2025-03-03T10:00:00+01:00"}
    events.insert(calendarId=calendar_id, body=event("Second", 4, 10)).execute()

    first = events.list(calendarId=calendar_id, maxResults=1).execute()
    assert "nextSyncToken" not in first and first["nextPageToken"]
    last = events.list_next(
        events.list(calendarId=calendar_id, maxResults=1), first
    ).execute()
    assert "nextPageToken" not in last and last["nextSyncToken"]
    token = last["nextSyncToken"]

    patched = events.patch(
        calendarId=calendar_id, eventId="coachapp0001", body={"summary": "Renamed"}
    ).execute()
    assert patched["summary"] == "Renamed" and patched["etag"] != created["etag"]
    events.delete(calendarId=calendar_id, eventId="coachapp0001").execute()

    delta = events.list(calendarId=calendar_id, syncToken=token).execute()
    assert [(e["id"], e["status"]) for e in delta["items"]] == [
        ("coachapp0001", "cancelled")
    ]
    assert delta["nextSyncToken"]
    gone = events.get(calendarId=calendar_id, eventId="coachapp0001").execute()
    assert gone["status"] == "cancelled"  # get still returns deleted events


def test_documented_errors_reach_the_client_as_http_errors(
    google: GoogleSandbox, service: Any, calendar_id: str
) -> None:
    events = service.events()
    events.insert(
        calendarId=calendar_id, body={"id": "dup00", **event("A", 5, 9)}
    ).execute()
    with pytest.raises(errors.HttpError) as dup:
        events.insert(
            calendarId=calendar_id, body={"id": "dup00", **event("B", 5, 9)}
        ).execute()
    assert (dup.value.resp.status, reason(dup.value)) == (409, "duplicate")

    with pytest.raises(errors.HttpError) as bad_id:
        events.insert(
            calendarId=calendar_id, body={"id": "UPPER_case", **event("C", 5, 9)}
        ).execute()
    assert bad_id.value.resp.status == 400

    stale = events.patch(calendarId=calendar_id, eventId="dup00", body={"summary": "x"})
    stale.headers["If-Match"] = '"1"'
    with pytest.raises(errors.HttpError) as precondition:
        stale.execute()
    assert (precondition.value.resp.status, reason(precondition.value)) == (
        412,
        "conditionNotMet",
    )

    with pytest.raises(errors.HttpError) as gone:
        events.list(calendarId=calendar_id, syncToken="not-a-token").execute()
    assert (gone.value.resp.status, reason(gone.value)) == (410, "fullSyncRequired")
    assert (
        gone.value.reason == "Sync token is no longer valid, a full sync is required."
    )

    with pytest.raises(errors.HttpError) as combined:
        events.list(
            calendarId=calendar_id, syncToken="x", timeMin="2025-01-01T00:00:00Z"
        ).execute()
    assert combined.value.resp.status == 400

    google.state.inject_fault("rate_limit", reason="userRateLimitExceeded")
    with pytest.raises(errors.HttpError) as limited:
        events.list(calendarId=calendar_id).execute()
    assert (limited.value.resp.status, reason(limited.value)) == (
        403,
        "userRateLimitExceeded",
    )


def test_single_events_expands_series_with_instance_fields(
    google: GoogleSandbox, service: Any, calendar_id: str
) -> None:
    master = (
        service.events()
        .insert(
            calendarId=calendar_id,
            body={
                "summary": "Weekly",
                "start": {
                    "dateTime": "2025-03-03T09:00:00",
                    "timeZone": "Europe/Berlin",
                },
                "end": {"dateTime": "2025-03-03T10:00:00", "timeZone": "Europe/Berlin"},
                "recurrence": [
                    "RRULE:FREQ=WEEKLY;COUNT=4",
                    "EXDATE;TZID=Europe/Berlin:20250310T090000",
                ],
            },
        )
        .execute()
    )
    items = (
        service.events()
        .list(calendarId=calendar_id, singleEvents=True, orderBy="startTime")
        .execute()["items"]
    )
    assert [i["start"]["dateTime"] for i in items] == [
        "2025-03-03T09:00:00+01:00",
        "2025-03-17T09:00:00+01:00",
        "2025-03-24T09:00:00+01:00",
    ]
    assert all(i["recurringEventId"] == master["id"] for i in items)
    assert items[1]["id"] == master["id"] + "_20250317T080000Z"
    assert items[1]["originalStartTime"] == {
        "dateTime": "2025-03-17T09:00:00+01:00",
        "timeZone": "Europe/Berlin",
    }
    # Moving one instance through the API stores an exception.
    service.events().patch(
        calendarId=calendar_id,
        eventId=items[1]["id"],
        body={
            "start": {"dateTime": "2025-03-18T15:00:00+01:00"},
            "end": {"dateTime": "2025-03-18T16:00:00+01:00"},
        },
    ).execute()
    raw = service.events().list(calendarId=calendar_id).execute()["items"]
    assert [(i["id"], i.get("recurringEventId")) for i in raw] == [
        (master["id"], None),
        (items[1]["id"], master["id"]),
    ]


def test_free_busy_ignores_transparent_and_cancelled_events(
    service: Any, calendar_id: str, email: str
) -> None:
    events = service.events()
    events.insert(calendarId=calendar_id, body=event("Busy", 6, 9)).execute()
    events.insert(
        calendarId=calendar_id, body=event("Free", 6, 11, transparency="transparent")
    ).execute()
    cancelled = events.insert(
        calendarId=calendar_id, body=event("Cancelled", 6, 13)
    ).execute()
    events.delete(calendarId=calendar_id, eventId=cancelled["id"]).execute()
    events.insert(calendarId=calendar_id, body=event("Adjacent", 6, 10)).execute()

    answer = (
        service.freebusy()
        .query(
            body={
                "timeMin": "2025-03-06T00:00:00Z",
                "timeMax": "2025-03-07T00:00:00Z",
                "items": [{"id": calendar_id}, {"id": "missing@example.com"}],
            }
        )
        .execute()
    )
    assert answer["kind"] == "calendar#freeBusy"
    assert answer["calendars"][calendar_id] == {
        "busy": [{"start": "2025-03-06T08:00:00Z", "end": "2025-03-06T10:00:00Z"}]
    }
    assert answer["calendars"]["missing@example.com"]["errors"] == [
        {"domain": "global", "reason": "notFound"}
    ]


def test_watch_and_channels_stop(
    google: GoogleSandbox, service: Any, calendar_id: str
) -> None:
    channel = (
        service.events()
        .watch(
            calendarId=calendar_id,
            body={
                "id": str(uuid.uuid4()),
                "type": "web_hook",
                "address": "http://127.0.0.1:9/hook",  # nobody listens: delivery fails
                "token": "t",
            },
        )
        .execute()
    )
    assert channel["kind"] == "api#channel"
    assert channel["resourceUri"].endswith("/events?alt=json")
    assert int(channel["expiration"]) > 0
    assert len(google.state.active_channels(calendar_id)) == 1
    service.channels().stop(
        body={"id": channel["id"], "resourceId": channel["resourceId"]}
    ).execute()
    assert google.state.active_channels(calendar_id) == []
    with pytest.raises(errors.HttpError) as again:
        service.channels().stop(
            body={"id": channel["id"], "resourceId": channel["resourceId"]}
        ).execute()
    assert again.value.resp.status == 404


def test_without_a_token_the_api_answers_401_with_googles_body(
    google: GoogleSandbox,
) -> None:
    http = httplib2.Http(timeout=10, proxy_info=None)
    service = discovery.build(
        "calendar",
        "v3",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": google.api_base + "/"},
    )
    with pytest.raises(errors.HttpError) as caught:
        service.calendarList().list().execute()
    assert caught.value.resp.status == 401
    body = json.loads(caught.value.content)
    assert body["error"]["code"] == 401
    assert body["error"]["errors"][0]["location"] == "Authorization"
