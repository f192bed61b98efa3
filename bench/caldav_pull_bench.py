"""CalDAV pull benchmark against a loopback Radicale.

Uploads a 10,000-event calendar (one PUT of a whole VCALENDAR on the
collection, which Radicale splits into items), then measures:

* our full pull (``CalDAVProvider.list_all``) against a bare python-caldav
  fetch of the same calendar (``Calendar.get_events()``: one calendar-query
  REPORT with the data), medians of a few alternating rounds after a warm-up;
* after one external change, our incremental pull: HTTP requests (counted by
  an httpx request hook) and milliseconds.

Targets: full pull within 1.5 times python-caldav; incremental ≤ 2 requests.
Exit status 1 if a target is missed.

    PYTHONPATH=. .venv/bin/python bench/caldav_pull_bench.py [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import caldav
import httpx

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "tests")]

from providers.servers import RunningServer, start_radicale  # noqa: E402

from coach_app.calendars.caldav import CalDAVProvider, davxml  # noqa: E402

LOOPBACK = frozenset({"127.0.0.1"})
# Radicale answers a cold 10k-item read only after reading every item; on a
# busy 2-core machine that can exceed the provider's default 30 s read timeout.
TIMEOUT = 300.0


def big_calendar(count: int) -> str:
    """``count`` events over a year; every tenth is a weekly series."""
    fmt = "%Y%m%dT%H%M%SZ"
    base = datetime(2025, 1, 6, 8, tzinfo=UTC)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Coach App//Bench//EN"]
    for i in range(count):
        start = base + timedelta(hours=(i * 7) % (365 * 24))
        lines += [
            "BEGIN:VEVENT",
            f"UID:bench-{i:05d}@coach.example",
            "DTSTAMP:20250101T000000Z",
            f"DTSTART:{start.strftime(fmt)}",
            f"DTEND:{(start + timedelta(minutes=45)).strftime(fmt)}",
            f"SUMMARY:Bench event {i}",
            f"DESCRIPTION:Notes for event {i}\\, with a bit of realistic text.",
            *(["RRULE:FREQ=WEEKLY;COUNT=10"] if i % 10 == 0 else []),
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def upload(server: RunningServer, url: str, count: int) -> float:
    started = time.perf_counter()
    response = httpx.put(
        url,
        content=big_calendar(count),
        auth=(server.username, server.password),
        headers={"Content-Type": "text/calendar; charset=utf-8"},
        timeout=600,
    )
    response.raise_for_status()
    return time.perf_counter() - started


async def our_full_pull(server: RunningServer, url: str, count: int) -> float:
    async with CalDAVProvider(
        server.base_url,
        server.username,
        server.password,
        allow_hosts=LOOPBACK,
        timeout=TIMEOUT,
    ) as provider:
        started = time.perf_counter()
        listing = await provider.list_all(url)
        elapsed = time.perf_counter() - started
    complete = all(event.raw and event.etag for event in listing.changed)
    require(len(listing.changed) == count and complete, f"ours: {len(listing.changed)}")
    return elapsed


def python_caldav_full_fetch(server: RunningServer, url: str, count: int) -> float:
    with caldav.DAVClient(
        url=url,
        username=server.username,
        password=server.password,
        timeout=int(TIMEOUT),
    ) as client:
        calendar = client.calendar(url=url)
        started = time.perf_counter()
        # get_events() is the 2.x+ name of events(); both run one calendar-query.
        fetch = getattr(calendar, "get_events", None) or calendar.events
        events = fetch()
        size = sum(len(event.data) for event in events)  # the data, really loaded
        elapsed = time.perf_counter() - started
    require(len(events) == count and size > 0, f"python-caldav: {len(events)}")
    return elapsed


ONE_CHANGE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Bench//EN\r\nBEGIN:VEVENT\r\n"
    "UID:one-change\r\nDTSTAMP:20250101T000000Z\r\n"
    "DTSTART:20250301T100000Z\r\nDTEND:20250301T110000Z\r\n"
    "SUMMARY:One change\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def put_event(server: RunningServer, url: str, ics: str) -> None:
    """Another client's change, made behind the provider's back."""
    httpx.put(
        url,
        content=ics,
        auth=(server.username, server.password),
        headers={"Content-Type": "text/calendar; charset=utf-8"},
    ).raise_for_status()


async def incremental_after_one_change(
    server: RunningServer, url: str
) -> tuple[int, float, float]:
    methods: list[str] = []

    async def count_request(request: httpx.Request) -> None:
        methods.append(request.method)

    async with CalDAVProvider(
        server.base_url,
        server.username,
        server.password,
        allow_hosts=LOOPBACK,
        timeout=TIMEOUT,
        on_request=count_request,
    ) as provider:
        cursor = (await provider.list_all(url)).cursor
        await asyncio.to_thread(put_event, server, url + "one-change.ics", ONE_CHANGE)
        methods.clear()
        started = time.perf_counter()
        delta = await provider.changes(url, cursor)
        elapsed = time.perf_counter() - started
    uids = [e.uid for e in delta.changed]
    require(uids == ["one-change"] and not delta.deleted, f"delta: {uids}")
    return len(methods), elapsed, raw_sync_seconds(server, url, cursor)


def raw_sync_seconds(server: RunningServer, url: str, cursor: str | None) -> float:
    """The same sync-collection REPORT sent bare: the server's share of the time."""
    body = davxml.sync_collection(cursor, "d:getetag", "c:calendar-data")
    started = time.perf_counter()
    response = httpx.request(
        "REPORT",
        url,
        content=body,
        auth=(server.username, server.password),
        headers={"Content-Type": "application/xml; charset=utf-8", "Depth": "0"},
    )
    elapsed = time.perf_counter() - started
    require(response.status_code == 207, f"bare REPORT: {response.status_code}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = start_radicale(Path(tmp))
        try:
            return run(server, args.events, args.rounds)
        finally:
            server.stop()


def run(server: RunningServer, count: int, rounds: int) -> int:
    url = server.home_url + "bench/"
    print(f"Radicale on {server.base_url}, calendar of {count} events")
    print(f"upload (one PUT of the collection): {upload(server, url, count):.1f} s")

    # Warm-up: Radicale builds its item cache on the first full read.
    asyncio.run(our_full_pull(server, url, count))
    python_caldav_full_fetch(server, url, count)

    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(asyncio.run(our_full_pull(server, url, count)))
        theirs.append(python_caldav_full_fetch(server, url, count))
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    ratio = ours_s / theirs_s
    print(f"full pull, ours (list_all):             {ours_s:.2f} s  {_runs(ours)}")
    print(f"full fetch, python-caldav get_events(): {theirs_s:.2f} s  {_runs(theirs)}")
    print(f"ratio ours / python-caldav: {ratio:.2f}  (target ≤ 1.50)")

    requests, seconds, raw = asyncio.run(incremental_after_one_change(server, url))
    print(
        f"incremental pull after one change: {requests} HTTP request(s),",
        f"{seconds * 1000:.0f} ms",
    )
    print(f"  the same REPORT sent bare with httpx: {raw * 1000:.0f} ms (server time)")
    print("  (target ≤ 2 requests)")

    ok = ratio <= 1.5 and requests <= 2
    print("RESULT:", "targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


def require(condition: bool, detail: str) -> None:
    """A sanity check that survives ``python -O``: wrong data makes timings void."""
    if not condition:
        raise SystemExit(f"benchmark data check failed: {detail}")


def _runs(values: list[float]) -> str:
    return "(runs: " + ", ".join(f"{v:.2f}" for v in values) + ")"


if __name__ == "__main__":
    sys.exit(main())
