"""Listeners told when a sync changed what a coach's pages show.

The engine also calls ``services.wakeups.coach_changed`` (which the live
pages already follow); these hooks are for sync-specific listeners (e.g. a
status badge or tests) that want to hear only about syncs.

Called (with the coach's id) after a sync stored, changed or removed pulled
events, or changed appointments (an external deletion cancelled one), so
open calendar and booking pages can refresh live. Listeners run on the
syncing task's event loop and must be quick and non-blocking; an exception
in one is logged and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

ChangeListener = Callable[[int], None]

_listeners: list[ChangeListener] = []


def on_change(listener: ChangeListener) -> None:
    """Call ``listener(coach_id)`` after each sync that changed something."""
    _listeners.append(listener)


def remove_listener(listener: ChangeListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def changed(coach_id: int) -> None:
    for listener in list(_listeners):
        try:
            listener(coach_id)
        except Exception:
            log.exception("sync change listener %r failed", listener)
