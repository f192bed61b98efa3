"""Server time of one booking-page refresh, end to end, on SQLite and PostgreSQL.

What is timed is what a refresh of `/book/<slug>` does on the server:
find the coach by the link, read the coach, hours, types, appointments and
pulled busy events from the database, compute the open slots of the chosen
type, and render them in the invitee's zone (America/New_York) as the
booker does: type cards, the month grid and the first open day's time
buttons (`pages.book_state` models). Data:
`bench/realistic.py` (recurring series expanded, overlapping sub-calendars,
~80% in working hours, open slots left) at 1,000 / 5,000 / 20,000 busy
events, all inside the window the page reads.

Per database and size, each over --samples (>= 30) timed refreshes after a
warm-up, with the garbage collector on:

- **after a change**: the coach's cached offer is invalidated first, as
  every change does, so the refresh reads the database (the first refresh
  after a booking, a switch or a sync);
- **steady**: the offer is in memory (every refresh between two changes);
- **engine alone**: `open_slots` on the same busy events and appointments,
  already in memory as `BusyInterval`s (sort, merge, windows, sweep);
- **ORM path** (default on; --no-orm-baseline): the query and object
  building the page used before (`services.availability.slots`), for scale.

On PostgreSQL the tables are vacuumed and analysed after seeding, as
autovacuum does on a running database.

The whole-path slots are checked equal to the engine's. Then, on SQLite,
**refreshes during a sync**: a sync pulls 10,000 new events into a
calendar (the real pull: listing, parsing, one write transaction) while
booking-page refreshes run in --readers other threads (2), steady ones and,
separately, ones after a change (each reads the database): every refresh
during the sync and those overlapping its write transaction are reported
(count, p50, p99, max), beside the same refreshes with no sync running. With --lock-baseline the same is
done with readers that take the write lock (BEGIN IMMEDIATE), as all did
before.

Run: .venv/bin/python bench/booking_path_bench.py [--samples 50]
     [--sizes 1000 5000 20000] [--no-postgres] [--lock-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from realistic import (  # noqa: E402
    Calendar,
    make_calendar,
    seed_database,
)

INVITEE_ZONE = "America/New_York"
PG_ADMIN = os.environ.get(
    "COACH_APP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TARGETS = {5000: 5.0, 20000: 20.0}  # ms, p50 of a refresh on SQLite
RATIO_TARGET = 3.0  # whole path / engine alone at 5,000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def fmt(values: list[float]) -> str:
    return (
        f"n={len(values):<3} p50 {statistics.median(values):7.2f}  "
        f"p95 {pct(values, 0.95):7.2f}  p99 {pct(values, 0.99):7.2f}  "
        f"max {max(values):7.2f} ms"
    )


def render(offer, type_id: int, now: dt.datetime):
    """What the booker's state builds for the browser on a refresh
    (`BookState._show_offer`/`_render`): the type cards, the month grid of
    the first open day and that day's time buttons, in the invitee's zone."""
    from zoneinfo import ZoneInfo

    from coach_app.pages.book_state import SlotOption, TypeCard, _month_view
    from coach_app.views.clock import clock
    from coach_app.views.month import first_of_month

    descriptions = offer.descriptions
    types = [
        TypeCard(id=i, name=n, duration=d, description=descriptions.get(i, ""))
        for i, n, d in offer.type_options
    ]
    grouped = offer.day_map(type_id, INVITEE_ZONE, now)
    today = now.astimezone(ZoneInfo(INVITEE_ZONE)).date()
    day = next(iter(grouped), today)
    weeks = _month_view(grouped, first_of_month(day).isoformat(), today)
    slots = [
        SlotOption(iso=s.astimezone(dt.UTC).isoformat(), label=clock(s, False))
        for s in grouped.get(day, [])
    ]
    return types, weeks, slots


def refresh(slug: str, type_id: int, url: str, now: dt.datetime):
    from coach_app.services import offers

    offer = offers.offer_for_slug(slug, now, url)
    render(offer, type_id, now)
    return offer


def engine_inputs(cal: Calendar):
    from coach_app.availability import BusyInterval, BusyKind

    busy = [
        BusyInterval(e.start, e.end, BusyKind.EXTERNAL, busy=e.busy) for e in cal.events
    ]
    busy += [BusyInterval(s, e, BusyKind.APPOINTMENT) for s, e, _ in cal.appointments]
    return busy


def timed(fn, samples: int, warmup: int = 3) -> tuple[list[float], object]:
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def measure_size(url: str, n: int, samples: int, orm: bool, now: dt.datetime) -> dict:
    from coach_app.availability import open_slots
    from coach_app.db import session_scope
    from coach_app.models import AppointmentType, Coach
    from coach_app.services import availability, offers

    cal = make_calendar(n, now)
    seeded = seed_database(
        url, cal, f"bench-{n}-{uuid.uuid4().hex[:6]}@example.com", "Bench"
    )
    type_id = seeded.type_ids[0]
    coach_id = seeded.coach_id
    if not url.startswith("sqlite"):
        # What autovacuum does on a running database after a bulk load:
        # statistics for the planner, the visibility map for index-only scans.
        import sqlalchemy as sa

        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        engine.dispose()

    def after_change():
        offers.invalidate(coach_id)
        return refresh(seeded.slug, type_id, url, now)

    cold, offer = timed(after_change, samples)
    steady, _ = timed(lambda: refresh(seeded.slug, type_id, url, now), samples)
    offer = offers.offer(coach_id, now, url)
    whole_slots = {t: offer.slots(t, now) for t in seeded.type_ids}

    hours, types = offer.hours, {t.id: t.rules for t in offer.types}
    busy = engine_inputs(cal)
    same_type = [s for s, _, t in cal.appointments if t == 0]

    def engine():
        return open_slots(
            hours, types[type_id], busy, now=now, same_type_starts=same_type
        )

    engine_times, engine_slots = timed(engine, samples)
    assert engine_slots == whole_slots[type_id], "whole path and engine disagree"
    out = {
        "n": n,
        "busy": len(cal.busy),
        "free": len(cal.events) - len(cal.busy),
        "appointments": len(cal.appointments),
        "blocks": len(offer.starts),
        "slots": {t: len(v) for t, v in whole_slots.items()},
        "cold": cold,
        "steady": steady,
        "engine": engine_times,
    }
    if orm:
        with session_scope(url) as s:
            coach = s.get(Coach, coach_id)
            row = s.get(AppointmentType, type_id)
            s.expunge_all()

        def orm_path():
            with session_scope(url) as s:
                found = availability.slots(s, coach, row, now)
            from coach_app.availability import group_by_local_date

            group_by_local_date(found, INVITEE_ZONE)
            return found

        out["orm"], orm_slots = timed(orm_path, samples, warmup=1)
        assert orm_slots == whole_slots[type_id], "ORM path and offer disagree"
    return out


def report(label: str, results: list[dict]) -> None:
    print(f"\n== {label}")
    for r in results:
        slots = ", ".join(str(v) for v in r["slots"].values())
        print(
            f"{r['n']:>6} busy events (+{r['free']} free, {r['appointments']} "
            f"appointments) -> {r['blocks']} merged blocks, open slots per type: {slots}"
        )
        print(f"   refresh after a change  {fmt(r['cold'])}")
        print(f"   refresh, steady         {fmt(r['steady'])}")
        print(f"   engine alone            {fmt(r['engine'])}")
        if "orm" in r:
            print(f"   ORM path (before)       {fmt(r['orm'])}")
        engine = statistics.median(r["engine"])
        print(
            "   whole path / engine (p50): after a change "
            f"{statistics.median(r['cold']) / engine:.2f}x, steady "
            f"{statistics.median(r['steady']) / engine:.2f}x"
        )


def verdicts(results: list[dict]) -> None:
    print("\ntargets (SQLite):")
    for r in results:
        target = TARGETS.get(r["n"])
        if target is None:
            continue
        for kind in ("cold", "steady"):
            p50 = statistics.median(r[kind])
            name = "after a change" if kind == "cold" else "steady"
            verdict = "OK" if p50 <= target else "MISSED"
            print(
                f"  {r['n']:>6}: refresh {name} p50 {p50:.2f} ms <= {target:.0f} ms -> {verdict}"
            )
        if r["n"] == 5000:
            ratio = statistics.median(r["cold"]) / statistics.median(r["engine"])
            verdict = "OK" if ratio <= RATIO_TARGET else "MISSED"
            print(
                f"  {r['n']:>6}: whole path after a change / engine alone "
                f"{ratio:.2f}x <= {RATIO_TARGET:.0f}x -> {verdict}"
            )


# --- refreshes while a sync writes -------------------------------------------

READERS = (
    "steady (offer in memory)",
    "after a change (reads the database)",
    "write lock, ORM path (before)",
)


class _BigCalendar:
    """A provider whose calendar lists `count` one-hour events."""

    def __init__(self, count: int, now: dt.datetime) -> None:
        from coach_app.calendars.base import RemoteEvent

        fmt = "%Y%m%dT%H%M%SZ"
        events = []
        for i in range(count):
            start = (now + dt.timedelta(days=1 + i % 55, hours=i % 12)).replace(
                minute=0, second=0, microsecond=0
            )
            raw = (
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Bench//EN\r\n"
                f"BEGIN:VEVENT\r\nUID:big-{i}\r\nDTSTAMP:20260101T000000Z\r\n"
                f"DTSTART:{start:{fmt}}\r\n"
                f"DTEND:{start + dt.timedelta(hours=1):{fmt}}\r\n"
                f"SUMMARY:Imported {i}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            )
            events.append(RemoteEvent(f"/big/{i}.ics", f'"{i}"', f"big-{i}", raw))
        self.events = events

    async def list_all(self, remote_id: str):
        from coach_app.calendars.base import ChangeSet

        return ChangeSet(changed=self.events, cursor="bench-1", full=True)

    async def changes(self, remote_id: str, cursor: str):  # pragma: no cover
        return await self.list_all(remote_id)


def refreshes_during_sync(
    url: str, seeded, count: int, reader: str, now: dt.datetime, reader_threads: int
) -> dict:
    from sqlmodel import select

    from coach_app.db import session_scope
    from coach_app.models import AppointmentType, SubCalendar
    from coach_app.services import availability, booking, offers
    from coach_app.sync import pull, snapshot

    with session_scope(url) as s:
        work = s.exec(select(SubCalendar).where(SubCalendar.name == "Work")).first()
        big = SubCalendar(
            connection_id=work.connection_id, remote_id="/big/", name="Big", pull=True
        )
        s.add(big)
        s.flush()
        snap = snapshot.load(s, work.connection_id)
    sub = next(x for x in snap.subs if x.remote_id == "/big/")
    provider = _BigCalendar(count, now)
    window: dict[str, float] = {}
    done = threading.Event()
    real_apply = pull.apply_changes

    def apply_timed(*args, **kwargs):
        window["start"] = time.perf_counter()
        try:
            return real_apply(*args, **kwargs)
        finally:
            window["end"] = time.perf_counter()

    def sync() -> None:
        try:
            outcome = asyncio.run(pull.pull_calendar(url, snap, sub, provider, now))
            window["outcome"] = outcome
        finally:
            done.set()

    def one_refresh() -> None:
        if reader == READERS[0]:  # the offer in memory, as during any write
            refresh(seeded.slug, seeded.type_ids[0], url, now)
        elif reader == READERS[1]:  # read from the database every time
            offers.invalidate(seeded.coach_id)
            refresh(seeded.slug, seeded.type_ids[0], url, now)
        else:  # as before: the ORM path in a BEGIN IMMEDIATE transaction
            with session_scope(url) as s:
                coach = booking.coach_by_slug(s, seeded.slug)
                row = s.get(AppointmentType, seeded.type_ids[0])
                availability.slots(s, coach, row, now)

    samples: list[tuple[float, float]] = []

    def read_loop() -> None:
        while not done.is_set():
            started = time.perf_counter()
            one_refresh()
            samples.append((started, time.perf_counter()))
            time.sleep(0.002)

    for _ in range(5):  # imports, pools and caches warm, as in a running app
        one_refresh()
    pull.apply_changes = apply_timed
    thread = threading.Thread(target=sync)
    # Several pages at once, as the server handles them: one thread each.
    threads = [threading.Thread(target=read_loop) for _ in range(reader_threads)]
    try:
        sync_started = time.perf_counter()
        thread.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        thread.join()
        sync_ended = time.perf_counter()
    finally:
        pull.apply_changes = real_apply
    outcome = window.get("outcome")
    assert outcome is not None and outcome.events_changed and not outcome.stale
    during_sync = [(end - start) * 1000 for start, end in samples]
    in_write = [
        (end - start) * 1000
        for start, end in samples
        if end > window["start"] and start < window["end"]
    ]
    return {
        "sync_ms": (sync_ended - sync_started) * 1000,
        "write_ms": (window["end"] - window["start"]) * 1000,
        "during": during_sync,
        "in_write": in_write,
    }


# --- databases -----------------------------------------------------------------


def postgres_url() -> tuple[str, object] | None:
    import sqlalchemy as sa

    name = f"coach_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        print(f"\n(PostgreSQL not reachable, skipped: {exc.__class__.__name__})")
        admin.dispose()
        return None
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", (admin, name)


def drop_postgres(handle) -> None:
    admin, name = handle
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-orm-baseline", action="store_true")
    parser.add_argument("--sync-events", type=int, default=10_000)
    parser.add_argument("--lock-baseline", action="store_true")
    parser.add_argument(
        "--only-sync", action="store_true", help="only the refreshes during a sync"
    )
    parser.add_argument(
        "--readers", type=int, default=2, help="refresh threads during the sync"
    )
    args = parser.parse_args()
    if args.samples < 30:
        parser.error("at least 30 samples (percentiles need them)")

    tmp = Path(tempfile.mkdtemp(prefix="coach-path-bench-"))
    os.environ["COACH_APP_KEY_FILE"] = str(tmp / "key")
    from coach_app.db import dispose_all
    from coach_app.migrations import upgrade

    now = dt.datetime.now(dt.UTC)
    load = os.getloadavg()
    print(
        f"booking-page refresh, whole path - Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print(
        f"invitee zone {INVITEE_ZONE}; type 'Coaching session' (60 min, 30-min grid, "
        "10/10-min buffers, 60 days); times in ms"
    )
    sqlite = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(sqlite)
    # The server process's own settings (coach_app.process), as its lifespan
    # applies them once start-up is over.
    from coach_app import process

    process.tune()
    process.settle_now()
    print(
        f"server process settings: switch interval {process.SWITCH_INTERVAL * 1000:g} ms, "
        "start-up heap frozen"
    )
    if args.only_sync:
        args.sizes, args.no_postgres = [], True
    sqlite_results = [
        measure_size(sqlite, n, args.samples, not args.no_orm_baseline, now)
        for n in args.sizes
    ]
    if sqlite_results:
        report("SQLite (WAL, file on disk)", sqlite_results)

    if not args.no_postgres:
        found = postgres_url()
        if found is not None:
            pg, handle = found
            try:
                upgrade(pg)
                results = [
                    measure_size(pg, n, args.samples, not args.no_orm_baseline, now)
                    for n in args.sizes
                ]
                report("PostgreSQL (127.0.0.1)", results)
            finally:
                dispose_all()
                drop_postgres(handle)

    verdicts(sqlite_results)

    print(
        f"\n== SQLite: booking-page refreshes ({args.readers} threads) while a "
        f"sync writes {args.sync_events:,} events"
    )
    readers = list(READERS[:2]) + ([READERS[2]] if args.lock_baseline else [])
    for i, reader in enumerate(readers):
        url = f"sqlite:///{tmp / f'sync-{i}.db'}"
        upgrade(url)
        cal = make_calendar(5000, now)
        seeded = seed_database(url, cal, f"sync-{i}@example.com", "Sync")
        result = refreshes_during_sync(
            url, seeded, args.sync_events, reader, now, args.readers
        )
        during, in_write = result["during"], result["in_write"]
        print(
            f"  {reader}: sync {result['sync_ms']:.0f} ms (listing, parsing, "
            f"write), of which the write transaction {result['write_ms']:.0f} ms"
        )
        if during:
            print(f"    refreshes during the sync   {fmt(during)}")
        if in_write:
            print(f"    ... overlapping the write   {fmt(in_write)}")
        if i < 2:
            # The same refreshes with no sync running, now: what this machine
            # gives without the writer (its load shows in both).
            from coach_app.services import offers

            def control(seeded=seeded, url=url, i=i):
                if i == 1:
                    offers.invalidate(seeded.coach_id)
                refresh(seeded.slug, seeded.type_ids[0], url, now)

            quiet, _ = timed(control, max(30, len(during)))
            print(f"    control, no sync            {fmt(quiet)}")
            ok = len(in_write) >= 50 and max(in_write) <= 100
            print(
                "    target: >= 50 refreshes while the sync writes, none over "
                "100 ms -> " + ("OK" if ok else "MISSED")
            )
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    dispose_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
