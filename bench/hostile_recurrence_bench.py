"""Hostile recurrence benchmark: a full sync of a calendar holding endless
``FREQ=SECONDLY`` and ``FREQ=MINUTELY`` series, against a loopback Radicale.

Two CalDAV connections of one coach, synced alternately from scratch (no
cursor, no stored rows) in each round:

* ``plain``: 40 ordinary events (every fourth a weekly series);
* ``hostile``: the same 40 events plus three endless series — every second
  of the day (free), 30 s of every minute 13:00–14:00 on Tuesdays and
  Thursdays, and every second 09:00–09:30 on Wednesdays.

Prints, per connection, the median and p95 of the sync time over the rounds
(≥ 30 samples for p95), the rows stored, and the ratio of the medians: the
hostile series must cost little on top of the same calendar without them.
Targets: hostile sync p95 < 2 s and ≤ 3,000 rows. Exit status 1 if missed.

    .venv/bin/python bench/hostile_recurrence_bench.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import select

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from providers.servers import RunningServer, start_radicale  # noqa: E402

from coach_app.db import session_scope  # noqa: E402
from coach_app.migrations import upgrade  # noqa: E402
from coach_app.models import (  # noqa: E402
    CalendarConnection,
    ExternalEvent,
    SubCalendar,
    SyncCursor,
)
from coach_app.security import secrets  # noqa: E402
from coach_app.services import auth  # noqa: E402
from coach_app.sync.engine import sync_connection  # noqa: E402

NOW = datetime(2030, 1, 7, tzinfo=UTC)
HOSTILE = [
    ("clock", "FREQ=SECONDLY", "000001", "TRANSP:TRANSPARENT"),
    ("heartbeat", "FREQ=MINUTELY;BYHOUR=13;BYDAY=TU,TH", "000030", ""),
    (
        "ticker",
        "FREQ=SECONDLY;BYDAY=WE;BYHOUR=9;BYMINUTE=" + ",".join(map(str, range(30))),
        "000001",
        "",
    ),
]


def ics(uid: str, *lines: str) -> str:
    body = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Coach App//Bench//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20300101T000000Z",
        *[line for line in lines if line],
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(body)


def plain_events() -> list[tuple[str, str]]:
    fmt = "%Y%m%dT%H%M%SZ"
    out = []
    for i in range(40):
        start = NOW + timedelta(days=i % 20, hours=9 + i % 7)
        out.append(
            (
                f"plain-{i}.ics",
                ics(
                    f"plain-{i}",
                    f"DTSTART:{start:{fmt}}",
                    f"DTEND:{start + timedelta(minutes=45):{fmt}}",
                    f"SUMMARY:Event {i}",
                    "RRULE:FREQ=WEEKLY;COUNT=12" if i % 4 == 0 else "",
                ),
            )
        )
    return out


def hostile_events() -> list[tuple[str, str]]:
    return [
        (
            f"{name}.ics",
            ics(
                name,
                "DTSTART:20300101T000000Z",
                f"DTEND:20300101T{length}Z",
                f"RRULE:{rule}",
                f"SUMMARY:{name}",
                extra,
            ),
        )
        for name, rule, length, extra in HOSTILE
    ]


def make_calendar(server: RunningServer, name: str, items: list[tuple[str, str]]):
    url = server.home_url + name + "/"
    admin = server.admin()
    admin.mkcalendar(url, name)
    for href, text in items:
        admin.put(url + href, text)
    admin.close()
    return url


def make_connection(db: str, coach_id: int, server: RunningServer, cal: str) -> int:
    with session_scope(db) as s:
        connection = CalendarConnection(
            coach_id=coach_id,
            provider="caldav",
            account_label="Bench",
            server_url=server.base_url,
            username=server.username,
            secret_encrypted=secrets.encrypt(server.password),
        )
        s.add(connection)
        s.flush()
        s.add(
            SubCalendar(
                connection_id=connection.id, remote_id=cal, name="Work", pull=True
            )
        )
        assert connection.id is not None
        return connection.id


def reset(db: str, connection_id: int) -> None:
    """Forget everything pulled, so the next sync is a first one."""
    with session_scope(db) as s:
        subs = select(SubCalendar.id).where(SubCalendar.connection_id == connection_id)
        s.exec(sa.delete(SyncCursor).where(SyncCursor.sub_calendar_id.in_(subs)))  # type: ignore[attr-defined]
        s.exec(sa.delete(ExternalEvent).where(ExternalEvent.sub_calendar_id.in_(subs)))  # type: ignore[attr-defined]
        connection = s.get(CalendarConnection, connection_id)
        assert connection is not None
        connection.next_sync_at = None
        s.add(connection)


def rows(db: str, connection_id: int) -> int:
    with session_scope(db) as s:
        subs = select(SubCalendar.id).where(SubCalendar.connection_id == connection_id)
        return len(
            s.exec(
                select(ExternalEvent.id).where(ExternalEvent.sub_calendar_id.in_(subs))  # type: ignore[attr-defined]
            ).all()
        )


async def timed_sync(db: str, connection_id: int) -> float:
    reset(db, connection_id)
    began = time.perf_counter()
    result = await sync_connection(connection_id, url=db, now=NOW)
    elapsed = time.perf_counter() - began
    assert result.status == "ok", result
    return elapsed


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COACH_APP_KEY_FILE"] = str(Path(tmp) / "key")
        os.environ["COACH_APP_URL_ALLOWLIST"] = "127.0.0.1"
        (Path(tmp) / "radicale").mkdir()
        server = start_radicale(Path(tmp) / "radicale")
        try:
            db = f"sqlite:///{Path(tmp) / 'bench.db'}"
            upgrade(db)
            with session_scope(db) as s:
                coach = auth.sign_up(s, "bench@example.com", "password-1", "Bench")
                coach_id = coach.id
            assert coach_id is not None
            plain = make_calendar(server, "plain", plain_events())
            hostile = make_calendar(
                server, "hostile", plain_events() + hostile_events()
            )
            ids = {
                "plain": make_connection(db, coach_id, server, plain),
                "hostile": make_connection(db, coach_id, server, hostile),
            }
            samples: dict[str, list[float]] = {name: [] for name in ids}
            for connection_id in ids.values():  # warm-up
                asyncio.run(timed_sync(db, connection_id))
            for _ in range(args.rounds):
                for name, connection_id in ids.items():
                    samples[name].append(asyncio.run(timed_sync(db, connection_id)))
            stored = {
                name: rows(db, connection_id) for name, connection_id in ids.items()
            }
        finally:
            server.stop()
    print(f"full sync from scratch, {args.rounds} samples each")
    for name in ids:
        print(
            f"  {name:8s} median {statistics.median(samples[name]) * 1000:7.1f} ms"
            f"  p95 {p95(samples[name]) * 1000:7.1f} ms  rows {stored[name]}"
        )
    ratio = statistics.median(samples["hostile"]) / statistics.median(samples["plain"])
    print(f"  hostile / plain (medians): {ratio:.2f}")
    ok = p95(samples["hostile"]) < 2.0 and stored["hostile"] <= 3000
    print("targets (p95 < 2 s, ≤ 3,000 rows):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
