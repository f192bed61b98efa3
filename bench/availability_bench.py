"""Benchmark of the pure availability engine (coach_app.availability.open_slots).

Scenario: a coach in Europe/London working Mon-Fri 09:00-17:00, a 30-minute
appointment type with 10-minute buffers before and after, a 60-day horizon
(crossing the 2026-03-29 clock change), and n busy intervals spread randomly
(seeded) over the horizon across 4 pulled sub-calendars (a mix of busy and free
events, all-day-ish long ones included) plus some of the app's own
appointments, in random order. Each timed call is a full computation: filter,
sort and merge the busy intervals, build the DST-aware windows and sweep the
candidates.

Run: .venv/bin/python bench/availability_bench.py [--reps 50] [--sizes 1000 5000 20000]
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as wall
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coach_app.availability import (  # noqa: E402
    AppointmentRules,
    BusyInterval,
    BusyKind,
    WorkingHours,
    open_slots,
)

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday morning
HOURS = WorkingHours(
    "Europe/London", {d: [(wall(9), wall(17))] for d in range(5)}
)  # Mon-Fri 9-17
RULES = AppointmentRules(
    duration_minutes=30,
    buffer_before_minutes=10,
    buffer_after_minutes=10,
    horizon_days=60,
)
SUB_CALENDARS = 4
TARGET_MS_AT_5000 = 10.0


def make_busy(n: int, seed: int, spread_days: int) -> list[BusyInterval]:
    """n intervals starting uniformly in [now - 1 day, now + spread_days): ~10%
    appointments, the rest external events on 4 sub-calendars, ~70% of those
    busy and ~30% free; 2% last a whole day, the rest 15 min to 3 h."""
    rng = random.Random(seed)
    span_minutes = (spread_days + 1) * 24 * 60
    out = []
    for i in range(n):
        start = NOW + timedelta(minutes=rng.randrange(span_minutes) - 24 * 60)
        if rng.random() < 0.02:
            length = timedelta(days=1)  # all-day event
        else:
            length = timedelta(minutes=rng.choice([15, 30, 45, 60, 90, 120, 180]))
        if rng.random() < 0.10:
            out.append(
                BusyInterval(start, start + length, BusyKind.APPOINTMENT, ref=f"a{i}")
            )
        else:
            cal = rng.randrange(SUB_CALENDARS)
            out.append(
                BusyInterval(
                    start,
                    start + length,
                    BusyKind.EXTERNAL,
                    busy=rng.random() < 0.7,
                    ref=f"cal{cal}:e{i}",
                )
            )
    return out


def run_once(busy: list[BusyInterval]) -> list[datetime]:
    return open_slots(HOURS, RULES, busy, now=NOW, check_conflicts=True)


def measure(
    busy: list[BusyInterval], reps: int, warmup: int
) -> tuple[list[float], int]:
    for _ in range(warmup):
        run_once(busy)
    times = []
    slots = 0
    for _ in range(reps):
        t0 = time.perf_counter()
        result = run_once(busy)
        times.append((time.perf_counter() - t0) * 1000.0)
        slots = len(result)
    return times, slots


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank


def table(sizes: list[int], reps: int, warmup: int, seed: int, spread: int) -> dict:
    header = (
        f"{'n busy':>7} {'blocking':>8} {'slots':>6} {'median ms':>10} {'p95 ms':>8} "
        f"{'x median':>9} {'x n log n':>10}"
    )
    print(header)
    print("-" * len(header))
    previous: tuple[int, float] | None = None
    medians: dict[int, float] = {}
    for n in sizes:
        busy = make_busy(n, seed, spread)
        blocking = sum(1 for b in busy if b.blocks(True))
        times, slots = measure(busy, reps, warmup)
        median = statistics.median(times)
        medians[n] = median
        if previous is None:
            growth, expected = "", ""
        else:
            pn, pm = previous
            growth = f"{median / pm:.2f}"
            expected = f"{(n * math.log(n)) / (pn * math.log(pn)):.2f}"
        print(
            f"{n:>7} {blocking:>8} {slots:>6} {median:>10.2f} {p95(times):>8.2f} "
            f"{growth:>9} {expected:>10}"
        )
        previous = (n, median)
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20260302)
    args = parser.parse_args()

    print(
        f"availability engine benchmark - Python {platform.python_version()}, "
        f"{platform.machine()}, {args.reps} reps after {args.warmup} warm-up"
    )
    print(
        "coach Europe/London Mon-Fri 09:00-17:00, 30-min type, 10/10-min buffers, "
        f"{RULES.horizon_days}-day horizon, {SUB_CALENDARS} sub-calendars + appointments"
    )
    empty_times, free_slots = measure([], args.reps, args.warmup)
    print(
        f"empty calendar: {free_slots} slots, "
        f"median {statistics.median(empty_times):.2f} ms (windows + sweep only)"
    )

    print()
    print(
        f"A. all n intervals within the {RULES.horizon_days}-day horizon (worst case)"
    )
    medians = table(args.sizes, args.reps, args.warmup, args.seed, RULES.horizon_days)
    print()
    print("B. the same n spread over 365 days (a year of pulled events; ~1/6 in range)")
    table(args.sizes, args.reps, args.warmup, args.seed, 365)
    print()
    print("blocking: busy external events + appointments (free events never block)")
    print(
        "x median: median / previous row's median; x n log n: the same ratio of n log n"
    )
    if 5000 in medians:
        verdict = "OK" if medians[5000] <= TARGET_MS_AT_5000 else "MISSED"
        print(
            f"target: median <= {TARGET_MS_AT_5000:.0f} ms at 5,000 intervals (A): "
            f"{medians[5000]:.2f} ms -> {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
