"""Live updates: push fresh availability to every open page of a coach.

Chosen over `rx.SharedState` because each invitee sees the shared slot list
through their own time zone and chosen type: the expensive part — reading
the coach's busy time and computing the open slots — is done ONCE per
change (`services.offers`, one load per change per coach per process), then
each open page gets its own rendering through `app.modify_state`, which
sends only that page's delta. Pages in the same zone share one grouping.

Changes are coalesced per coach: while a refresh runs, further changes for the
same coach mark it dirty and cause exactly one more refresh afterwards.

Viewers are tracked per process: a page is refreshed by the process that
holds its websocket. With several workers or hosts (Redis configured), every
change is also published on Redis (`coach_app.fanout`), and each process
refreshes the pages it holds; without Redis nothing leaves the process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from reflex.istate.manager.token import BaseStateToken

from coach_app import changes, fanout
from coach_app.services import offers

log = logging.getLogger(__name__)

# kind -> (state class, apply(state, coach_id, offer)) registered by pages
_appliers: dict[str, tuple[type, Callable[..., Any]]] = {}
_viewers: dict[str, dict[int, set[str]]] = {}
_watching: dict[str, tuple[str, int]] = {}  # token -> what it shows now
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_app: Any = None
_running: dict[int, asyncio.Task] = {}
_dirty: set[int] = set()
# For tests and benchmarks: how often each coach's offer was read and
# computed in this process (one per change, however many pages are open).
recompute_count = offers.loads


def register_applier(kind: str, state_cls: type, apply: Callable[..., Any]) -> None:
    _appliers[kind] = (state_cls, apply)


def watch(kind: str, coach_id: int, token: str) -> None:
    """This browser (client token) shows `kind` for `coach_id` now."""
    if not token:
        return
    with _lock:
        previous = _watching.get(token)
        if previous is not None:
            _viewers[previous[0]][previous[1]].discard(token)
        _viewers.setdefault(kind, {}).setdefault(coach_id, set()).add(token)
        _watching[token] = (kind, coach_id)


def _viewer_tokens(kind: str, coach_id: int) -> list[str]:
    with _lock:
        return sorted(_viewers.get(kind, {}).get(coach_id, set()))


def _forget(kind: str, coach_id: int, token: str) -> None:
    with _lock:
        _viewers.get(kind, {}).get(coach_id, set()).discard(token)
        if _watching.get(token) == (kind, coach_id):
            del _watching[token]


def notify(coach_id: int) -> None:
    """Thread-safe: schedule a refresh of the coach's open pages."""
    loop = _loop
    if loop is None or loop.is_closed():
        return
    loop.call_soon_threadsafe(_schedule, coach_id)


def _schedule(coach_id: int) -> None:
    task = _running.get(coach_id)
    if task is not None and not task.done():
        _dirty.add(coach_id)
        return
    _running[coach_id] = asyncio.get_running_loop().create_task(_refresh_loop(coach_id))


async def _refresh_loop(coach_id: int) -> None:
    try:
        while True:
            _dirty.discard(coach_id)
            try:
                await refresh(coach_id)
            except Exception:
                log.exception("Live refresh for coach %s failed", coach_id)
            if coach_id not in _dirty:
                return
    finally:
        _running.pop(coach_id, None)


Offer = offers.Offer


def compute_offer(coach_id: int) -> Offer | None:
    """The coach's offer for every open booking page (read once per change)."""
    return offers.offer(coach_id)


def watched_coaches() -> set[int]:
    with _lock:
        return {c for by_coach in _viewers.values() for c, t in by_coach.items() if t}


def refresh_all() -> None:
    """Refresh every page this process holds (changes may have been missed)."""
    for coach_id in watched_coaches():
        notify(coach_id)


async def _is_connected(token: str) -> bool:
    namespace = getattr(_app, "event_namespace", None)
    if namespace is None:
        return False
    return await namespace._token_manager.is_token_connected(token)


async def refresh(coach_id: int) -> None:
    offer: Offer | None = None
    for kind, (state_cls, apply) in _appliers.items():
        tokens = _viewer_tokens(kind, coach_id)
        if not tokens:
            continue
        if kind == "book" and offer is None:
            offer = await asyncio.to_thread(compute_offer, coach_id)
            if offer is None:  # the coach is gone
                return

        async def push(
            token: str, state_cls=state_cls, apply=apply, kind=kind, offer=offer
        ) -> None:
            if not await _is_connected(token):
                _forget(kind, coach_id, token)
                return
            async with _app.modify_state(
                BaseStateToken(ident=token, cls=state_cls)
            ) as root:
                state = await root.get_state(state_cls)
                apply(state, coach_id, offer)

        results = await asyncio.gather(
            *(push(t) for t in tokens), return_exceptions=True
        )
        for token, result in zip(tokens, results, strict=True):
            if isinstance(result, Exception):
                log.warning("Live update to %s failed: %s", token, result)


async def live_updates(app: Any) -> None:
    """Lifespan task: remember the loop and the app; with Redis configured,
    relay changes to and from the other processes; else idle."""
    global _loop, _app
    _loop, _app = asyncio.get_running_loop(), app
    changes.on_coach_change(notify)
    try:
        await fanout.relay(on_resync=_resync)
    finally:
        changes.remove_listener(notify)
        _loop = None


def _resync() -> None:
    """The link to the other processes was down: what we hold may be stale."""
    offers.invalidate_all()
    refresh_all()
