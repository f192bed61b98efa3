"""Wake background loops at once, from any thread (no Reflex, no database).

Each running loop registers its own `asyncio.Event` together with the event
loop it runs on. A module-level `asyncio.Event` would be bound to whichever
event loop first waited on it, and `Event.set()` is not thread-safe;
registering per loop and setting through `call_soon_threadsafe` makes
`Waker.wake()` callable from anywhere: an event handler, a worker thread, or
SQLAlchemy's after-commit hook. With no loop registered it does nothing (a
loop looks for work as soon as it starts anyway).
"""

from __future__ import annotations

import asyncio
import threading


class Waker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def register(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters.add((loop, event))

    def unregister(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters.discard((loop, event))

    def wake(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
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
                self.unregister(loop, event)


async def wait_woken(
    kicked: asyncio.Event, stop: asyncio.Event | None, timeout: float
) -> None:
    """Until `kicked` or `stop` is set, or `timeout` seconds have passed."""
    waiters = [asyncio.ensure_future(kicked.wait())]
    if stop is not None:
        waiters.append(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(
            waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiter in waiters:
            waiter.cancel()
