"""What a coach's booking page offers, read once per change and kept in memory.

The booking page is the hot path: every invitee action refreshes it, and
every change re-renders every open page. An `Offer` holds, for one coach and
without any ORM object, what the slot engine needs — name, zone, working
hours, active types, and the coach's blocking time already merged
(confirmed appointments plus busy pulled events of calendars whose pull and
conflict check are on) — for a window covering every type's horizon.

Reading (`load`): two statements on the DB-API cursor of a read-only
connection (`db.read_connection`, which on SQLite takes no write lock): the
coach's settings (hours, overrides, types packed as JSON), then the
appointments and only the start and end of the busy events in the window,
through a covering index (`ix_external_event_coach_end`). The events come
in order of their end and are merged without a sort while still the
database's own values (SQLite's fixed-width UTC text sorts like the instants
it names; PostgreSQL sends whole epoch seconds, rounded outwards, in
binary); only the merged blocks become datetimes.

Caching: one `Offer` per coach and database, valid until the coach changes.
Every write announces its change after commit (`coach_app.changes`), which
calls `invalidate`; with Redis configured, changes made by other processes
arrive the same way (`coach_app.fanout`). A generation counter per coach
makes a load that raced with a change unusable for caching (it may have read
before the commit), and one lock per coach makes concurrent refreshes after
a change wait for one load rather than each running their own: one load per
change per coach per process. Entries also expire after `MAX_AGE` as a
safety net, and are reloaded when asked about a time outside their window.

Slots per type are computed lazily from the merged blocks and kept with the
offer: a later refresh only drops the starts that have fallen inside the
minimum notice (exactly what a recomputation would give while the coach's
local date is unchanged). Grouping by the invitee's zone is kept per
(type, zone) too, so fifty open pages in one zone render from one grouping.

The booking transaction itself never trusts this cache: `booking.book`
re-checks the slot against fresh data under the coach's lock.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from bisect import bisect_left
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from coach_app import changes
from coach_app.availability import (
    AppointmentRules,
    WorkingHours,
    group_by_local_date,
    open_slots_merged,
)
from coach_app.db import db_url, is_sqlite, placeholder, read_connection
from coach_app.models import utcnow
from coach_app.services.errors import UserError

NOT_FOUND = "This booking page does not exist. Please check the link."
MAX_AGE = dt.timedelta(minutes=5)
MAX_COACHES = 2000
# The window read around `now`: the notice and buffers reach back, and the
# slot search reaches a day and the buffers past the longest horizon.
_BACK = dt.timedelta(days=2)
_AHEAD_EXTRA = dt.timedelta(days=4)
_UTC = dt.UTC


@dataclass(frozen=True, slots=True)
class OfferedType:
    id: int
    name: str
    duration: int
    rules: AppointmentRules
    description: str = ""


@dataclass(eq=False)
class Offer:
    """One coach's bookable time as of one generation of their data."""

    coach_id: int
    coach_name: str
    slug: str
    timezone: str
    hours: WorkingHours
    types: tuple[OfferedType, ...]
    starts: list[dt.datetime]  # merged blocking intervals, UTC
    ends: list[dt.datetime]
    same_type_starts: dict[int, list[dt.datetime]]
    window: tuple[dt.datetime, dt.datetime]
    generation: int
    loaded_at: dt.datetime
    _slots: dict[int, tuple[dt.date, dt.datetime, list[dt.datetime]]] = field(
        default_factory=dict, repr=False
    )
    _grouped: dict[tuple[int, str], tuple[list, int, list]] = field(
        default_factory=dict, repr=False
    )
    _day_maps: dict[int, tuple[list, dict]] = field(default_factory=dict, repr=False)

    @property
    def type_options(self) -> list[tuple[int, str, int]]:
        """(id, name, duration in minutes) of every offered type, in order."""
        return [(t.id, t.name, t.duration) for t in self.types]

    @property
    def descriptions(self) -> dict[int, str]:
        return {t.id: t.description for t in self.types}

    def covers(self, now: dt.datetime) -> bool:
        return (
            self.loaded_at - dt.timedelta(minutes=1)
            <= now
            <= (self.loaded_at + MAX_AGE)
        )

    def _type(self, type_id: int) -> OfferedType | None:
        for offered in self.types:
            if offered.id == type_id:
                return offered
        return None

    def _all_slots(self, type_id: int, now: dt.datetime) -> tuple[list, int]:
        """The type's slot list as computed for this local date, and the index
        of its first start that still respects the minimum notice at `now`."""
        offered = self._type(type_id)
        if offered is None:
            return [], 0
        today = now.astimezone(self.hours.tz).date()
        cached = self._slots.get(type_id)
        if cached is None or cached[0] != today or now < cached[1]:
            slots = open_slots_merged(
                self.hours,
                offered.rules,
                self.starts,
                self.ends,
                now=now,
                same_type_starts=self.same_type_starts.get(type_id, ()),
            )
            self._slots[type_id] = (today, now, slots)
            return slots, 0
        slots = cached[2]
        return slots, bisect_left(slots, now + offered.rules.min_notice)

    def slots(self, type_id: int, now: dt.datetime | None = None) -> list[dt.datetime]:
        """Open slot starts (UTC) of the type over its horizon."""
        slots, first = self._all_slots(type_id, now or utcnow())
        return slots[first:]

    def days(
        self, type_id: int, zone: str, now: dt.datetime | None = None
    ) -> list[tuple[dt.date, list[dt.datetime]]]:
        """The type's open slots in `zone`, grouped by that zone's dates."""
        slots, first = self._all_slots(type_id, now or utcnow())
        key = (type_id, zone)
        hit = self._grouped.get(key)
        if hit is not None and hit[0] is slots and hit[1] == first:
            return hit[2]
        grouped = list(group_by_local_date(slots[first:], ZoneInfo(zone)).items())
        if len(self._grouped) >= 256:
            self._grouped.clear()
        self._grouped[key] = (slots, first, grouped)
        return grouped

    def day_map(
        self, type_id: int, zone: str, now: dt.datetime | None = None
    ) -> dict[dt.date, list[dt.datetime]]:
        """`days` as a dict, the same object for every page that asks while
        the grouping holds (pages may key their own rendering on it)."""
        grouped = self.days(type_id, zone, now)
        hit = self._day_maps.get(id(grouped))
        if hit is not None and hit[0] is grouped:
            return hit[1]
        mapped = dict(grouped)
        if len(self._day_maps) >= 256:
            self._day_maps.clear()
        self._day_maps[id(grouped)] = (grouped, mapped)
        return mapped


# --- reading -------------------------------------------------------------------
#
# Two statements per load, whatever the size of the calendar: the coach's
# settings, then the busy time in the window their longest horizon needs.
# Rows are packed into JSON (appointments, hours, types) and the events into
# two strings (SQLite) or two arrays (PostgreSQL): few round trips to
# PostgreSQL, and on SQLite few steps of a statement, each of which releases
# the GIL and, while a sync thread keeps the interpreter busy, waits for it
# to be handed back.

_SQLITE_SETTINGS = """
SELECT c.display_name, c.slug, c.timezone,
  (SELECT json_group_array(json_array(weekday, start_minute, end_minute))
     FROM working_hours WHERE coach_id = c.id),
  (SELECT json_group_array(json_array(day, start_minute, end_minute))
     FROM date_override WHERE coach_id = c.id AND day >= ?),
  (SELECT json_group_array(json_array(id, name, duration_min, slot_interval_min,
            buffer_before_min, buffer_after_min, min_notice_min, max_per_day,
            horizon_days, description))
     FROM appointment_type WHERE coach_id = c.id AND active = 1)
FROM coach c WHERE c.id = ?
"""
_PG_SETTINGS = """
SELECT c.display_name, c.slug, c.timezone,
  (SELECT json_agg(json_build_array(weekday, start_minute, end_minute))
     FROM working_hours WHERE coach_id = c.id),
  (SELECT json_agg(json_build_array(day, start_minute, end_minute))
     FROM date_override WHERE coach_id = c.id AND day >= %s),
  (SELECT json_agg(json_build_array(id, name, duration_min, slot_interval_min,
            buffer_before_min, buffer_after_min, min_notice_min, max_per_day,
            horizon_days, description))
     FROM appointment_type WHERE coach_id = c.id AND active)
FROM coach c WHERE c.id = %s
"""
# Busy pulled events come through the covering index ix_external_event_coach_end
# in its order (by end), so they merge without a sort. SQLite: its own text
# (fixed-width UTC, sorts like the instants it names). PostgreSQL: whole
# epoch seconds rounded outwards (never narrower than the event), as int8
# arrays in binary: psycopg builds ints much faster than aware datetimes, and
# date_part (float8) is much cheaper than extract (numeric).
_SQLITE_BUSY = """
SELECT a.rows, e.starts, e.ends FROM
 (SELECT json_group_array(json_array(start, "end", appointment_type_id)) AS rows
    FROM appointment WHERE coach_id = ? AND status = 'confirmed'
     AND "end" > ? AND start < ?) a,
 (SELECT group_concat(s, ',') AS starts, group_concat(t, ',') AS ends FROM
   (SELECT start AS s, "end" AS t FROM external_event
     WHERE coach_id = ? AND "end" > ? AND start < ? AND busy = 1
       AND sub_calendar_id IN (
         SELECT sc.id FROM sub_calendar sc
           JOIN calendar_connection cc ON cc.id = sc.connection_id
          WHERE cc.coach_id = ? AND sc.pull = 1 AND cc.pull_enabled = 1
            AND cc.check_conflicts = 1)
     ORDER BY "end")) e
"""
_PG_BUSY = """
SELECT a.rows, e.starts, e.ends FROM
 (SELECT json_agg(json_build_array(start, "end", appointment_type_id)) AS rows
    FROM appointment WHERE coach_id = %s AND status = 'confirmed'
     AND "end" > %s AND start < %s) a,
 (SELECT array_agg(s) AS starts, array_agg(t) AS ends FROM
   (SELECT floor(date_part('epoch', start))::int8 AS s,
           ceil(date_part('epoch', "end"))::int8 AS t
      FROM external_event
     WHERE coach_id = %s AND "end" > %s AND start < %s AND busy
       AND sub_calendar_id = ANY (ARRAY(
         SELECT sc.id FROM sub_calendar sc
           JOIN calendar_connection cc ON cc.id = sc.connection_id
          WHERE cc.coach_id = %s AND sc.pull AND cc.pull_enabled
            AND cc.check_conflicts))
     ORDER BY "end") ordered) e
"""
_SLUG = "SELECT id FROM coach WHERE slug = {p}"


def _minute_time(minute: int) -> dt.time:
    return dt.time(0) if minute >= 24 * 60 else dt.time(minute // 60, minute % 60)


def _sqlite_text(value: dt.datetime) -> str:
    """An instant as SQLite holds it (naive UTC text, fixed width)."""
    return value.astimezone(_UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _from_sqlite(value: str) -> dt.datetime:
    # Appending the offset is ~5x faster than `.replace(tzinfo=UTC)`.
    return dt.datetime.fromisoformat(value + "+00:00")


def _from_json_timestamp(value: str) -> dt.datetime:
    """A PostgreSQL timestamptz as JSON renders it (ISO 8601 with offset)."""
    return dt.datetime.fromisoformat(value).astimezone(_UTC)


def _from_epoch(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, _UTC)


def _json(value: object) -> list:
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str | bytes) else list(value)


def _merge(rows: list) -> tuple[list, list]:
    """Sorted union of (start, end, ...) rows; touching intervals join."""
    rows.sort()
    starts: list = []
    ends: list = []
    cur_s = cur_e = None
    for row in rows:
        s, e = row[0], row[1]
        if s >= e:
            continue
        if cur_e is not None and s <= cur_e:
            if e > cur_e:
                cur_e = e
            continue
        if cur_s is not None:
            starts.append(cur_s)
            ends.append(cur_e)
        cur_s, cur_e = s, e
    if cur_s is not None:
        starts.append(cur_s)
        ends.append(cur_e)
    return starts, ends


def _merge_by_end(starts: list, ends: list) -> list[tuple]:
    """Union of intervals given in ascending order of end, without sorting:
    walked from the latest end backwards, an interval either reaches the
    current block (its end is at or after the block's start) or lies wholly
    before it, and so does every interval after it. Input that turns out not
    to be in that order is sorted and merged the usual way."""
    blocks: list[tuple] = []
    cur_s = cur_e = None
    last_end = None
    for i in range(len(ends) - 1, -1, -1):
        s, e = starts[i], ends[i]
        if last_end is not None and e > last_end:
            merged_s, merged_e = _merge(list(zip(starts, ends, strict=True)))
            return list(zip(merged_s, merged_e, strict=True))
        last_end = e
        if s >= e:
            continue
        if cur_s is not None and e >= cur_s:
            if s < cur_s:
                cur_s = s
            continue
        if cur_s is not None:
            blocks.append((cur_s, cur_e))
        cur_s, cur_e = s, e
    if cur_s is not None:
        blocks.append((cur_s, cur_e))
    return blocks


def _offered(row: list) -> OfferedType:
    (tid, name, duration, step, before, after, notice, max_per_day, horizon) = row[:9]
    return OfferedType(
        tid,
        name,
        duration,
        AppointmentRules(
            duration_minutes=duration,
            interval_minutes=step,
            buffer_before_minutes=before,
            buffer_after_minutes=after,
            min_notice_minutes=notice,
            max_per_day=max_per_day,
            horizon_days=horizon,
        ),
        row[9] or "",
    )


def load(
    coach_id: int,
    now: dt.datetime | None = None,
    url: str | None = None,
    generation: int = 0,
) -> Offer | None:
    """Read one coach's offer from the database (no cache); None if no coach."""
    now = now or utcnow()
    url = url or db_url()
    sqlite = is_sqlite(url)
    with read_connection(url) as conn:
        # psycopg in binary: the event arrays arrive as ints, not digits.
        cur = conn.cursor() if sqlite else conn.driver_connection.cursor(binary=True)
        since = (now - _BACK).date()  # a day early: any zone's "today" is in
        cur.execute(
            _SQLITE_SETTINGS if sqlite else _PG_SETTINGS,
            (since.isoformat() if sqlite else since, coach_id),
        )
        row = cur.fetchone()
        if row is None:
            cur.close()
            return None
        name, slug, timezone, hours_rows, override_rows, type_rows = row
        types = tuple(sorted((_offered(r) for r in _json(type_rows)), key=_type_id))
        horizon = max((t.rules.horizon_days for t in types), default=0)
        lo, hi = now - _BACK, now + dt.timedelta(days=horizon) + _AHEAD_EXTRA
        if sqlite:
            lo_b, hi_b = _sqlite_text(lo), _sqlite_text(hi)
        else:
            lo_b, hi_b = lo, hi
        cur.execute(
            _SQLITE_BUSY if sqlite else _PG_BUSY,
            (coach_id, lo_b, hi_b, coach_id, lo_b, hi_b, coach_id),
        )
        appointment_rows, event_starts, event_ends = cur.fetchone()
        cur.close()
    if sqlite:
        conv = _from_sqlite
        event_starts = event_starts.split(",") if event_starts else []
        event_ends = event_ends.split(",") if event_ends else []
        conv_event = _from_sqlite
    else:
        conv = _from_json_timestamp
        event_starts, event_ends = event_starts or [], event_ends or []
        conv_event = _from_epoch
    zone = ZoneInfo(timezone)
    weekly: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for weekday, start, end in sorted(_json(hours_rows), key=lambda r: r[1]):
        weekly.setdefault(weekday, []).append((_minute_time(start), _minute_time(end)))
    overrides: dict[dt.date, list[tuple[dt.time, dt.time]]] = {}
    for day, start, end in _json(override_rows):
        windows = overrides.setdefault(dt.date.fromisoformat(day), [])
        if start is not None and end is not None:
            windows.append((_minute_time(start), _minute_time(end)))
    appointments = [(conv(s), conv(e), t) for s, e, t in _json(appointment_rows)]
    rows = [(s, e) for s, e, _ in appointments]
    rows.extend(
        (conv_event(s), conv_event(e))
        for s, e in _merge_by_end(event_starts, event_ends)
    )
    starts, ends = _merge(rows)
    same_type: dict[int, list[dt.datetime]] = {}
    for s, _, type_id in appointments:
        if type_id is not None:
            same_type.setdefault(type_id, []).append(s)
    return Offer(
        coach_id=coach_id,
        coach_name=name,
        slug=slug,
        timezone=timezone,
        hours=WorkingHours(zone, weekly=weekly, overrides=overrides),
        types=types,
        starts=starts,
        ends=ends,
        same_type_starts=same_type,
        window=(lo, hi),
        generation=generation,
        loaded_at=now,
    )


def _type_id(offered: OfferedType) -> int:
    return offered.id


# --- the cache -------------------------------------------------------------------

_lock = threading.Lock()
_offers: OrderedDict[tuple[str, int], Offer] = OrderedDict()
_generations: Counter[int] = Counter()
_loading: dict[tuple[str, int], threading.Lock] = {}
_slugs: dict[tuple[str, str], int] = {}
_slug_generation = 0
# For tests and benchmarks: how often each coach's offer was read.
loads: Counter[int] = Counter()


def invalidate(coach_id: int) -> None:
    """The coach's data changed (after commit): forget what we hold."""
    global _slug_generation
    with _lock:
        _generations[coach_id] += 1
        _slug_generation += 1
        for key in [k for k in _offers if k[1] == coach_id]:
            del _offers[key]
        # The link -> coach entries stay: `offer_for_slug` checks the link
        # against the offer it gets, and asks again on a mismatch.


def invalidate_all() -> None:
    """Forget everything (changes may have been missed)."""
    global _slug_generation
    with _lock:
        _slug_generation += 1
        for coach_id in list(_generations):
            _generations[coach_id] += 1
        for _, coach_id in _offers:
            _generations[coach_id] += 1
        _offers.clear()
        _slugs.clear()


changes.on_coach_change(invalidate)


def _fresh(key: tuple[str, int], now: dt.datetime) -> Offer | None:
    cached = _offers.get(key)
    if (
        cached is not None
        and cached.generation == _generations[key[1]]
        and cached.covers(now)
    ):
        _offers.move_to_end(key)
        return cached
    return None


def offer(
    coach_id: int, now: dt.datetime | None = None, url: str | None = None
) -> Offer | None:
    """The coach's current offer, from memory or read once; None if no coach."""
    now = now or utcnow()
    key = (url or db_url(), coach_id)
    with _lock:
        cached = _fresh(key, now)
        if cached is not None:
            return cached
        if key not in _loading and len(_loading) >= 4 * MAX_COACHES:
            _loading.clear()  # idle gates; one in use stays with its holders
        gate = _loading.setdefault(key, threading.Lock())
    with gate:  # one load per coach at a time; the others reuse it
        with _lock:
            cached = _fresh(key, now)
            if cached is not None:
                return cached
            generation = _generations[coach_id]
        loaded = load(coach_id, now, key[0], generation)
        with _lock:
            loads[coach_id] += 1
            if loaded is not None and _generations[coach_id] == generation:
                _offers[key] = loaded
                _offers.move_to_end(key)
                while len(_offers) > MAX_COACHES:
                    _offers.popitem(last=False)
        return loaded


def coach_id_for_slug(slug: str, url: str | None = None) -> int:
    """The coach behind a booking link; `UserError` if there is none."""
    slug = (slug or "").strip().lower()
    key = ((url or db_url()), slug)
    with _lock:
        found = _slugs.get(key)
        generation = _slug_generation
    if found is not None:
        return found
    with read_connection(key[0]) as conn:
        cur = conn.cursor()
        cur.execute(_SLUG.format(p=placeholder(key[0])), (slug,))
        row = cur.fetchone()
        cur.close()
    if row is None:
        raise UserError(NOT_FOUND)
    with _lock:
        if generation == _slug_generation:  # no change raced with the read
            if len(_slugs) >= MAX_COACHES:
                _slugs.clear()
            _slugs[key] = row[0]
    return row[0]


def outdated(slug: str, url: str | None = None) -> None:
    """What we hold for this booking link proved stale (a booking found the
    slot taken): read it again next time, in this process."""
    key = ((url or db_url()), (slug or "").strip().lower())
    with _lock:
        coach_id = _slugs.get(key)
    if coach_id is not None:
        invalidate(coach_id)


def offer_for_slug(
    slug: str, now: dt.datetime | None = None, url: str | None = None
) -> Offer:
    """The offer behind a booking link; `UserError` if there is none."""
    found = offer(coach_id_for_slug(slug, url), now, url)
    if found is not None and found.slug != (slug or "").strip().lower():
        # The link changed hands meanwhile: ask the database again.
        with _lock:
            _slugs.clear()
        found = offer(coach_id_for_slug(slug, url), now, url)
    if found is None or found.slug != (slug or "").strip().lower():
        raise UserError(NOT_FOUND)
    return found
