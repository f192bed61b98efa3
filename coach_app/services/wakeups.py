"""Nudges for background loops after a change (email delivery, calendar push)."""

from __future__ import annotations

from collections.abc import Callable

_listeners: list[Callable[[], None]] = []


def on_booking_change(listener: Callable[[], None]) -> None:
    _listeners.append(listener)


def after_booking_change() -> None:
    for listener in list(_listeners):
        listener()
