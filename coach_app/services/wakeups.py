"""'Something about this coach's availability changed' — a tiny pub/sub.

Services and the sync engine call `coach_changed(coach_id)` after they commit;
the live-update layer (`coach_app.live`) listens and re-renders every open
booking page and calendar page of that coach. Listeners must be cheap and
thread-safe: they only schedule work.
"""

from __future__ import annotations

from collections.abc import Callable

_listeners: list[Callable[[int], None]] = []


def on_coach_change(listener: Callable[[int], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def coach_changed(coach_id: int) -> None:
    for listener in list(_listeners):
        listener(coach_id)
