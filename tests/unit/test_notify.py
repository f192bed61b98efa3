"""Email outbox, wording, invitations and delivery (real SMTP on loopback)."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import socket
import threading
import time
from collections import Counter
from email import policy
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from icalendar import Calendar
from sqlmodel import select

from coach_app.db import get_engine, session_scope
from coach_app.models import EmailOutbox
from coach_app.notify import delivery, messages, outbox
from coach_app.notify.delivery import (
    NEVER,
    MaildirTransport,
    SmtpTransport,
    deliver_due,
    delivery_loop,
    transport_from_env,
)
from coach_app.notify.outbox import appointment_key, enqueue, enqueue_message

UTC = dt.UTC
START = dt.datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
END = dt.datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
SENDER = "Coach App <no-reply@coach-app.local>"
PEOPLE = {
    "type_name": "Coaching session",
    "coach_name": "Ada Lovelace",
    "coach_email": "ada@example.com",
    "coach_tz": "Europe/London",
    "client_name": "Charles Babbage",
    "client_email": "charles@example.com",
}
LINKS = {
    "manage_url": "https://coach.example.com/manage/42.1796117400.sig",
    "booking_url": "https://coach.example.com/book/ada-lovelace",
}


def confirmation(**overrides: object) -> messages.Message:
    args: dict[str, object] = {
        "appointment_id": 42,
        "sequence": 1,
        "start": START,
        "end": END,
        **PEOPLE,
        **LINKS,
    }
    args.update(overrides)
    return messages.booking_confirmation_to_client(**args)  # type: ignore[arg-type]


def cancellation() -> messages.Message:
    return messages.cancelled_to_client(
        appointment_id=42, sequence=2, start=START, end=END, **PEOPLE, **LINKS
    )


def add(url: str, key: str, message: messages.Message | None = None) -> None:
    with session_scope(url) as s:
        enqueue_message(
            s,
            dedupe_key=key,
            to="charles@example.com",
            message=message or confirmation(),
        )


def rows(url: str) -> list[EmailOutbox]:
    with session_scope(url) as s:
        return list(s.exec(select(EmailOutbox).order_by(EmailOutbox.id)).all())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Collector:
    """aiosmtpd handler keeping every envelope; refuses `refuse` recipients."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.envelopes: list = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def start_smtp(port: int, handler: Collector) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


@pytest.fixture
def smtp():
    handler = Collector(refuse=("nobody@example.com",))
    port = free_port()
    controller = start_smtp(port, handler)
    yield port, handler
    controller.stop()


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def invite_of(msg: EmailMessage) -> tuple[EmailMessage, Calendar]:
    [part] = [p for p in msg.iter_attachments() if p.get_filename() == "invite.ics"]
    return part, Calendar.from_ical(part.get_content())  # type: ignore[return-value]


class Recorder:
    """An in-memory transport that can be told to go slowly."""

    sender = SENDER

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.sent: list[EmailMessage] = []
        self.lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        time.sleep(self.delay)
        with self.lock:
            self.sent.append(message)


# --- outbox -------------------------------------------------------------------


def test_enqueue_is_idempotent_by_dedupe_key_within_and_across_transactions(
    sqlite_url,
):
    with session_scope(sqlite_url) as s:
        first = enqueue(s, dedupe_key="k", to="a@example.com", subject="S", body="B")
        again = enqueue(s, dedupe_key="k", to="a@example.com", subject="S2", body="B2")
        assert first is not None and first.id is not None
        assert again is None
    with session_scope(sqlite_url) as s:
        later = enqueue(s, dedupe_key="k", to="a@example.com", subject="S3", body="B3")
        assert later is None
    assert [(r.dedupe_key, r.subject, r.body) for r in rows(sqlite_url)] == [
        ("k", "S", "B")
    ]


def test_enqueue_does_not_commit_the_callers_transaction(sqlite_url):
    with pytest.raises(RuntimeError), session_scope(sqlite_url) as s:
        enqueue(s, dedupe_key="k", to="a@example.com", subject="S", body="B")
        raise RuntimeError("the booking failed")
    assert rows(sqlite_url) == []


def test_duplicate_hitting_the_unique_constraint_keeps_the_callers_transaction(
    any_db_url, monkeypatch
):
    add(any_db_url, "dup")
    with session_scope(any_db_url) as s:
        enqueue(s, dedupe_key="before", to="a@example.com", subject="S", body="B")
        with monkeypatch.context() as m:
            # As if a concurrent transaction committed "dup" after our SELECT.
            m.setattr(outbox, "_exists", lambda session, key: False)
            assert (
                enqueue(s, dedupe_key="dup", to="a@example.com", subject="S", body="B")
                is None
            )
        enqueue(s, dedupe_key="after", to="a@example.com", subject="S", body="B")
    assert sorted(r.dedupe_key for r in rows(any_db_url)) == ["after", "before", "dup"]


@pytest.mark.postgres
def test_enqueue_losing_a_real_race_on_postgres_keeps_the_other_rows(postgres_url):
    errors: list[BaseException] = []
    outcome: dict[str, object] = {}

    def rival() -> None:
        try:
            with session_scope(postgres_url) as s:
                enqueue(s, dedupe_key="b-1", to="b@example.com", subject="S", body="B")
                # Blocks on the uncommitted "race" row, then loses.
                outcome["dup"] = enqueue(
                    s, dedupe_key="race", to="b@example.com", subject="S", body="B"
                )
                enqueue(s, dedupe_key="b-2", to="b@example.com", subject="S", body="B")
        except BaseException as exc:
            errors.append(exc)

    with session_scope(postgres_url) as s:
        enqueue(s, dedupe_key="race", to="a@example.com", subject="A", body="A")
        s.flush()
        thread = threading.Thread(target=rival)
        thread.start()
        with get_engine(postgres_url).connect() as probe:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                waiting = probe.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
                probe.rollback()
                if waiting:
                    break
                time.sleep(0.02)
            assert waiting == 1
    thread.join(10)
    assert errors == []
    assert outcome["dup"] is None
    assert sorted((r.dedupe_key, r.to_addr) for r in rows(postgres_url)) == [
        ("b-1", "b@example.com"),
        ("b-2", "b@example.com"),
        ("race", "a@example.com"),
    ]


# --- wording and invitations ---------------------------------------------------


def test_client_sees_times_in_their_zone_and_coach_in_theirs():
    client = confirmation(client_tz="Asia/Kolkata")
    assert "When: Tuesday 1 December 2026, 15:00–16:00 (Asia/Kolkata)" in client.body
    assert client.subject == (
        "Confirmed: Coaching session with Ada Lovelace on Tuesday 1 December 2026 at 15:00"
    )
    coach = messages.new_booking_to_coach(
        start=START,
        end=END,
        type_name="Coaching session",
        coach_name="Ada Lovelace",
        coach_tz="Europe/London",
        client_name="Charles Babbage",
        client_email="charles@example.com",
        note="About my career.",
    )
    assert "When: Tuesday 1 December 2026, 09:30–10:30 (Europe/London)" in coach.body
    assert "Their note:\nAbout my career." in coach.body
    assert coach.ics is None


def test_client_zone_defaults_to_the_coachs_and_survives_a_bad_name():
    summer = dt.datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    for client_tz in (None, "Mars/Olympus"):
        msg = confirmation(
            client_tz=client_tz, start=summer, end=summer + dt.timedelta(hours=1)
        )
        assert "When: Wednesday 1 July 2026, 10:30–11:30 (Europe/London)" in msg.body


def test_appointment_across_local_midnight_names_both_days():
    assert messages.format_when(
        dt.datetime(2026, 12, 1, 18, 0, tzinfo=UTC),
        dt.datetime(2026, 12, 1, 19, 0, tzinfo=UTC),
        "Asia/Kolkata",
    ) == (
        "Tuesday 1 December 2026, 23:30 – Wednesday 2 December 2026, 00:30 "
        "(Asia/Kolkata)"
    )


def test_every_email_is_signed_and_plain():
    built = [
        confirmation(),
        cancellation(),
        messages.rescheduled_to_client(
            appointment_id=42,
            sequence=2,
            old_start=START,
            old_end=END,
            start=START + dt.timedelta(days=1),
            end=END + dt.timedelta(days=1),
            **PEOPLE,
            **LINKS,
        ),
        messages.reconnect_calendar_to_coach(
            coach_name="Ada Lovelace",
            service="iCloud",
            account_label="ada@icloud.com",
            error="The app-specific password was revoked.",
        ),
    ]
    for msg in built:
        assert msg.body.endswith("\n\n— Coach App\n")
    reconnect = built[-1]
    assert reconnect.subject == "Please reconnect your iCloud calendar (ada@icloud.com)"
    assert "The reason given: The app-specific password was revoked." in reconnect.body


def test_client_emails_carry_the_manage_and_booking_links_not_write_to():
    moved = messages.rescheduled_to_client(
        appointment_id=42,
        sequence=2,
        old_start=START,
        old_end=END,
        start=START + dt.timedelta(days=1),
        end=END + dt.timedelta(days=1),
        **PEOPLE,
        **LINKS,
    )
    for msg in (confirmation(), moved, cancellation()):
        assert LINKS["manage_url"] in msg.body
        assert LINKS["booking_url"] in msg.body
        assert "write to" not in msg.body
    assert f"To reschedule or cancel: {LINKS['manage_url']}" in confirmation().body
    invite = Calendar.from_ical(confirmation().ics).walk("VEVENT")[0]
    assert LINKS["manage_url"] in str(invite["DESCRIPTION"])


def test_coach_is_told_when_the_client_moves_or_cancels():
    who = {
        "type_name": "Coaching session",
        "coach_name": "Ada Lovelace",
        "coach_tz": "Europe/London",
        "client_name": "Charles Babbage",
        "client_email": "charles@example.com",
    }
    moved = messages.client_rescheduled_to_coach(
        old_start=START,
        old_end=END,
        start=START + dt.timedelta(days=1),
        end=END + dt.timedelta(days=1),
        **who,
    )
    assert moved.subject == (
        "Rescheduled by Charles Babbage: Coaching session, "
        "now Wednesday 2 December 2026 at 09:30"
    )
    assert "Was: Tuesday 1 December 2026, 09:30–10:30 (Europe/London)" in moved.body
    gone = messages.client_cancelled_to_coach(start=START, end=END, **who)
    assert gone.subject.startswith("Cancelled by Charles Babbage")
    assert "open again on your booking page" in gone.body


def test_reschedule_invite_keeps_the_uid_and_raises_the_sequence():
    first = Calendar.from_ical(confirmation().ics)
    moved = messages.rescheduled_to_client(
        appointment_id=42,
        sequence=2,
        old_start=START,
        old_end=END,
        start=START + dt.timedelta(days=1),
        end=END + dt.timedelta(days=1),
        client_tz="Asia/Kolkata",
        **PEOPLE,
        **LINKS,
    )
    assert (
        "New time: Wednesday 2 December 2026, 15:00–16:00 (Asia/Kolkata)" in moved.body
    )
    assert "Was: Tuesday 1 December 2026, 15:00–16:00 (Asia/Kolkata)" in moved.body
    second = Calendar.from_ical(moved.ics)
    [a], [b] = first.walk("VEVENT"), second.walk("VEVENT")
    assert str(a["UID"]) == str(b["UID"]) == "appointment-42@coach-app"
    assert (a["SEQUENCE"], b["SEQUENCE"]) == (1, 2)
    assert str(second["METHOD"]) == "REQUEST"
    assert b.decoded("DTSTART") == START + dt.timedelta(days=1)


# --- delivery over real SMTP ---------------------------------------------------


def test_confirmation_is_delivered_over_smtp_with_an_invite(sqlite_url, smtp):
    port, handler = smtp
    add(sqlite_url, appointment_key("confirm-client", 42, 1))
    now = dt.datetime.now(UTC) + dt.timedelta(seconds=1)

    sent = deliver_due(sqlite_url, SmtpTransport("127.0.0.1", port), now=now)

    assert sent == 1
    [envelope] = handler.envelopes
    assert envelope.mail_from == "no-reply@coach-app.local"
    assert envelope.rcpt_tos == ["charles@example.com"]
    msg = parse(envelope.content)
    assert msg["Subject"] == (
        "Confirmed: Coaching session with Ada Lovelace on Tuesday 1 December 2026 at 09:30"
    )
    assert msg["Message-ID"] == delivery.message_id("appointment-42:v1:confirm-client")
    assert "Your Coaching session with Ada Lovelace is booked." in (
        msg.get_body(("plain",)).get_content()
    )
    part, cal = invite_of(msg)
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "REQUEST"
    assert part.get_param("charset") == "utf-8"
    assert str(cal["METHOD"]) == "REQUEST"
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == "appointment-42@coach-app"
    assert event.decoded("DTSTART") == START
    assert event.decoded("DTEND") == END
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["ORGANIZER"]) == "mailto:ada@example.com"
    assert str(event["ATTENDEE"]) == "mailto:charles@example.com"
    [row] = rows(sqlite_url)
    assert (row.sent_at, row.attempts, row.last_error) == (now, 1, "")


def test_cancellation_is_delivered_with_method_cancel(sqlite_url, smtp):
    port, handler = smtp
    add(sqlite_url, appointment_key("cancelled-client", 42, 2), cancellation())

    deliver_due(sqlite_url, SmtpTransport("127.0.0.1", port))

    [envelope] = handler.envelopes
    part, cal = invite_of(parse(envelope.content))
    assert part.get_param("method") == "CANCEL"
    assert str(cal["METHOD"]) == "CANCEL"
    [event] = cal.walk("VEVENT")
    assert (str(event["UID"]), event["SEQUENCE"], str(event["STATUS"])) == (
        "appointment-42@coach-app",
        2,
        "CANCELLED",
    )


def test_server_down_backs_off_then_delivers_when_up_and_due(sqlite_url):
    port = free_port()
    transport = SmtpTransport("127.0.0.1", port, timeout=5)
    add(sqlite_url, "k")
    t0 = dt.datetime.now(UTC) + dt.timedelta(seconds=1)

    assert deliver_due(sqlite_url, transport, now=t0) == 0
    [row] = rows(sqlite_url)
    assert row.sent_at is None
    assert row.attempts == 1
    assert row.last_error == (
        f"Could not connect to the mail server at 127.0.0.1:{port} (connection refused)."
    )
    assert row.next_attempt_at == t0 + dt.timedelta(seconds=30)

    handler = Collector()
    controller = start_smtp(port, handler)
    try:
        assert (
            deliver_due(sqlite_url, transport, now=t0 + dt.timedelta(seconds=29)) == 0
        )
        assert handler.envelopes == []
        t1 = t0 + dt.timedelta(seconds=30)
        assert deliver_due(sqlite_url, transport, now=t1) == 1
    finally:
        controller.stop()
    assert len(handler.envelopes) == 1
    [row] = rows(sqlite_url)
    assert (row.sent_at, row.attempts, row.last_error) == (t1, 2, "")


def test_backoff_doubles_from_30_seconds_and_caps_at_an_hour():
    assert [delivery.backoff(n).total_seconds() for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]


def test_tenth_failure_gives_up(sqlite_url):
    add(sqlite_url, "k")
    with session_scope(sqlite_url) as s:
        s.exec(sa.update(EmailOutbox).values(attempts=9))
    transport = SmtpTransport("127.0.0.1", free_port(), timeout=5)
    now = dt.datetime.now(UTC) + dt.timedelta(seconds=1)

    assert deliver_due(sqlite_url, transport, now=now) == 0
    [row] = rows(sqlite_url)
    assert (row.sent_at, row.attempts, row.next_attempt_at) == (None, 10, NEVER)
    assert row.last_error.endswith("(connection refused). Gave up after 10 attempts.")
    assert deliver_due(sqlite_url, transport, now=NEVER) == 0


def test_recipient_refused_for_good_is_not_retried(sqlite_url, smtp):
    port, handler = smtp
    with session_scope(sqlite_url) as s:
        enqueue(s, dedupe_key="k", to="nobody@example.com", subject="S", body="B")

    assert deliver_due(sqlite_url, SmtpTransport("127.0.0.1", port)) == 0
    [row] = rows(sqlite_url)
    assert (row.sent_at, row.attempts, row.next_attempt_at) == (None, 1, NEVER)
    assert row.last_error == (
        "The mail server refused the address "
        "(nobody@example.com: 550 5.1.1 No such user here). Not retried."
    )
    assert handler.envelopes == []


def test_two_concurrent_workers_send_each_message_exactly_once(any_db_url):
    keys = [f"k-{i}" for i in range(20)]
    with session_scope(any_db_url) as s:
        for key in keys:
            enqueue(s, dedupe_key=key, to="a@example.com", subject=key, body="B")
    now = dt.datetime.now(UTC) + dt.timedelta(seconds=1)
    transport = Recorder(delay=0.01)
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def worker() -> None:
        barrier.wait()
        counts.append(deliver_due(any_db_url, transport, now=now))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sum(counts) == 20
    assert Counter(m["Subject"] for m in transport.sent) == Counter(keys)
    assert all(r.sent_at == now and r.attempts == 1 for r in rows(any_db_url))


# --- the embedded transport and configuration ----------------------------------


def test_maildir_transport_writes_a_parseable_eml_with_the_invite(sqlite_url, tmp_path):
    add(sqlite_url, "k")
    folder = tmp_path / "mail"

    assert deliver_due(sqlite_url, MaildirTransport(folder)) == 1

    [path] = list(folder.iterdir())
    assert path.suffix == ".eml"
    raw = path.read_bytes()
    assert b"\r\n" in raw
    msg = parse(raw)
    assert (msg["From"], msg["To"]) == (SENDER, "charles@example.com")
    assert msg.get_content_type() == "multipart/mixed"
    part, cal = invite_of(msg)
    assert part.get_param("method") == "REQUEST"
    [event] = cal.walk("VEVENT")
    assert (str(event["UID"]), event.decoded("DTSTART")) == (
        "appointment-42@coach-app",
        START,
    )


def test_transport_from_env_picks_smtp_or_the_mail_folder(monkeypatch, tmp_path):
    for name in ("HOST", "PORT", "USER", "PASSWORD", "STARTTLS", "SSL"):
        monkeypatch.delenv(f"COACH_APP_SMTP_{name}", raising=False)
    monkeypatch.delenv("COACH_APP_MAIL_FROM", raising=False)
    monkeypatch.setenv("COACH_APP_MAIL_DIR", str(tmp_path / "out"))
    embedded = transport_from_env()
    assert isinstance(embedded, MaildirTransport)
    assert (embedded.directory, embedded.sender) == (tmp_path / "out", SENDER)

    monkeypatch.setenv("COACH_APP_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("COACH_APP_SMTP_USER", "ada")
    monkeypatch.setenv("COACH_APP_SMTP_PASSWORD", "secret")
    monkeypatch.setenv("COACH_APP_MAIL_FROM", "Ada <ada@example.com>")
    smtp = transport_from_env()
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.host, smtp.port, smtp.username, smtp.password) == (
        "smtp.example.com",
        587,
        "ada",
        "secret",
    )
    assert (smtp.starttls, smtp.use_ssl, smtp.sender) == (
        True,
        False,
        "Ada <ada@example.com>",
    )
    assert "secret" not in repr(smtp)

    monkeypatch.setenv("COACH_APP_SMTP_SSL", "1")
    smtps = transport_from_env()
    assert (smtps.port, smtps.starttls, smtps.use_ssl) == (465, False, True)

    monkeypatch.delenv("COACH_APP_SMTP_SSL")
    monkeypatch.delenv("COACH_APP_SMTP_USER")
    monkeypatch.setenv("COACH_APP_SMTP_PORT", "1025")
    local = transport_from_env()
    assert (local.port, local.starttls, local.use_ssl) == (1025, False, False)


# --- the loop -------------------------------------------------------------------


async def test_delivery_loop_sends_at_once_when_a_commit_wakes_it(sqlite_url):
    transport = Recorder()
    stop = asyncio.Event()
    task = asyncio.create_task(
        delivery_loop(stop, interval=60, url=sqlite_url, transport=transport)
    )
    await asyncio.sleep(0.1)  # the first round found nothing; now it waits 60 s

    await asyncio.to_thread(add, sqlite_url, "k")  # commits in another thread
    async with asyncio.timeout(5):
        while not transport.sent:
            await asyncio.sleep(0.01)

    stop.set()
    async with asyncio.timeout(5):
        await task
    assert [m["Subject"] for m in transport.sent] == [confirmation().subject]
