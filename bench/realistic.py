"""A realistic coach calendar for the benchmarks (not uniform noise).

The coach works Monday-Friday 08:00-18:00 in Europe/London and offers two
types over a 60-day horizon (which crosses a clock change when run in March
or October): a 60-minute session on a 30-minute grid with 10-minute buffers
and a 30-minute intro call on a 15-minute grid. Three pulled sub-calendars:

- **Work**: recurring series expanded one row per occurrence, as the sync
  stores them (a daily stand-up, a weekly team meeting, fortnightly 1:1s,
  a monthly review), and single meetings of 15 minutes to 2 hours, placed
  inside working hours;
- **Team**: a shared calendar that repeats a share of the Work meetings
  exactly (the same meeting seen twice) and adds others overlapping them;
- **Family**: evenings and weekends, mostly outside working hours, and a
  few all-day events.

Every busy event is inside the window the sync stores and the booking page
reads ([now - 1 day, now + horizon + 3 days]), so all n of them reach the
query: the worst case for the whole path. About 80% start inside working
hours. Each weekday keeps two random "focus" windows free of in-hours
events, so open slots remain at every size (the benchmarks report how
many). Free (transparent) events, 10% on top of the n busy ones, are stored
too: they are read past by the query but never block. The app's own
appointments: about two a weekday.

`make_calendar(n, now, seed)` builds it in memory; `seed_database(url, cal)`
writes it through the app's own tables (bulk inserts) and returns the ids.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa

TZ = "Europe/London"
HORIZON_DAYS = 60
WORK_START, WORK_END = 8 * 60, 18 * 60  # minutes after local midnight
FOCUS_MINUTES = 120
FREE_SHARE = 0.10


@dataclass(frozen=True)
class Event:
    calendar: str  # Work | Team | Family
    remote_id: str
    occurrence: str
    start: dt.datetime
    end: dt.datetime
    busy: bool = True
    all_day: bool = False


@dataclass
class Calendar:
    now: dt.datetime
    events: list[Event] = field(default_factory=list)
    appointments: list[tuple[dt.datetime, dt.datetime, int]] = field(
        default_factory=list
    )  # (start, end, type index)

    @property
    def busy(self) -> list[Event]:
        return [e for e in self.events if e.busy]


TYPES = (
    # name, duration, step, buffer before, buffer after, notice, horizon
    ("Coaching session", 60, 30, 10, 10, 240, HORIZON_DAYS),
    ("Intro call", 30, 15, 0, 0, 240, HORIZON_DAYS),
)


def _local(day: dt.date, minute: int, zone: ZoneInfo) -> dt.datetime:
    naive = dt.datetime.combine(day, dt.time(0)) + dt.timedelta(minutes=minute)
    return naive.replace(tzinfo=zone).astimezone(dt.UTC)


def make_calendar(n: int, now: dt.datetime, seed: int = 20260302) -> Calendar:
    """n busy events (plus 10% free ones and the coach's own appointments)."""
    rng = random.Random(seed * 7919 + n)
    zone = ZoneInfo(TZ)
    cal = Calendar(now=now)
    first = (now - dt.timedelta(days=1)).astimezone(zone).date()
    last = (now + dt.timedelta(days=HORIZON_DAYS + 3)).astimezone(zone).date()
    days = [first + dt.timedelta(days=i) for i in range((last - first).days)]
    weekdays = [d for d in days if d.weekday() < 5]
    lo, hi = now - dt.timedelta(days=1), now + dt.timedelta(days=HORIZON_DAYS + 3)

    # Two focus windows per weekday stay free of in-hours events.
    focus: dict[dt.date, list[tuple[int, int]]] = {}
    for day in weekdays:
        a = rng.randrange(WORK_START, 12 * 60 - FOCUS_MINUTES, 30)
        b = rng.randrange(13 * 60, WORK_END - FOCUS_MINUTES, 30)
        focus[day] = [(a, a + FOCUS_MINUTES), (b, b + FOCUS_MINUTES)]

    def clear_of_focus(day: dt.date, start: int, end: int) -> bool:
        return all(end <= f0 or start >= f1 for f0, f1 in focus.get(day, []))

    busy: list[Event] = []

    def add(calendar: str, rid: str, occ: str, day: dt.date, start: int, end: int):
        s, e = _local(day, start, zone), _local(day, end, zone)
        if e > lo and s < hi:
            busy.append(Event(calendar, rid, occ, s, e))

    # Recurring series, expanded one row per occurrence (~15% of n).
    series_budget = max(1, n * 15 // 100)
    series = 0
    while sum(1 for e in busy if e.occurrence) < series_budget:
        series += 1
        kind = series % 4
        rid = f"series-{series}"
        if kind == 0:  # daily stand-up
            pattern, length = [d for d in weekdays], 15
        elif kind == 1:  # weekly meeting
            wd = rng.randrange(5)
            pattern, length = [d for d in weekdays if d.weekday() == wd], 60
        elif kind == 2:  # fortnightly 1:1
            wd = rng.randrange(5)
            pattern = [d for d in weekdays if d.weekday() == wd][rng.randrange(2) :: 2]
            length = 30
        else:  # monthly review
            pattern, length = weekdays[rng.randrange(5) :: 21], 90
        start = rng.randrange(WORK_START, WORK_END - length, 15)
        for day in pattern:
            if clear_of_focus(day, start, start + length):
                add("Work", rid, day.isoformat(), day, start, start + length)
            if sum(1 for e in busy if e.occurrence) >= series_budget:
                break

    single = 0
    while len(busy) < n:
        single += 1
        r = rng.random()
        if r < 0.80:  # a meeting inside working hours, off the focus windows
            day = rng.choice(weekdays)
            length = rng.choice([15, 30, 30, 45, 60, 60, 90, 120])
            for _ in range(20):
                start = rng.randrange(WORK_START, WORK_END - length + 1, 15)
                if clear_of_focus(day, start, start + length):
                    break
            else:
                continue
            add("Work", f"meeting-{single}", "", day, start, start + length)
            if len(busy) < n and rng.random() < 0.25:
                # the shared Team calendar shows the same meeting again ...
                add("Team", f"team-copy-{single}", "", day, start, start + length)
            elif len(busy) < n and rng.random() < 0.15:
                # ... or a neighbour overlapping it
                shift = rng.choice([-30, -15, 15, 30])
                s2 = max(WORK_START, start + shift)
                e2 = s2 + length
                if e2 <= WORK_END and clear_of_focus(day, s2, e2):
                    add("Team", f"team-{single}", "", day, s2, e2)
        elif r < 0.97:  # evenings and weekends
            day = rng.choice(days)
            if day.weekday() < 5:
                start = rng.randrange(18 * 60, 22 * 60, 30)
            else:
                start = rng.randrange(9 * 60, 20 * 60, 30)
            add("Family", f"family-{single}", "", day, start, start + 60)
        else:  # an all-day event (a weekend trip, a bank holiday)
            day = rng.choice([d for d in days if d.weekday() >= 4] or days)
            s = dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
            if s > lo and s < hi:
                busy.append(
                    Event(
                        "Family",
                        f"allday-{single}",
                        "",
                        s,
                        s + dt.timedelta(days=1),
                        all_day=True,
                    )
                )
    del busy[n:]
    free = [
        Event(
            "Work",
            f"free-{i}",
            "",
            (
                s := _local(
                    rng.choice(weekdays), rng.randrange(9 * 60, 17 * 60, 30), zone
                )
            ),
            s + dt.timedelta(minutes=30),
            busy=False,
        )
        for i in range(int(n * FREE_SHARE))
    ]
    cal.events = busy + free
    rng.shuffle(cal.events)

    # The coach's own appointments: about two per weekday, off the focus
    # windows (the coach keeps those free for clients).
    for day in weekdays:
        if _local(day, WORK_END, zone) <= now:
            continue
        taken: list[int] = []
        for _ in range(2):
            start = rng.randrange(WORK_START, WORK_END - 60 + 1, 30)
            if clear_of_focus(day, start, start + 60) and all(
                abs(start - t) >= 60 for t in taken
            ):
                taken.append(start)
                s = _local(day, start, zone)
                cal.appointments.append((s, s + dt.timedelta(hours=1), 0))
    return cal


@dataclass(frozen=True)
class Seeded:
    coach_id: int
    slug: str
    type_ids: list[int]


def seed_database(url: str, cal: Calendar, email: str, name: str) -> Seeded:
    """Writes the coach, hours, types, connection, events and appointments."""
    from coach_app.db import session_scope
    from coach_app.models import (
        Appointment,
        AppointmentType,
        CalendarConnection,
        Client,
        ExternalEvent,
        SubCalendar,
        WorkingHours,
    )
    from coach_app.security.secrets import encrypt
    from coach_app.services import auth

    with session_scope(url) as s:
        coach = auth.sign_up(s, email, "bench-password", name, TZ)
        assert coach.id is not None
        s.exec(sa.delete(WorkingHours).where(WorkingHours.coach_id == coach.id))
        s.exec(sa.delete(AppointmentType).where(AppointmentType.coach_id == coach.id))
        for weekday in range(5):
            s.add(
                WorkingHours(
                    coach_id=coach.id,
                    weekday=weekday,
                    start_minute=WORK_START,
                    end_minute=WORK_END,
                )
            )
        types = []
        for tname, dur, step, before, after, notice, horizon in TYPES:
            row = AppointmentType(
                coach_id=coach.id,
                name=tname,
                duration_min=dur,
                slot_interval_min=step,
                buffer_before_min=before,
                buffer_after_min=after,
                min_notice_min=notice,
                horizon_days=horizon,
            )
            s.add(row)
            types.append(row)
        conn = CalendarConnection(
            coach_id=coach.id,
            provider="caldav",
            account_label="Bench account",
            server_url="http://127.0.0.1:9/",
            username="bench",
            secret_encrypted=encrypt("bench"),
        )
        s.add(conn)
        s.flush()
        subs = {}
        for cname in ("Work", "Team", "Family"):
            sub = SubCalendar(
                connection_id=conn.id,
                remote_id=f"/{cname.lower()}/",
                name=cname,
                pull=True,
            )
            s.add(sub)
            s.flush()
            subs[cname] = sub.id
        client = Client(coach_id=coach.id, name="Bench Client", email="c@example.com")
        s.add(client)
        s.flush()
        type_ids = [t.id for t in types]
        coach_id, slug = coach.id, coach.slug
        client_id = client.id
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "coach_id": coach_id,
            "sub_calendar_id": subs[e.calendar],
            "remote_id": e.remote_id,
            "occurrence": e.occurrence,
            "uid": e.remote_id,
            "etag": "",
            "summary": e.remote_id,
            "start": e.start,
            "end": e.end,
            "all_day": e.all_day,
            "busy": e.busy,
            "updated_at": now,
        }
        for e in cal.events
    ]
    appts = [
        {
            "coach_id": coach_id,
            "client_id": client_id,
            "appointment_type_id": type_ids[t],
            "start": s,
            "end": e,
            "status": "confirmed",
            "note": "",
            "invitee_timezone": "",
            "version": 1,
            "created_at": now,
        }
        for s, e, t in cal.appointments
    ]
    with session_scope(url) as s:
        for i in range(0, len(rows), 2000):
            s.execute(sa.insert(ExternalEvent.__table__), rows[i : i + 2000])  # type: ignore[attr-defined]
        if appts:
            s.execute(sa.insert(Appointment.__table__), appts)  # type: ignore[attr-defined]
    return Seeded(coach_id, slug, type_ids)
