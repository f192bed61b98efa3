"""Microsoft Graph pull benchmark against the loopback Microsoft sandbox.

Seeds a 10,000-event calendar (over the next year; every tenth event a
weekly series of ten, so the calendar view holds 19,000 items), then
measures:

* our first full pull (``MicrosoftGraphProvider.list_all``: a calendarView
  delta round followed to its deltaLink, converted to RemoteEvents): time
  and HTTP requests, median of a few rounds, against a bare walk of the same
  delta pages with httpx (no conversion: the sandbox's share of the time);
* the requests (and time) of an incremental pull after one external change:
  an edit, a new event, and a deletion (a removal is looked up once, see the
  provider's docstring).

Target: one request for an incremental pull after one change (edit or new
event). Exit status 1 if it is missed.

    PYTHONPATH=. .venv/bin/python bench/microsoft_pull_bench.py [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from coach_app.calendars.microsoft import MicrosoftGraphProvider  # noqa: E402
from sandbox.microsoft import MicrosoftSandbox, start_microsoft_sandbox  # noqa: E402

PAGE_SIZE = 200


def seed(sandbox: MicrosoftSandbox, count: int) -> tuple[str, str, int]:
    """(token, calendar id, items in the view) for a fresh account."""
    email = sandbox.state.add_account("bench@contoso.example")
    cal = sandbox.state.mailboxes_default(email)
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(
        days=1
    )
    items = 0
    for i in range(count):
        start = base + timedelta(hours=(i * 7) % (360 * 24))
        event = {
            "subject": f"Bench event {i}",
            "body": {"contentType": "text", "content": f"Notes for event {i}."},
            "start": start,
            "end": start + timedelta(minutes=45),
        }
        if i % 10 == 0:
            event["recurrence"] = {
                "pattern": {
                    "type": "weekly",
                    "interval": 1,
                    "daysOfWeek": [start.strftime("%A").lower()],
                },
                "range": {
                    "type": "numbered",
                    "startDate": start.date().isoformat(),
                    "numberOfOccurrences": 10,
                },
            }
            items += 10
        else:
            items += 1
        sandbox.state.add_event(cal, event)
    # The throttle's 10,000 requests per 10 minutes would end a long bench.
    sandbox.state.throttle_requests_per_10_minutes = None
    return sandbox.state.issue_tokens(email).access_token, cal, items


def counter() -> tuple[list[str], Callable[[httpx.Request], object]]:
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.method)

    return seen, hook


async def full_pull(
    sandbox: MicrosoftSandbox, token: str, cal: str, items: int
) -> tuple[float, int]:
    seen, hook = counter()
    async with MicrosoftGraphProvider(
        token, graph_base=sandbox.graph_base, page_size=PAGE_SIZE, on_request=hook
    ) as provider:
        started = time.perf_counter()
        listing = await provider.list_all(cal)
        elapsed = time.perf_counter() - started
    require(len(listing.changed) == items, f"listed {len(listing.changed)} of {items}")
    return elapsed, len(seen)


def bare_walk(sandbox: MicrosoftSandbox, token: str, cal: str, items: int) -> float:
    """The same delta round with plain httpx: no retries, no conversion."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    headers = {
        "Authorization": f"Bearer {token}",
        "Prefer": f'IdType="ImmutableId", outlook.timezone="UTC", odata.maxpagesize={PAGE_SIZE}',
    }
    count = 0
    with httpx.Client(headers=headers, trust_env=False, timeout=120) as client:
        started = time.perf_counter()
        page = client.get(
            f"{sandbox.graph_base}/me/calendars/{cal}/calendarView/delta",
            params={
                "startDateTime": (now - timedelta(days=2)).isoformat(),
                "endDateTime": (now + timedelta(days=740)).isoformat(),
            },
        ).json()
        while True:
            count += len(page["value"])
            if "@odata.deltaLink" in page:
                break
            page = client.get(page["@odata.nextLink"]).json()
        elapsed = time.perf_counter() - started
    require(count == items, f"bare walk saw {count} of {items}")
    return elapsed


async def incremental(
    sandbox: MicrosoftSandbox, token: str, cal: str
) -> list[tuple[str, int, float]]:
    """Requests and seconds of one incremental pull after each kind of change."""
    seen, hook = counter()
    results = []
    async with MicrosoftGraphProvider(
        token, graph_base=sandbox.graph_base, page_size=PAGE_SIZE, on_request=hook
    ) as provider:
        cursor = (await provider.list_all(cal)).cursor
        some = sandbox.state.events(cal)[5]["id"]
        start = datetime.now(UTC) + timedelta(days=3)
        changes: list[tuple[str, Callable[[], object]]] = [
            (
                "an edit",
                lambda: sandbox.state.update_event(some, {"subject": "Edited"}),
            ),
            (
                "a new event",
                lambda: sandbox.state.add_event(
                    cal,
                    {
                        "subject": "New",
                        "start": start,
                        "end": start + timedelta(hours=1),
                    },
                ),
            ),
            ("a deletion", lambda: sandbox.state.delete_event(some)),
        ]
        for label, change in changes:
            change()
            seen.clear()
            started = time.perf_counter()
            delta = await provider.changes(cal, cursor)
            elapsed = time.perf_counter() - started
            require(len(delta.changed) + len(delta.deleted) == 1, f"{label}: {delta}")
            cursor = delta.cursor
            results.append((label, len(seen), elapsed))
    return results


def require(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"benchmark broken: {message}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sandbox = start_microsoft_sandbox()
    try:
        return run(sandbox, args.events, args.rounds)
    finally:
        sandbox.stop()


def run(sandbox: MicrosoftSandbox, count: int, rounds: int) -> int:
    started = time.perf_counter()
    token, cal, items = seed(sandbox, count)
    print(
        f"Microsoft sandbox on {sandbox.base_url}: {count} events, {items} items in view"
    )
    print(f"seeding: {time.perf_counter() - started:.1f} s")

    first, requests = asyncio.run(full_pull(sandbox, token, cal, items))
    print(
        f"first full pull: {first:.2f} s, {requests} requests ({PAGE_SIZE} items a page)"
    )
    ours, bare = [], []
    for _ in range(rounds):
        ours.append(asyncio.run(full_pull(sandbox, token, cal, items))[0])
        bare.append(bare_walk(sandbox, token, cal, items))
    ours_median, bare_median = statistics.median(ours), statistics.median(bare)
    print(
        f"full pull, median of {len(ours)}: ours {ours_median:.2f} s, bare httpx walk "
        f"{bare_median:.2f} s (ratio {ours_median / bare_median:.2f})"
    )

    ok = True
    for label, n, seconds in asyncio.run(incremental(sandbox, token, cal)):
        print(
            f"incremental pull after {label}: {n} request(s), {seconds * 1000:.0f} ms (1 sample)"
        )
        if label != "a deletion" and n != 1:
            ok = False
    print("target (1 request after one edit or new event):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
