"""One change signal: "something about this coach's availability changed".

Writers call ``announce(session, coach_id)`` inside their transaction; the
listeners hear ``coach_id`` once, right after that transaction commits, and
never for one that rolls back. Nobody has to remember to call anything after
the commit, and a page cannot announce a change that did not happen.

Listeners (the live-update layer re-renders the coach's open booking and
calendar pages; the sync loop wakes for push work; caches drop what they
hold) must be cheap and thread-safe: they only schedule work. A failing
listener is logged and does not stop the others.

``coach_changed`` tells the listeners at once, for code that has already
committed on its own (the sync engine after its short transactions).

No Reflex and no services here: every layer may announce.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from sqlalchemy.orm import Session

from coach_app.db import after_commit

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


def announce(session: Session, coach_id: int) -> None:
    """Tell the listeners about ``coach_id`` once ``session`` commits."""
    after_commit(session, (__name__, coach_id), partial(coach_changed, coach_id))
