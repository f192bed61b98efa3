"""Live fan-out across hosts: 100 open booking pages split over two processes.

Starts two hosts with the production start (`make serve`, one worker each,
on 127.0.0.1 and 127.0.0.2, own ports) on one PostgreSQL database and one
Redis, seeds a coach with a realistic calendar (`bench/realistic.py`, 5,000
busy events by default), and opens --pages booking pages, half on each host.
The pages are clients speaking the app's websocket protocol
(`tests/e2e/reflex_ws.py`): a hundred Chromium tabs do not fit this
machine, and the server keeps the same state for either.

Each change is the coach's Check Calendar for Conflicts flipped and
committed by this process, which then announces it exactly as a worker does
(`changes.coach_changed`, relayed by `coach_app.fanout` over Redis): both
hosts drop the cached offer, read it from the database once, compute the
slots once, and push every page they hold. Timed from just before the
announcement to the moment each page's update arrives (one clock: same
machine, same process): per page, and until the last of the pages has it.
At least 30 changes; after each, every page must show a changed slot list
(the count of pages that did not is printed, and should be 0).

Run: .venv/bin/python bench/scaleout_bench.py [--pages 100] [--changes 30]
     [--events 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def fmt(values: list[float]) -> str:
    return (
        f"n={len(values):<5} p50 {statistics.median(values):7.1f}  "
        f"p95 {pct(values, 0.95):7.1f}  p99 {pct(values, 0.99):7.1f}  "
        f"max {max(values):7.1f} ms"
    )


async def run(cluster, seeded, pages_count: int, rounds: int) -> None:
    from e2e.reflex_ws import BookingPage
    from sqlmodel import select

    from coach_app import changes, fanout
    from coach_app.db import session_scope
    from coach_app.models import CalendarConnection

    hosts = cluster.hosts
    pages = [
        BookingPage(hosts[i % len(hosts)].url, seeded.slug) for i in range(pages_count)
    ]
    for start in range(0, len(pages), 20):  # do not storm the hosts
        await asyncio.gather(*(p.open(timeout=120) for p in pages[start : start + 20]))
    relay = asyncio.create_task(fanout.relay())
    for _ in range(500):
        if fanout.connected:
            break
        await asyncio.sleep(0.01)
    assert fanout.connected, "this process could not subscribe on Redis"

    def flip() -> bool:
        with session_scope(cluster.db_url) as s:
            row = s.exec(
                select(CalendarConnection).where(
                    CalendarConnection.coach_id == seeded.coach_id
                )
            ).one()
            row.check_conflicts = not row.check_conflicts
            s.add(row)
            return row.check_conflicts

    per_page: list[float] = []
    all_pages: list[float] = []
    by_host: dict[str, list[float]] = {h.url: [] for h in hosts}
    unchanged = 0
    try:
        for i in range(rounds):
            before = [len(p.updates) for p in pages]
            shown = [p.slot_isos for p in pages]
            await asyncio.to_thread(flip)
            started = time.time()
            changes.coach_changed(seeded.coach_id)  # as a worker does after commit
            for page, count in zip(pages, before, strict=True):
                await page.wait_for(
                    lambda s, page=page, count=count: len(page.updates) > count,
                    timeout=60,
                )
            unchanged += sum(
                p.slot_isos == old for p, old in zip(pages, shown, strict=True)
            )
            latencies = [
                (p.updates[c][0] - started) * 1000
                for p, c in zip(pages, before, strict=True)
            ]
            per_page.extend(latencies)
            for page, latency in zip(pages, latencies, strict=True):
                by_host[page.base_url].append(latency)
            all_pages.append(max(latencies))
            print(
                f"  change {i + 1:>2}: last page after {max(latencies):6.1f} ms, "
                f"median page {statistics.median(latencies):6.1f} ms",
                flush=True,
            )
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        await asyncio.gather(*(p.close() for p in pages), return_exceptions=True)
    print(f"\nfan-out to {len(pages)} pages over {len(hosts)} hosts, {rounds} changes:")
    print(f"  every page's update        {fmt(per_page)}")
    for url, values in by_host.items():
        print(f"    pages on {url:<24} {fmt(values)}")
    print(f"  until the last page has it {fmt(all_pages)}")
    print(f"  pages whose slot list did not change with a change: {unchanged}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    if args.changes < 30:
        parser.error("at least 30 changes (percentiles need them)")

    from e2e.hosts import start_cluster
    from realistic import make_calendar, seed_database

    from coach_app.security import secrets

    tmp = Path(tempfile.mkdtemp(prefix="coach-scaleout-bench-"))
    load = os.getloadavg()
    print(
        f"scale-out fan-out benchmark - {os.cpu_count()} CPUs, load average "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; starting two hosts..."
    )
    cluster = start_cluster(
        tmp,
        [("127.0.0.1", 1), ("127.0.0.2", 1)],
        {"COACH_APP_SYNC_INTERVAL": "3600"},
    )
    try:
        for name in (
            "REFLEX_REDIS_URL",
            "COACH_APP_REDIS_PREFIX",
            "COACH_APP_SECRET_KEYS",
        ):
            os.environ[name] = cluster.env[name]
        secrets.reset_keys()
        now = dt.datetime.now(dt.UTC)
        seeded = seed_database(
            cluster.db_url,
            make_calendar(args.events, now),
            f"fan-{uuid.uuid4().hex[:6]}@example.com",
            "Fan Out",
        )
        print(
            f"hosts: {', '.join(h.url for h in cluster.hosts)}; coach with "
            f"{args.events} busy events; {args.pages} pages"
        )
        asyncio.run(run(cluster, seeded, args.pages, args.changes))
    finally:
        cluster.stop()
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
