"""The server process's settings (see ``coach_app.process``): after
start-up the heap is frozen out of collection, young collections are spaced
out, and threads hand over the interpreter often."""

from __future__ import annotations

import gc
import sys

from coach_app.process import SWITCH_INTERVAL, THRESHOLDS, settle


async def test_settle_tunes_the_process_and_freezes_the_start_up_heap() -> None:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        await settle(delay=0)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == THRESHOLDS
        assert sys.getswitchinterval() == SWITCH_INTERVAL
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)
