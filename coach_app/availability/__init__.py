"""Pure availability engine: working hours + busy intervals -> open slots.

No Reflex, no database, no clock: ``now`` is always passed in. Standard
library only (``zoneinfo``, ``datetime``, ``bisect``, ``dataclasses``).

Semantics
=========

Time
    Every instant is timezone-aware and handled in UTC; results are UTC.
    Intervals are half-open ``[start, end)``; touching is not overlapping.

Working hours
    ``WorkingHours.weekly`` (weekday 0 = Monday) and ``overrides`` (a local
    date's windows replace the weekly ones; an empty list is a day off) are
    local wall-clock times in the coach's IANA zone. A window end of
    ``time(0)`` means 24:00. Windows of one date are unioned.

DST
    A wall-clock time ``T`` on local date ``D`` is the *earliest instant at
    which the coach's clock reads ``D T`` or later*
    (:func:`~coach_app.availability.localtime.resolve_local`):
    ambiguous (fold) times take the first occurrence (``fold=0``); nonexistent
    (gap) times take the instant the gap ends (NY 2026-03-08 02:30 -> 03:00 EDT,
    07:00Z). A window spanning a gap is therefore shorter in real time, one
    spanning a fold longer; a window lying wholly in a gap vanishes. Candidate
    starts step by the slot interval in real time from the window start, a
    slot must end by the window end, so a fall-back day never yields duplicate
    instants (it may show the same local wall time twice, once per offset).

Blocking
    The app's own appointments always block. A pulled external event blocks
    iff ``busy`` is true and *Check Calendar for Conflicts* is on. Free events
    never block. A candidate ``s`` is open iff
    ``[s - buffer_before, s + duration + buffer_after)`` overlaps no blocking
    interval. Existing appointments are not padded by their own type's buffers:
    the candidate's padding alone keeps the gap (the simplest correct rule).

Notice, horizon, daily maximum, range
    ``now + min_notice <= s``. ``s`` is before the coach-local midnight that
    starts date ``today + horizon_days`` (today = coach-local date of ``now``;
    the last bookable date is ``today + horizon_days - 1``; a nonexistent
    midnight resolves as above). A slot belongs to the coach-local date of its
    working window (= the local date of its start, except in zones whose fold
    crosses midnight); that date is closed when ``same_type_starts`` already
    has ``max_per_day`` starts on it (counted by the coach-local date of each
    start; pass the starts of the coach's non-cancelled appointments of this
    type). ``range_start <= s < range_end`` when given; the default is the
    whole horizon.

Complexity
    Busy intervals (any order, overlapping allowed) are pruned to the
    computed range, sorted and merged once (O(n log n)); candidates are swept
    with a moving pointer and jump past a blocking interval in one step, so a
    call is O(n log n + slots + windows log n).
"""

from .domain import AppointmentRules, BusyInterval, BusyKind, TimeWindow, WorkingHours
from .engine import (
    UtcWindow,
    group_by_local_date,
    open_slots,
    open_slots_merged,
    working_windows,
)
from .intervals import blocking_intervals, conflicts, merge_intervals
from .localtime import resolve_local

__all__ = [
    "AppointmentRules",
    "BusyInterval",
    "BusyKind",
    "TimeWindow",
    "UtcWindow",
    "WorkingHours",
    "blocking_intervals",
    "conflicts",
    "group_by_local_date",
    "merge_intervals",
    "open_slots",
    "open_slots_merged",
    "resolve_local",
    "working_windows",
]
