"""A server that trickles its answer is cut at the whole-request deadline.

httpx's read timeout restarts with every byte, so a loopback server that
sends one byte every 50 ms would hold a request for hours; the deadline
(``calendars.deadline``) ends it, whatever the provider.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from coach_app.calendars.caldav.provider import CalDAVProvider
from coach_app.calendars.deadline import SLOW_MESSAGE, request_deadline
from coach_app.calendars.errors import Transient
from coach_app.calendars.google.provider import GoogleProvider

BODY_LENGTH = 100_000  # at 20 bytes/s: more than an hour


@dataclass
class Trickler:
    url: str
    sent: int = 0
    closed_by_client: bool = False


@pytest.fixture
async def trickler() -> AsyncIterator[Trickler]:
    state = Trickler(url="")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 207 Multi-Status\r\n"
            b"Content-Type: application/xml\r\n"
            b"Content-Length: %d\r\n\r\n" % BODY_LENGTH
        )
        try:
            for _ in range(BODY_LENGTH):
                writer.write(b" ")
                await writer.drain()
                state.sent += 1
                await asyncio.sleep(0.05)
        except (ConnectionError, asyncio.CancelledError):
            state.closed_by_client = True
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}/"
    async with server:
        yield state
        server.close()


async def _cut_after(call) -> float:
    started = time.monotonic()
    with pytest.raises(Transient) as failed:
        await call
    assert failed.value.user_message == SLOW_MESSAGE
    return time.monotonic() - started


async def test_a_trickling_caldav_server_is_cut_at_the_deadline(trickler) -> None:
    provider = CalDAVProvider(
        trickler.url,
        "coach",
        "secret",
        allow_hosts={"127.0.0.1"},
        timeout=2.0,  # per read: never reached, a byte comes every 50 ms
        request_deadline_s=1.0,
    )
    async with provider:
        elapsed = await _cut_after(provider.discover())
    assert 1.0 <= elapsed < 4.0
    assert 0 < trickler.sent < BODY_LENGTH


async def test_a_trickling_google_api_is_cut_at_the_deadline(trickler) -> None:
    provider = GoogleProvider(
        "access-token",
        api_base=trickler.url,
        timeout=2.0,
        request_deadline_s=1.0,
    )
    async with provider:
        elapsed = await _cut_after(provider.list_calendars())
    assert 1.0 <= elapsed < 4.0
    assert 0 < trickler.sent < BODY_LENGTH


def test_the_deadline_comes_from_the_environment() -> None:
    assert request_deadline({"COACH_APP_REQUEST_DEADLINE": "12.5"}) == 12.5
    assert request_deadline({}) == 60.0
    assert request_deadline({"COACH_APP_REQUEST_DEADLINE": "soon"}) == 60.0
    assert request_deadline({"COACH_APP_REQUEST_DEADLINE": "-1"}) == 60.0
