"""Protocol paths neither Radicale nor Xandikos take (truncated sync, no
sync-collection, rate limits, outages), driven through httpx.MockTransport.
No socket is opened: the URLs below are never connected to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from coach_app.calendars import (
    AuthError,
    CursorInvalid,
    NotFound,
    OutgoingEvent,
    PreconditionFailed,
    ProviderError,
    RateLimited,
    Transient,
)
from coach_app.calendars.caldav import CalDAVProvider

pytestmark = pytest.mark.asyncio

CAL = "https://dav.example.com/cal/"
Handler = Callable[[httpx.Request], httpx.Response]


def provider_for(handler: Handler) -> CalDAVProvider:
    # A public-looking name that the guard must not resolve: allow-list it.
    return CalDAVProvider(
        "https://dav.example.com/",
        "u",
        "p",
        allow_hosts={"dav.example.com"},
        transport=httpx.MockTransport(handler),
    )


def event_ics(uid: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250102T100000Z\r\n"
        f"SUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def multistatus(*responses: str, token: str | None = None) -> httpx.Response:
    token_xml = f"<d:sync-token>{token}</d:sync-token>" if token else ""
    body = (
        '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" '
        'xmlns:c="urn:ietf:params:xml:ns:caldav">' + "".join(responses) + token_xml
    ) + "</d:multistatus>"
    return httpx.Response(207, content=body.encode())


def item(
    name: str, etag: str, data: str | None = None, data_missing: bool = False
) -> str:
    found = f"<d:getetag>{etag}</d:getetag>"
    if data is not None:
        found += f"<c:calendar-data>{data}</c:calendar-data>"
    missing = (
        "<d:propstat><d:prop><c:calendar-data/></d:prop>"
        "<d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>"
        if data_missing
        else ""
    )
    return (
        f"<d:response><d:href>/cal/{name}</d:href><d:propstat><d:prop>{found}</d:prop>"
        f"<d:status>HTTP/1.1 200 OK</d:status></d:propstat>{missing}</d:response>"
    )


def status_item(href: str, status: str) -> str:
    return (
        f"<d:response><d:href>{href}</d:href>"
        f"<d:status>HTTP/1.1 {status}</d:status></d:response>"
    )


TRUNCATION_MARKERS = [
    status_item("/cal/", "507 Insufficient Storage"),
    "<d:response><d:href>/cal/</d:href><d:error><d:number-of-matches-within-limits/>"
    "</d:error></d:response>",
]


@pytest.mark.parametrize("marker", TRUNCATION_MARKERS, ids=["507", "error-element"])
async def test_a_truncated_sync_is_followed_with_the_new_token_until_complete(
    marker: str,
) -> None:
    bodies: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content.decode())
        if "<d:sync-token>t1</d:sync-token>" in request.content.decode():
            return multistatus(
                item("b.ics", '"b1"', event_ics("b")),
                status_item("/cal/a.ics", "404 Not Found"),
                token="t2",
            )
        return multistatus(item("a.ics", '"a1"', event_ics("a")), marker, token="t1")

    async with provider_for(handler) as provider:
        result = await provider.changes(CAL, "t0")

    assert len(bodies) == 2
    assert "<d:sync-token>t0</d:sync-token>" in bodies[0]
    assert [e.uid for e in result.changed] == ["b"]
    assert result.deleted == ["/cal/a.ics"]
    assert result.cursor == "t2"


async def test_events_without_inline_data_are_fetched_by_multiget_and_learnt() -> None:
    methods: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        text = request.content.decode()
        methods.append("multiget" if "calendar-multiget" in text else "sync")
        if "calendar-multiget" in text:
            return multistatus(
                item("a.ics", '"a1"', event_ics("a")),
                status_item("/cal/gone.ics", "404 Not Found"),
            )
        assert ("calendar-data" in text) == (methods.count("sync") == 1)
        return multistatus(
            item("a.ics", '"a1"', data_missing=True),
            item("gone.ics", '"g1"', data_missing=True),
            token="t1",
        )

    async with provider_for(handler) as provider:
        first = await provider.changes(CAL, "t0")
        await provider.changes(CAL, "t0")

    assert methods == ["sync", "multiget", "sync", "multiget"]
    assert [(e.id, e.etag, e.uid) for e in first.changed] == [
        ("/cal/a.ics", '"a1"', "a")
    ]
    assert first.deleted == ["/cal/gone.ics"]  # vanished between the two requests


async def test_server_without_sync_collection_is_listed_by_propfind_and_multiget() -> (
    None
):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "REPORT" and b"sync-collection" in request.content:
            return httpx.Response(501)
        if request.method == "PROPFIND":
            return multistatus(item("", '"c"'), item("a.ics", '"a1"'))
        return multistatus(item("a.ics", '"a1"', event_ics("a")))

    async with provider_for(handler) as provider:
        listing = await provider.list_all(CAL)

    assert (listing.full, listing.cursor, [e.uid for e in listing.changed]) == (
        True,
        None,
        ["a"],
    )


@pytest.mark.parametrize("status", [400, 403, 409, 412])
async def test_valid_sync_token_error_raises_cursor_invalid_whatever_the_status(
    status: int,
) -> None:
    body = (
        b'<?xml version="1.0"?><d:error xmlns:d="DAV:"><d:valid-sync-token/></d:error>'
    )

    async with provider_for(lambda r: httpx.Response(status, content=body)) as provider:
        with pytest.raises(CursorInvalid):
            await provider.changes(CAL, "old")


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401), AuthError),
        (httpx.Response(403), AuthError),
        (httpx.Response(404), NotFound),
        (httpx.Response(412), PreconditionFailed),
        (httpx.Response(500), Transient),
        (httpx.Response(502), Transient),
        (httpx.Response(503), Transient),
        (httpx.Response(418), ProviderError),
    ],
)
async def test_http_statuses_map_onto_the_shared_errors(
    response: httpx.Response, error: type[ProviderError]
) -> None:
    async with provider_for(lambda r: response) as provider:
        with pytest.raises(error) as caught:
            await provider.changes(CAL, "t0")
    assert type(caught.value) is error


async def test_429_with_retry_after_seconds_raises_rate_limited_with_it() -> None:
    response = httpx.Response(429, headers={"Retry-After": "30"})
    async with provider_for(lambda r: response) as provider:
        with pytest.raises(RateLimited) as caught:
            await provider.list_all(CAL)
    assert caught.value.retry_after == 30.0


async def test_503_with_a_retry_after_date_raises_rate_limited() -> None:
    response = httpx.Response(
        503, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}
    )
    async with provider_for(lambda r: response) as provider:
        with pytest.raises(RateLimited) as caught:
            await provider.list_all(CAL)
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 1e9


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow"), httpx.ReadError("reset")],
)
async def test_timeouts_and_broken_connections_raise_transient(
    failure: Exception,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    async with provider_for(handler) as provider:
        with pytest.raises(Transient):
            await provider.get(CAL, "/cal/a.ics")


async def test_create_without_an_etag_in_the_reply_reads_it_with_propfind() -> None:
    methods: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        if request.method == "PUT":
            assert request.headers["If-None-Match"] == "*"
            return httpx.Response(201)
        return multistatus(item("appt-9.ics", '"server-rewrote"'))

    event = OutgoingEvent(
        key="appt-9",
        summary="S",
        start=datetime(2025, 1, 1, 9, tzinfo=UTC),
        end=datetime(2025, 1, 1, 10, tzinfo=UTC),
    )
    async with provider_for(handler) as provider:
        assert await provider.create(CAL, event, "appt-9") == (
            "/cal/appt-9.ics",
            '"server-rewrote"',
        )
    assert methods == ["PUT", "PROPFIND"]


async def test_uid_conflict_on_create_is_a_precondition_failure_not_auth() -> None:
    body = (
        b'<?xml version="1.0"?><d:error xmlns:d="DAV:" '
        b'xmlns:c="urn:ietf:params:xml:ns:caldav"><c:no-uid-conflict/></d:error>'
    )
    event = OutgoingEvent(
        key="appt-8",
        summary="S",
        start=datetime(2025, 1, 1, 9, tzinfo=UTC),
        end=datetime(2025, 1, 1, 10, tzinfo=UTC),
    )
    async with provider_for(lambda r: httpx.Response(403, content=body)) as provider:
        with pytest.raises(PreconditionFailed):
            await provider.create(CAL, event, "appt-8")


async def test_unsafe_keys_are_refused_before_any_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    event = OutgoingEvent(
        key="x",
        summary="S",
        start=datetime(2025, 1, 1, 9, tzinfo=UTC),
        end=datetime(2025, 1, 1, 10, tzinfo=UTC),
    )
    async with provider_for(handler) as provider:
        with pytest.raises(ValueError, match="unsafe event key"):
            await provider.create(CAL, event, "../../other/x")
