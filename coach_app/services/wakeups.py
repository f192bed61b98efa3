"""'Something about this coach's availability changed' — a tiny pub/sub.

Services, pages and the sync engine call `coach_changed(coach_id)` after they
commit; the live-update layer (`coach_app.live`) re-renders every open
booking and calendar page of that coach, and the sync loop wakes for push
work. Listeners must be cheap and thread-safe: they only schedule work. A
failing listener is logged and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

_listeners: list[Callable[[int], None]] = []


def on_coach_change(listener: Callable[[int], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def remove_listener(listener: Callable[[int], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def coach_changed(coach_id: int) -> None:
    for listener in list(_listeners):
        try:
            listener(coach_id)
        except Exception:
            log.exception("coach-change listener %r failed", listener)
