"""Wake the running delivery loops at once (thread-safe, loop-safe).

Each `delivery_loop` registers its own `asyncio.Event` with the event loop it
runs on. A module-level `asyncio.Event` would be bound to whichever event loop
first waited on it, and `Event.set()` is not thread-safe; registering per loop
and setting through `call_soon_threadsafe` makes `wake_delivery()` callable
from anywhere: an event handler, a worker thread, or SQLAlchemy's after-commit
hook. With no loop running it does nothing (a loop delivers as soon as it
starts anyway).
"""

from __future__ import annotations

import asyncio
import threading

_lock = threading.Lock()
_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()


def register(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    with _lock:
        _waiters.add((loop, event))


def unregister(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    with _lock:
        _waiters.discard((loop, event))


def wake_delivery() -> None:
    """Make every running delivery loop look for due email now."""
    with _lock:
        waiters = list(_waiters)
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    for loop, event in waiters:
        if loop is current:
            event.set()
            continue
        try:
            loop.call_soon_threadsafe(event.set)
        except RuntimeError:  # that loop has closed
            unregister(loop, event)


kick = wake_delivery
