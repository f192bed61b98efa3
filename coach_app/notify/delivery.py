"""Sending the outbox: transports, `deliver_due`, and the delivery loop.

Configuration (environment; read by `transport_from_env()`, which the loop
calls once when it starts):

| variable | meaning | default |
| --- | --- | --- |
| `COACH_APP_SMTP_HOST` | SMTP server to send through; when unset, mail is written as `.eml` files to `COACH_APP_MAIL_DIR` instead (no mail server needed) | none |
| `COACH_APP_SMTP_PORT` | its port | `587` (`465` when `COACH_APP_SMTP_SSL=1`) |
| `COACH_APP_SMTP_USER` | user name for SMTP AUTH; unset = no AUTH | none |
| `COACH_APP_SMTP_PASSWORD` | its password | none |
| `COACH_APP_SMTP_STARTTLS` | `1` = upgrade the connection with STARTTLS (certificate verified) before AUTH; `0` = plain | `1` when a user is set or the port is 587, else `0` |
| `COACH_APP_SMTP_SSL` | `1` = implicit TLS from the first byte (SMTPS, usually port 465) | `0` |
| `COACH_APP_MAIL_FROM` | the From of every email | `Coach App <no-reply@coach-app.local>` |
| `COACH_APP_MAIL_DIR` | folder for the `.eml` files when no SMTP host is set | `mail` (in the working directory) |

Delivery semantics:

- A row is due when `sent_at` is NULL and `next_attempt_at <= now`.
- Claim: one short transaction runs `UPDATE ... SET next_attempt_at = now + 5
  min, attempts = attempts + 1 WHERE id = ? AND sent_at IS NULL AND
  next_attempt_at <= now`; only the worker that sees rowcount 1 sends the
  row, so any number of workers (threads, processes, machines) never send the
  same row twice. No transaction is open while the mail server is talked to.
- `attempts` counts delivery attempts started (it is raised at the claim, so a
  worker that dies mid-send still counts one and cannot retry forever).
- Success: `sent_at` is set and `last_error` cleared.
- Failure: `last_error` gets a short plain sentence, and the next attempt is
  due after 30 s · 2^(attempts-1), capped at 1 h (30 s, 1 min, 2, 4, 8, 16,
  32 min, then hourly). After the 10th failed attempt, or at once when the
  server refuses the recipient address permanently (5xx), the row is given up:
  `sent_at` stays NULL and `next_attempt_at` is set to `NEVER`
  (9999-01-01 UTC); setting `next_attempt_at` back to now and `attempts` to 0
  retries it.
- At-least-once at the edges: a worker that stops between sending and marking
  `sent_at` (or a send taking longer than the 5-minute lease) lets another
  worker send the row again once the lease ends. Each email's Message-ID is
  derived from its dedupe key, so mail systems can recognise such a repeat.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import os
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import EmailOutbox, utcnow
from coach_app.notify import wakeup
from coach_app.notify.ics import ics_method
from coach_app.notify.wakeup import kick, wake_delivery
from coach_app.wake import wait_woken

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "DEFAULT_SENDER",
    "LEASE",
    "MAX_ATTEMPTS",
    "NEVER",
    "DeliveryError",
    "MaildirTransport",
    "SmtpTransport",
    "Transport",
    "backoff",
    "build_email",
    "deliver_due",
    "delivery_loop",
    "kick",
    "transport_from_env",
    "wake_delivery",
]

log = logging.getLogger(__name__)

DEFAULT_SENDER = "Coach App <no-reply@coach-app.local>"
DEFAULT_MAIL_DIR = "mail"
MAX_ATTEMPTS = 10
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)
LEASE = dt.timedelta(minutes=5)
NEVER = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
MAX_ERROR = 500


class DeliveryError(Exception):
    """A send that failed, with a short plain-words reason.

    `permanent` means retrying the same message cannot help (the server
    refused the recipient address).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class Transport(Protocol):
    sender: str

    def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise (preferably `DeliveryError`)."""
        ...


# --- the message ---------------------------------------------------------------


def _domain(address: str) -> str:
    _, addr = parseaddr(address)
    return addr.rpartition("@")[2] or "coach-app.local"


def message_id(dedupe_key: str, sender: str = DEFAULT_SENDER) -> str:
    """A Message-ID that is the same every time this outbox row is sent."""
    digest = hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{_domain(sender)}>"


def build_email(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    ics: str | None = None,
    msg_id: str | None = None,
    date: dt.datetime | None = None,
) -> EmailMessage:
    """A text/plain email; with `ics`, multipart/mixed with `invite.ics`
    (`text/calendar; method=REQUEST|CANCEL; charset=utf-8`)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = format_datetime((date or utcnow()).astimezone(dt.UTC))
    msg["Message-ID"] = msg_id or make_msgid(domain=_domain(sender))
    # RFC 3834: tells autoresponders (holiday replies) not to answer.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body, charset="utf-8")
    if ics is not None:
        msg.add_attachment(
            ics.encode("utf-8"),
            maintype="text",
            subtype="calendar",
            filename="invite.ics",
            params={"method": ics_method(ics), "charset": "utf-8"},
        )
    return msg


# --- transports ----------------------------------------------------------------


def _smtp_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())


def _plain_error(exc: BaseException, host: str, port: int) -> DeliveryError:
    where = f"{host}:{port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"The mail server refused the user name or password ({exc.smtp_code})."
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = exc.recipients
        detail = "; ".join(
            f"{addr}: {code} {_smtp_text(text)}"
            for addr, (code, text) in refused.items()
        )
        permanent = bool(refused) and all(code >= 500 for code, _ in refused.values())
        return DeliveryError(
            f"The mail server refused the address ({detail}).", permanent=permanent
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return DeliveryError(
            f"The mail server refused the sender address {exc.sender} "
            f"({exc.smtp_code} {_smtp_text(exc.smtp_error)})."
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"The mail server at {where} closed the connection.")
    if isinstance(exc, smtplib.SMTPResponseException):
        return DeliveryError(
            f"The mail server answered {exc.smtp_code} {_smtp_text(exc.smtp_error)}."
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"The mail server at {where} does not support: {exc}.")
    if isinstance(exc, smtplib.SMTPException):
        return DeliveryError(f"Mail server error: {exc}.")
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "verify_message", None) or exc.reason or str(exc)
        return DeliveryError(f"The secure connection to {where} failed ({reason}).")
    if isinstance(exc, socket.gaierror):
        return DeliveryError(f"The mail server name {host} could not be found.")
    if isinstance(exc, TimeoutError):
        return DeliveryError(f"The mail server at {where} did not answer in time.")
    if isinstance(exc, ConnectionRefusedError):
        return DeliveryError(
            f"Could not connect to the mail server at {where} (connection refused)."
        )
    if isinstance(exc, OSError):
        return DeliveryError(
            f"Could not reach the mail server at {where} ({exc.strerror or exc})."
        )
    return DeliveryError(f"Sending failed: {type(exc).__name__}: {exc}")


class SmtpTransport:
    """Sends through an SMTP server with stdlib `smtplib` (blocking: call
    `send` from a thread, or `await asend(...)`)."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        *,
        sender: str = DEFAULT_SENDER,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.sender = sender
        self.timeout = timeout
        self.ssl_context = ssl_context

    def __repr__(self) -> str:  # never shows the password
        tls = "ssl" if self.use_ssl else "starttls" if self.starttls else "plain"
        return f"SmtpTransport({self.host}:{self.port}, {tls}, user={self.username!r})"

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def send(self, message: EmailMessage) -> None:
        try:
            if self.use_ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.starttls and not self.use_ssl:
                    smtp.starttls(context=self._context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except DeliveryError:
            raise
        except Exception as exc:
            raise _plain_error(exc, self.host, self.port) from exc

    async def asend(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self.send, message)


class MaildirTransport:
    """The embedded default: each message becomes one RFC 5322 `.eml` file
    (CRLF line ends, same MIME structure as over SMTP) in `directory`, named
    `<UTC time>-<id>.eml` so a listing sorts by time. Files appear atomically
    (written aside, then renamed) and are readable by the owner only."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        sender: str = DEFAULT_SENDER,
    ) -> None:
        self.directory = Path(
            directory or os.environ.get("COACH_APP_MAIL_DIR") or DEFAULT_MAIL_DIR
        )
        self.sender = sender

    def __repr__(self) -> str:
        return f"MaildirTransport({str(self.directory)!r})"

    def send(self, message: EmailMessage) -> None:
        data = message.as_bytes(policy=policy.SMTP)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        ident = hashlib.sha256(str(message["Message-ID"]).encode() + data).hexdigest()
        name = f"{stamp}-{ident[:12]}.eml"
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.directory / f".{name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            final = self.directory / name
            os.replace(tmp, final)
        except OSError as exc:
            raise DeliveryError(
                f"Could not write the email to {self.directory} ({exc.strerror or exc})."
            ) from exc
        log.info("Email %s written to %s", message["Message-ID"], final)

    async def asend(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self.send, message)


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in ("1", "true", "yes", "on")


def transport_from_env() -> SmtpTransport | MaildirTransport:
    """SMTP when `COACH_APP_SMTP_HOST` is set, else `.eml` files (see above)."""
    sender = os.environ.get("COACH_APP_MAIL_FROM", "").strip() or DEFAULT_SENDER
    host = os.environ.get("COACH_APP_SMTP_HOST", "").strip()
    if not host:
        return MaildirTransport(sender=sender)
    use_ssl = _flag("COACH_APP_SMTP_SSL", False)
    port_text = os.environ.get("COACH_APP_SMTP_PORT", "").strip()
    port = int(port_text) if port_text else (465 if use_ssl else 587)
    username = os.environ.get("COACH_APP_SMTP_USER") or None
    password = os.environ.get("COACH_APP_SMTP_PASSWORD") or None
    starttls = _flag("COACH_APP_SMTP_STARTTLS", bool(username) or port == 587)
    return SmtpTransport(
        host,
        port,
        username,
        password,
        starttls=starttls and not use_ssl,
        use_ssl=use_ssl,
        sender=sender,
    )


# --- deliver_due -------------------------------------------------------------------


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


@dataclass(frozen=True)
class _Job:
    id: int
    dedupe_key: str
    to: str
    subject: str
    body: str
    ics: str | None
    attempts: int


def _claim(url: str | None, row_id: int, now: dt.datetime) -> _Job | None:
    t = EmailOutbox.__table__.c  # type: ignore[attr-defined]
    with session_scope(url) as s:
        claimed = s.exec(
            sa.update(EmailOutbox)
            .where(
                t.id == row_id,
                t.sent_at.is_(None),
                t.next_attempt_at <= now,
                t.attempts < MAX_ATTEMPTS,
            )
            .values(next_attempt_at=now + LEASE, attempts=t.attempts + 1)
        )
        if claimed.rowcount != 1:
            return None
        row = s.exec(
            sa.select(
                t.dedupe_key, t.to_addr, t.subject, t.body, t.ics, t.attempts
            ).where(t.id == row_id)
        ).one()
        return _Job(row_id, *row)


def _finish(url: str | None, row_id: int, **values: object) -> None:
    t = EmailOutbox.__table__.c  # type: ignore[attr-defined]
    with session_scope(url) as s:
        s.exec(
            sa.update(EmailOutbox)
            .where(t.id == row_id, t.sent_at.is_(None))
            .values(**values)
        )


def _failure(
    url: str | None, job: _Job, error: DeliveryError, now: dt.datetime
) -> None:
    message = error.message
    if error.permanent:
        next_at, message = NEVER, f"{message} Not retried."
    elif job.attempts >= MAX_ATTEMPTS:
        next_at, message = NEVER, f"{message} Gave up after {job.attempts} attempts."
    else:
        next_at = now + backoff(job.attempts)
    log.warning(
        "Email %s to %s failed (attempt %d): %s", job.id, job.to, job.attempts, message
    )
    _finish(url, job.id, next_attempt_at=next_at, last_error=message[:MAX_ERROR])


def deliver_due(
    url: str | None = None,
    transport: Transport | None = None,
    now: dt.datetime | None = None,
    limit: int = 50,
) -> int:
    """Send up to `limit` due outbox rows; returns how many were sent.

    Blocking (database and network): from async code run it with
    `asyncio.to_thread`. `now` pins the clock (tests); by default the real
    time is read at each step, so a long batch never claims with a stale time.
    """
    transport = transport or transport_from_env()
    clock: Callable[[], dt.datetime] = (lambda: now) if now is not None else utcnow
    t = EmailOutbox.__table__.c  # type: ignore[attr-defined]
    with session_scope(url) as s:
        ids = s.exec(
            select(EmailOutbox.id)
            .where(
                t.sent_at.is_(None),
                t.next_attempt_at <= clock(),
                t.attempts < MAX_ATTEMPTS,
            )
            .order_by(t.next_attempt_at, t.id)
            .limit(limit)
        ).all()
    sent = 0
    for row_id in ids:
        assert row_id is not None
        job = _claim(url, row_id, clock())
        if job is None:  # another worker has it
            continue
        try:
            message = build_email(
                sender=transport.sender,
                to=job.to,
                subject=job.subject,
                body=job.body,
                ics=job.ics,
                msg_id=message_id(job.dedupe_key, transport.sender),
                date=clock(),
            )
            transport.send(message)
        except DeliveryError as exc:
            _failure(url, job, exc, clock())
        except Exception as exc:  # a bug or bad data: recorded, retried, logged
            log.exception("Email %s could not be sent", job.id)
            error = DeliveryError(f"Sending failed: {type(exc).__name__}: {exc}")
            _failure(url, job, error, clock())
        else:
            _finish(url, job.id, sent_at=clock(), last_error="")
            sent += 1
    return sent


# --- the loop ------------------------------------------------------------------


async def delivery_loop(
    stop: asyncio.Event | None = None,
    interval: float = 5.0,
    *,
    url: str | None = None,
    transport: Transport | None = None,
    limit: int = 50,
) -> None:
    """Deliver due email every `interval` seconds, or at once when
    `wake_delivery()` is called, until `stop` is set (or the task is
    cancelled). Database and mail work run in a thread; an error is logged and
    the loop carries on."""
    loop = asyncio.get_running_loop()
    kicked = asyncio.Event()
    wakeup.register(loop, kicked)
    transport = transport or transport_from_env()
    log.info("Email delivery started: %r", transport)
    try:
        while stop is None or not stop.is_set():
            kicked.clear()
            try:
                sent = await asyncio.to_thread(deliver_due, url, transport, None, limit)
            except Exception:
                log.exception("Email delivery round failed; trying again later")
                sent = 0
            if sent >= limit:  # a full batch: more may be waiting
                continue
            await wait_woken(kicked, stop, interval)
    finally:
        wakeup.unregister(loop, kicked)
