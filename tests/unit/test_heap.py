"""After start-up, the heap is frozen out of collection and young
collections are spaced out (see ``coach_app.heap``)."""

from __future__ import annotations

import gc

from coach_app.heap import THRESHOLDS, settle


async def test_settle_freezes_the_start_up_heap_and_spaces_out_collections() -> None:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        await settle(delay=0)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
