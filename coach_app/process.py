"""Settings of the server process that keep requests quick while it works.

One process serves the pages and runs the sync; both are Python threads and
tasks sharing one interpreter lock, so two of CPython's defaults show up as
waiting time in front of the coach and the invitee:

- **Switch interval.** A thread that wants the interpreter back (a booking
  page's refresh returning from a database read) waits until the running
  thread gives it up, by default after 5 ms. A sync parsing 10,000 events
  holds it in 5 ms slices, so a refresh that needs it a few dozen times
  waited 40-60 ms instead of 9 (``bench/booking_path_bench.py``, "after a
  change" during a sync). At 0.5 ms the refresh stays near its quiet time;
  the sync's CPU work takes a little longer.
- **Garbage collection.** A full collection walks every tracked object, and
  after start-up most of them (modules, the compiled app, its components and
  vars) live as long as the process: with fifty booking pages open, single
  pauses of 280-360 ms landed in the middle of live updates
  (``bench/live_bench.py``). Once the app has started, what start-up built
  is moved to the permanent generation (``gc.freeze``), and young
  collections run every 20,000 allocations instead of 700, so a live
  update's short-lived objects die young instead of being promoted.

``tune`` applies the switch interval; ``settle`` (a lifespan task) applies
it too, then freezes the start-up heap once start-up is over. Benchmarks
that run server code in their own process call the same functions.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.0005  # seconds
SETTLE_AFTER = 5.0  # seconds: the app has compiled and served its first requests
THRESHOLDS = (20_000, 20, 20)


def tune() -> None:
    """Hand the interpreter between threads every 0.5 ms."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def settle_now() -> None:
    """Collect what start-up left behind, freeze the rest, space out collections."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    log.info(
        "%d start-up objects moved out of garbage collection", gc.get_freeze_count()
    )


async def settle(delay: float = SETTLE_AFTER) -> None:
    """Lifespan task: tune now; once start-up is over, freeze what it built."""
    tune()
    await asyncio.sleep(delay)
    await asyncio.to_thread(settle_now)  # the collection takes a moment
