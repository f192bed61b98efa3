"""Exchange (EWS) pull benchmark against the loopback EWS sandbox.

Fills one mailbox calendar with 10,000 items (every tenth a weekly series
of ten, the rest single appointments over a year), then measures:

* the first full pull (``ExchangeProvider.list_all``: SyncFolderItems pages
  plus the CalendarView that expands the series): seconds and EWS requests
  by operation, against a bare exchangelib ``sync_items`` of the same
  folder (the SyncFolderItems part alone) measured in the same run;
* after one change in Outlook, the incremental pull (``changes``): EWS
  requests and milliseconds — for a single item, and for a series (one
  GetItem for the series' span, then a CalendarView of that span).

Figures are medians over ``--rounds`` rounds; every line names its sample
count. Exit status 1 if a pull returns the wrong result.

    PYTHONPATH=. .venv/bin/python bench/ews_pull_bench.py [--items N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchangelib import (
    BASIC,
    DELEGATE,
    Account,
    Build,
    Configuration,
    Credentials,
    Version,
)  # noqa: E402
from exchangelib.protocol import FailFast  # noqa: E402

from coach_app.calendars.exchange import ExchangeProvider  # noqa: E402
from sandbox.ews import EwsSandbox, Mailbox, Recurrence, start_ews_sandbox  # noqa: E402

EMAIL = "bench@example.com"
PASSWORD = "bench-password"
LOOPBACK = frozenset({"127.0.0.1"})
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def fill(mailbox: Mailbox, count: int) -> tuple[str, str]:
    """``count`` items; returns the id of one single and of one series."""
    base = datetime(2030, 1, 7, 8, tzinfo=UTC)
    single = series = ""
    for i in range(count):
        start = base + timedelta(hours=(i * 7) % (365 * 24))
        end = start + timedelta(minutes=45)
        if i % 10 == 0:
            first = start.date()
            item = mailbox.add_item(
                "calendar",
                f"Series {i}",
                start,
                end,
                recurrence=Recurrence(
                    "WeeklyRecurrence",
                    days_of_week=(first.strftime("%A"),),
                    start=first,
                    count=10,
                ),
            )
            series = series or item.id
        else:
            item = mailbox.add_item("calendar", f"Bench event {i}", start, end)
            single = single or item.id
    return single, series


def provider(sandbox: EwsSandbox) -> ExchangeProvider:
    return ExchangeProvider(
        EMAIL,
        PASSWORD,
        sandbox.ews_url,
        allow_hosts=LOOPBACK,
        clock=lambda: NOW,
        timeout=300,
    )


def operations(sandbox: EwsSandbox) -> Counter[str]:
    return Counter(sandbox.state.operations())


async def full_pull(
    sandbox: EwsSandbox, calendar: str, count: int
) -> tuple[float, Counter[str], str]:
    async with provider(sandbox) as p:
        sandbox.state.clear_log()
        started = time.perf_counter()
        listing = await p.list_all(calendar)
        elapsed = time.perf_counter() - started
    require(len(listing.changed) == count, f"full pull: {len(listing.changed)} events")
    return elapsed, operations(sandbox), listing.cursor or ""


def bare_sync(sandbox: EwsSandbox, count: int) -> float:
    config = Configuration(
        service_endpoint=sandbox.ews_url,
        credentials=Credentials(EMAIL, PASSWORD),
        auth_type=BASIC,
        version=Version(build=Build(15, 1, 2507, 6), api_version="Exchange2016"),
        retry_policy=FailFast(),
    )
    account = Account(EMAIL, config=config, autodiscover=False, access_type=DELEGATE)
    folder = account.calendar
    started = time.perf_counter()
    changes = list(
        folder.sync_items(
            only_fields=["subject", "start", "end"], max_changes_returned=512
        )
    )
    elapsed = time.perf_counter() - started
    require(len(changes) == count, f"bare sync: {len(changes)}")
    return elapsed


async def incremental(
    sandbox: EwsSandbox,
    mailbox: Mailbox,
    calendar: str,
    cursor: str,
    item_id: str,
    series: bool,
) -> tuple[float, Counter[str], str]:
    if series:
        master = mailbox.find_item(item_id)
        assert master is not None
        occurrence = master.occurrences()[1]
        mailbox.move_occurrence(
            item_id,
            occurrence.original_start,
            occurrence.start + timedelta(hours=2),
            occurrence.end + timedelta(hours=2),
        )
    else:
        item = mailbox.find_item(item_id)
        assert item is not None
        mailbox.move_item(
            item_id, item.start + timedelta(hours=1), item.end + timedelta(hours=1)
        )
    async with provider(sandbox) as p:
        sandbox.state.clear_log()
        started = time.perf_counter()
        delta = await p.changes(calendar, cursor)
        elapsed = time.perf_counter() - started
    require(
        [e.id for e in delta.changed] == [item_id],
        f"incremental: {[e.id for e in delta.changed]}",
    )
    return elapsed, operations(sandbox), delta.cursor or cursor


def require(ok: bool, message: str) -> None:
    if not ok:
        print(f"FAILED: {message}")
        raise SystemExit(1)


def describe(requests: Counter[str]) -> str:
    return f"{sum(requests.values())} requests ({', '.join(f'{n} {op}' for op, n in sorted(requests.items()))})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sandbox = start_ews_sandbox()
    try:
        return run(sandbox, args.items, args.rounds)
    finally:
        sandbox.stop()


def run(sandbox: EwsSandbox, count: int, rounds: int) -> int:
    mailbox = sandbox.state.add_user(EMAIL, PASSWORD, "Bench Coach")
    single, series = fill(mailbox, count)
    calendar = mailbox.calendar.id
    print(
        f"EWS sandbox on {sandbox.base_url}, calendar of {count} items ({count // 10} weekly series of 10)"
    )

    ours, bare = [], []
    full_requests: Counter[str] = Counter()
    cursor = ""
    for _ in range(rounds):
        elapsed, full_requests, cursor = asyncio.run(
            full_pull(sandbox, calendar, count)
        )
        ours.append(elapsed)
        bare.append(bare_sync(sandbox, count))
    print(
        f"first full pull: median {statistics.median(ours):.2f} s (samples: {len(ours)}), "
        f"{describe(full_requests)}"
    )
    print(
        f"bare exchangelib sync_items of the same folder: median {statistics.median(bare):.2f} s "
        f"(samples: {len(bare)}); ratio ours/bare {statistics.median(ours) / statistics.median(bare):.2f} "
        "(ours also expands every series with CalendarView)"
    )

    for label, item_id, is_series in (
        ("a single item", single, False),
        ("one occurrence of a series", series, True),
    ):
        times: list[float] = []
        requests: Counter[str] = Counter()
        for _ in range(rounds):
            elapsed, requests, cursor = asyncio.run(
                incremental(sandbox, mailbox, calendar, cursor, item_id, is_series)
            )
            times.append(elapsed)
        print(
            f"incremental pull after {label} moved: {describe(requests)}, "
            f"median {statistics.median(times) * 1000:.0f} ms (samples: {len(times)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
