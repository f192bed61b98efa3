"""Turning local wall-clock times into UTC instants, deterministically across DST.

The one rule used everywhere in the engine:

    A local wall-clock time ``T`` on local date ``D`` denotes the **earliest
    instant at which the coach's clock reads ``D T`` or later**.

Consequences:

- An ordinary time maps to its only instant.
- An *ambiguous* time (inside a fall-back fold, read twice) maps to its first
  occurrence, i.e. ``fold=0``.
- A *nonexistent* time (inside a spring-forward gap, never read) maps to the
  instant the gap ends: New York 2026-03-08 02:30 → 03:00 EDT = 07:00Z. Note
  this is *not* Python's ``fold=0`` arithmetic, which would give 03:30 EDT;
  the engine never offers wall-clock times the coach did not ask for.

The map is monotone in ``(D, T)``, so disjoint local windows stay disjoint and
ordered in UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["local_date", "resolve_local"]


@lru_cache(maxsize=16384)
def resolve_local(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant denoted by wall time ``wall`` on local date ``day`` in ``tz``.

    Pure, so memoised: every refresh of a booking page resolves the same
    few windows of the same dates again.
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None, fold=0))
    first = naive.replace(tzinfo=tz).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first  # exists; with fold=0 it is the earlier of two readings
    return _gap_end(naive, tz)


def _gap_end(naive: datetime, tz: ZoneInfo) -> datetime:
    """First instant whose wall-clock reading is >= ``naive``, a time in a gap.

    For a gap time, ``fold=0`` applies the pre-transition offset (an instant
    after the gap) and ``fold=1`` the post-transition offset (an instant before
    it). The transition lies between; zoneinfo transitions fall on whole
    seconds, so a binary search over whole seconds finds it exactly.
    """
    after = naive.replace(tzinfo=tz, fold=0).timestamp()
    before = naive.replace(tzinfo=tz, fold=1).timestamp()
    lo, hi = math.floor(min(before, after)), math.ceil(max(before, after))

    def reads_at_least(ts: int) -> bool:
        return datetime.fromtimestamp(ts, tz).replace(tzinfo=None) >= naive

    if not reads_at_least(hi) or reads_at_least(lo):  # pragma: no cover - defensive
        raise ValueError(f"cannot resolve local time {naive} in {tz.key}")
    while hi - lo > 1:  # invariant: reads(lo) < naive <= reads(hi)
        mid = (lo + hi) // 2
        if reads_at_least(mid):
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The local calendar date of an aware instant in ``tz``."""
    return instant.astimezone(tz).date()
