"""Benchmark of the pure availability engine (coach_app.availability.open_slots).

The engine alone, with its input already in memory as `BusyInterval`s: what a
booking-page refresh costs on the server end to end (database, cache,
rendering) is `booking_path_bench.py`, which also prints this engine figure
on the same data for the ratio.

A. Realistic calendars (`bench/realistic.py`): a coach in Europe/London
   working Mon-Fri 08:00-18:00, a 60-minute type on a 30-minute grid with
   10-minute buffers, a 60-day horizon; n busy events with recurring series
   expanded, overlapping sub-calendars, ~80% inside working hours, free
   events and the coach's own appointments besides; open slots remain and
   are printed, with how many blocks the busy time merges into.
B. Uniform noise, for stress only (not a calendar): n intervals spread at
   random over the horizon, which merge into a few long ranges and leave
   almost nothing open. It shows the cost of sorting and merging n
   intervals, nothing about what an invitee sees.

Each timed call is a full computation: filter, sort and merge the busy
intervals, build the DST-aware windows, sweep the candidates. Percentiles
over --reps samples (at least 30) after a warm-up, the count printed.

Run: .venv/bin/python bench/availability_bench.py [--reps 50] [--sizes 1000 5000 20000]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from realistic import TYPES, TZ, make_calendar  # noqa: E402

from coach_app.availability import (  # noqa: E402
    AppointmentRules,
    BusyInterval,
    BusyKind,
    WorkingHours,
    merge_intervals,
    open_slots,
)

_, DURATION, STEP, BEFORE, AFTER, NOTICE, HORIZON = TYPES[0]
RULES = AppointmentRules(
    duration_minutes=DURATION,
    interval_minutes=STEP,
    buffer_before_minutes=BEFORE,
    buffer_after_minutes=AFTER,
    min_notice_minutes=NOTICE,
    horizon_days=HORIZON,
)
HOURS = WorkingHours(TZ, {d: [(wall(8), wall(18))] for d in range(5)})
TARGET_MS_AT_5000 = 10.0


def realistic_busy(n: int, now: datetime) -> list[BusyInterval]:
    cal = make_calendar(n, now)
    busy = [
        BusyInterval(e.start, e.end, BusyKind.EXTERNAL, busy=e.busy) for e in cal.events
    ]
    busy += [BusyInterval(s, e, BusyKind.APPOINTMENT) for s, e, _ in cal.appointments]
    random.Random(n).shuffle(busy)
    return busy


def uniform_busy(n: int, now: datetime, seed: int = 20260302) -> list[BusyInterval]:
    rng = random.Random(seed)
    span = (HORIZON + 1) * 24 * 60
    out = []
    for _ in range(n):
        start = now + timedelta(minutes=rng.randrange(span) - 24 * 60)
        length = timedelta(minutes=rng.choice([15, 30, 45, 60, 90, 120, 180]))
        out.append(BusyInterval(start, start + length, BusyKind.EXTERNAL))
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]  # nearest rank


def measure(busy, now, reps: int, warmup: int) -> tuple[list[float], int]:
    slots = []
    for _ in range(warmup):
        slots = open_slots(HOURS, RULES, busy, now=now)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        slots = open_slots(HOURS, RULES, busy, now=now)
        times.append((time.perf_counter() - t0) * 1000.0)
    return times, len(slots)


def table(label: str, make, sizes, reps, warmup, now) -> dict[int, float]:
    print(f"\n{label}")
    header = (
        f"{'n busy':>7} {'blocking':>8} {'blocks':>7} {'slots':>6} {'n':>4} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
    )
    print(header)
    print("-" * len(header))
    medians = {}
    for n in sizes:
        busy = make(n, now)
        blocking = [b for b in busy if b.blocks(True)]
        blocks = len(merge_intervals((b.start, b.end) for b in blocking)[0])
        times, slots = measure(busy, now, reps, warmup)
        medians[n] = statistics.median(times)
        print(
            f"{n:>7} {len(blocking):>8} {blocks:>7} {slots:>6} {len(times):>4} "
            f"{medians[n]:>8.2f} {pct(times, 0.95):>8.2f} {max(times):>8.2f}"
        )
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    if args.reps < 30:
        parser.error("at least 30 samples (percentiles need them)")
    now = datetime.now(UTC)
    load = os.getloadavg()
    print(
        f"availability engine benchmark - Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load[0]:.1f}"
    )
    print(
        f"coach {TZ} Mon-Fri 08:00-18:00, {DURATION}-min type on a {STEP}-min grid, "
        f"{BEFORE}/{AFTER}-min buffers, {HORIZON}-day horizon; "
        "blocks = what the blocking intervals merge into"
    )
    medians = table(
        "A. realistic calendars (bench/realistic.py)",
        realistic_busy,
        args.sizes,
        args.reps,
        args.warmup,
        now,
    )
    table(
        "B. uniform noise over the horizon (stress only: merges into a few ranges)",
        uniform_busy,
        args.sizes,
        args.reps,
        args.warmup,
        now,
    )
    if 5000 in medians:
        verdict = "OK" if medians[5000] <= TARGET_MS_AT_5000 else "MISSED"
        print(
            f"\ntarget: p50 <= {TARGET_MS_AT_5000:.0f} ms at 5,000 busy events (A): "
            f"{medians[5000]:.2f} ms -> {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
