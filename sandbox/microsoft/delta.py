"""``calendarView/delta`` rounds (event-delta, delta-query-events,
delta-query-overview).

* The first request names the window (``startDateTime``/``endDateTime``,
  required); later ones carry only a ``$skiptoken`` (more pages follow) or a
  ``$deltatoken`` (the next round). Tokens are opaque and hold the window.
* A round is computed when it starts and served in pages of
  ``Prefer: odata.maxpagesize`` (read on every request; 10 without it, at
  most 1000). A page has ``@odata.nextLink`` or, on the last page,
  ``@odata.deltaLink`` — never both; a page may be empty.
* A round after a delta token sends the items whose version changed since,
  and ``{"id", "@removed": {"reason": "deleted"}}`` for items that left the
  view (deleted, cancelled occurrence, moved out of the window or to another
  calendar) and for events changed *outside* the window, which the client
  may never have had (documented behaviour). Occurrences and exceptions
  of series come expanded, as in ``calendarView``.
* Replays: ``inject_replays`` makes the next round resend known items and
  one entry twice.
* Tokens live in a per-calendar cache of ``max_tokens`` delta tokens and
  ``max_rounds`` rounds' skip tokens (oldest evicted, as Outlook's cache
  does); an evicted, unknown or foreign token answers 410
  ``SyncStateNotFound`` (``evict`` may choose another status/code and a
  ``Location`` header). Skip tokens can be re-requested (a retried page
  gets the same page).
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.microsoft import errors
from sandbox.microsoft.events import StoredEvent, View, occurrence_id, removed
from sandbox.microsoft.store import Calendar, Store, event_items, occurrence_version
from sandbox.microsoft.timezones import parse_offset_datetime

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000


@dataclass
class DeltaState:
    """What a client knows of one calendar view after a round:
    ``known`` maps event key → {item key: version}."""

    token: str
    email: str
    calendar_id: str
    lo: datetime
    hi: datetime
    seq: int
    known: dict[str, dict[str, str]]


@dataclass(frozen=True)
class Entry:
    removed: bool
    event_key: str
    original: datetime | None


@dataclass
class Round:
    email: str
    calendar_id: str
    path: str
    entries: list[Entry]
    delta_token: str
    seq: int  # the calendar's change counter when the round began
    skip_tokens: dict[int, str] = field(default_factory=dict)  # offset → token


class DeltaTracker:
    def __init__(self, store: Store, base_url: str, max_tokens: int = 100) -> None:
        self.store = store
        self.base_url = base_url
        self.max_tokens = max_tokens
        self._states: dict[str, DeltaState] = {}
        self._order: dict[str, deque[str]] = {}
        self._evicted: dict[str, tuple[int, str, bool]] = {}
        self._rounds: dict[str, tuple[Round, int]] = {}  # skip token → (round, offset)
        self._round_order: dict[str, deque[Round]] = {}
        self.max_rounds = 20  # rounds (and their skip tokens) kept per calendar
        self._replays: dict[str, int] = {}

    def page(
        self,
        email: str,
        cal: Calendar,
        path: str,
        params: Mapping[str, str],
        view: View,
        size: int,
    ) -> dict[str, Any]:
        """The response to one delta request."""
        skip = params.get("$skiptoken")
        if skip:
            return self._page(email, cal, skip, view, size)
        token = params.get("$deltatoken")
        if token:
            state = self._states.get(token)
            if state is None or state.email != email or state.calendar_id != cal.id:
                raise self._reset(token, path)
            rnd = self._next_round(cal, state, path)
        else:
            lo, hi = window(params)
            rnd = self._first_round(email, cal, lo, hi, path)
        return self._page(email, cal, self._skip_token(rnd, 0), view, size)

    def evict(
        self, calendar_id: str | None, status: int, code: str, with_location: bool
    ) -> int:
        count = 0
        for token, state in list(self._states.items()):
            if calendar_id is None or state.calendar_id == calendar_id:
                del self._states[token]
                self._evicted[token] = (status, code, with_location)
                count += 1
        for token, (rnd, _) in list(self._rounds.items()):
            if calendar_id is None or rnd.calendar_id == calendar_id:
                del self._rounds[token]
                self._evicted[token] = (status, code, with_location)
        return count

    def add_replays(self, calendar_id: str, count: int) -> None:
        self._replays[calendar_id] = self._replays.get(calendar_id, 0) + count

    # -- rounds -----------------------------------------------------------------------

    def _first_round(
        self, email: str, cal: Calendar, lo: datetime, hi: datetime, path: str
    ) -> Round:
        known: dict[str, dict[str, str]] = {}
        entries: list[Entry] = []
        for key, original in self.store.view_items(cal, lo, hi):
            ev = cal.events[key]
            known.setdefault(key, {})[item_key(key, original)] = version(ev, original)
            entries.append(Entry(False, key, original))
        state = self._new_state(email, cal, lo, hi, known)
        return Round(email, cal.id, path, entries, state.token, cal.seq)

    def _next_round(self, cal: Calendar, state: DeltaState, path: str) -> Round:
        known = dict(state.known)
        entries: list[Entry] = []
        changed = sorted(
            (ev for ev in cal.events.values() if ev.seq > state.seq),
            key=lambda e: e.seq,
        )
        for ev in changed:
            before = state.known.get(ev.key, {})
            now = {
                item_key(ev.key, o): (o, version(ev, o))
                for o in event_items(ev, state.lo, state.hi)
            }
            entries.extend(
                Entry(False, ev.key, original)
                for item, (original, ver) in now.items()
                if before.get(item) != ver
            )
            entries.extend(
                Entry(True, ev.key, original_of(item))
                for item in before
                if item not in now
            )
            if not now and not before:
                # Changed outside the window, or gone before it was ever
                # listed: reported as removed all the same (event-delta).
                entries.append(Entry(True, ev.key, None))
            if now:
                known[ev.key] = {item: ver for item, (_, ver) in now.items()}
            else:
                known.pop(ev.key, None)
        replays = self._replays.pop(cal.id, 0)
        if replays:
            touched = {ev.key for ev in changed}
            entries.extend(
                [
                    Entry(False, key, original_of(item))
                    for key, items in known.items()
                    if key not in touched
                    for item in items
                ][:replays]
            )
            if entries:
                entries.append(entries[0])
        new = self._new_state(state.email, cal, state.lo, state.hi, known)
        return Round(state.email, cal.id, path, entries, new.token, cal.seq)

    def _new_state(
        self,
        email: str,
        cal: Calendar,
        lo: datetime,
        hi: datetime,
        known: dict[str, dict[str, str]],
    ) -> DeltaState:
        token = secrets.token_urlsafe(32)
        self._states[token] = DeltaState(token, email, cal.id, lo, hi, cal.seq, known)
        order = self._order.setdefault(cal.id, deque())
        order.append(token)
        while len(order) > self.max_tokens:
            old = order.popleft()
            if self._states.pop(old, None) is not None:
                self._evicted[old] = (410, "SyncStateNotFound", False)
        return self._states[token]

    # -- pages ---------------------------------------------------------------------------

    def _skip_token(self, rnd: Round, offset: int) -> str:
        token = rnd.skip_tokens.get(offset)
        if not rnd.skip_tokens:  # a new round: the oldest one makes room
            order = self._round_order.setdefault(rnd.calendar_id, deque())
            order.append(rnd)
            while len(order) > self.max_rounds:
                for old in order.popleft().skip_tokens.values():
                    if self._rounds.pop(old, None) is not None:
                        self._evicted[old] = (410, "SyncStateNotFound", False)
        if token is None:
            token = rnd.skip_tokens[offset] = secrets.token_urlsafe(24)
            self._rounds[token] = (rnd, offset)
        return token

    def _page(
        self, email: str, cal: Calendar, skip: str, view: View, size: int
    ) -> dict[str, Any]:
        found = self._rounds.get(skip)
        if found is None or found[0].email != email or found[0].calendar_id != cal.id:
            raise self._reset(skip, found[0].path if found else "")
        rnd, offset = found
        out: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/v1.0/$metadata#Collection(event)"
        }
        link = f"{self.base_url}/v1.0{rnd.path}"
        if offset + size < len(rnd.entries):
            out["@odata.nextLink"] = (
                f"{link}?$skiptoken={self._skip_token(rnd, offset + size)}"
            )
        else:
            out["@odata.deltaLink"] = f"{link}?$deltatoken={rnd.delta_token}"
        out["value"] = [
            self._render(cal, rnd, entry, view)
            for entry in rnd.entries[offset : offset + size]
        ]
        return out

    def _render(
        self, cal: Calendar, rnd: Round, entry: Entry, view: View
    ) -> dict[str, Any]:
        ev = cal.events.get(entry.event_key)
        # An event changed since the round began may have lost the occurrence.
        gone = (
            ev is not None
            and ev.seq > rnd.seq
            and entry.original is not None
            and not ev.has_occurrence(entry.original)
        )
        if entry.removed or ev is None or ev.deleted or gone:
            base = entry.event_key if view.immutable or ev is None else ev.rest_id
            item_id = (
                base if entry.original is None else occurrence_id(base, entry.original)
            )
            return removed(item_id)
        return self.store.render(ev, entry.original, view, collection=True)

    def _reset(self, token: str, path: str) -> errors.GraphError:
        status, code, with_location = self._evicted.get(
            token, (410, "SyncStateNotFound", False)
        )
        location = f"{self.base_url}/v1.0{path}?$deltatoken=" if with_location else None
        return errors.sync_state_not_found(status, code, location)


def window(params: Mapping[str, str]) -> tuple[datetime, datetime]:
    """The view's ``startDateTime``/``endDateTime`` (names are case-insensitive)."""
    lowered = {k.lower(): v for k, v in params.items()}
    start, end = lowered.get("startdatetime"), lowered.get("enddatetime")
    if not start or not end:
        raise errors.invalid_parameter(
            "This request requires a time window specified by the query string "
            "parameters StartDateTime and EndDateTime."
        )
    lo = parse_offset_datetime(start, "startDateTime")
    hi = parse_offset_datetime(end, "endDateTime")
    if hi <= lo:
        raise errors.invalid_parameter(
            "The parameter 'EndDateTime' must be later than 'StartDateTime'."
        )
    return lo, hi


def item_key(event_key: str, original: datetime | None) -> str:
    return event_key if original is None else f"{event_key}|{original.isoformat()}"


def original_of(key: str) -> datetime | None:
    _, sep, stamp = key.partition("|")
    return datetime.fromisoformat(stamp) if sep else None


def version(ev: StoredEvent, original: datetime | None) -> str:
    return ev.change_key if original is None else occurrence_version(ev, original)
