"""Wake the running delivery loops at once (thread-safe, loop-safe; see
`coach_app.wake`)."""

from __future__ import annotations

from coach_app.wake import Waker

_waker = Waker()
register = _waker.register
unregister = _waker.unregister


def wake_delivery() -> None:
    """Make every running delivery loop look for due email now."""
    _waker.wake()


kick = wake_delivery
