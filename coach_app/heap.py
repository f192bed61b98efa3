"""Short garbage-collection pauses for a long-running server process.

CPython's full collection walks every tracked object. After start-up most of
them (modules, the compiled app, its components and vars) live as long as
the process, yet each full collection walked them all again: with fifty
booking pages open, one pause of a few hundred milliseconds landed in the
middle of a live update. Once the app has started, ``settle`` collects what
start-up left behind and moves the survivors to the permanent generation
(``gc.freeze``), so later collections only walk what was made since, and
spaces young collections out (``THRESHOLDS``).
"""

from __future__ import annotations

import asyncio
import gc
import logging

log = logging.getLogger(__name__)

SETTLE_AFTER = 5.0  # seconds: the app has compiled and served its first requests
# Young collections every 20,000 allocations instead of 700: a live update's
# short-lived objects (an offer, fifty pages' deltas) then die young instead
# of being promoted, and full collections come rarely.
THRESHOLDS = (20_000, 20, 20)


async def settle(delay: float = SETTLE_AFTER) -> None:
    """Lifespan task: once start-up is over, freeze what it built."""
    await asyncio.sleep(delay)
    await asyncio.to_thread(gc.collect)
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    log.info(
        "%d start-up objects moved out of garbage collection", gc.get_freeze_count()
    )
