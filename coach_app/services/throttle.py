"""Throttling: a growing delay for failed log-ins, a rate limit for bookings.

Log-in. Failures are counted per account — the normalised email, hashed,
whether or not an account has it, so every email is answered alike — and per
client address (an IPv6 address by its /64, which one subscriber usually
holds whole). After ``free_tries`` failures of an account (four times as many
of an address) every further failure blocks that key for a delay that
doubles each time: ``delay``, 2·``delay``, … up to ``max_delay``. While a key
of an attempt is blocked the attempt is refused before any password is
looked at, with the same plain message for known and unknown emails; such a
refusal tests nothing, so it does not count. A successful log-in forgets the
account's failures (not the address's: one's own account must not reset the
counter for guessing others'); any key's failures are forgotten
``FORGET_AFTER`` after its last one.

Booking. Per client address and per coach, at most ``limit`` booking
attempts per ``window`` seconds (a fixed window); beyond that the invitee is
asked to try again later. The per-coach limit holds a flood from many
addresses off one coach's calendar and inbox.

Configuration (environment, read on every call):

- ``COACH_APP_LOGIN_FREE_TRIES`` (5), ``COACH_APP_LOGIN_DELAY`` (seconds,
  30), ``COACH_APP_LOGIN_MAX_DELAY`` (seconds, 900);
- ``COACH_APP_BOOKING_LIMIT_ADDRESS`` (``10/600``: 10 per 600 s) and
  ``COACH_APP_BOOKING_LIMIT_COACH`` (``30/600``).

The counters live in the database (``Throttle``), so every worker of a
scaled-out deployment sees the same ones; the row is read ``FOR UPDATE``
(on SQLite every write transaction is ``BEGIN IMMEDIATE`` anyway), so
concurrent attempts are counted one by one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math
import os
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from coach_app.models import Throttle
from coach_app.services.errors import UserError

FORGET_AFTER = dt.timedelta(hours=1)
ADDRESS_FACTOR = 4  # an address may fail this many times more than an account


class Throttled(UserError):
    """Refused for now; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginPolicy:
    free_tries: int = 5
    delay: float = 30.0
    max_delay: float = 900.0

    @classmethod
    def from_env(cls) -> LoginPolicy:
        return cls(
            free_tries=int(_number("COACH_APP_LOGIN_FREE_TRIES", cls.free_tries, 1)),
            delay=_number("COACH_APP_LOGIN_DELAY", cls.delay, 0.1),
            max_delay=_number("COACH_APP_LOGIN_MAX_DELAY", cls.max_delay, 0.1),
        )


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window: float  # seconds

    @classmethod
    def from_env(cls, name: str, default: str) -> RateLimit:
        for text in (os.environ.get(name, ""), default):
            count, _, seconds = text.partition("/")
            try:
                limit = cls(int(count), float(seconds))
            except ValueError:
                continue
            if limit.limit >= 1 and limit.window > 0:
                return limit
        raise AssertionError(f"bad default for {name}")


# -- log-in -------------------------------------------------------------------


def check_login(
    session: Session,
    email: str,
    address: str | None,
    now: dt.datetime,
) -> None:
    """Raise ``Throttled`` if this account or address must wait."""
    waits = []
    for key, _ in _login_keys(email, address, LoginPolicy.from_env()):
        row = _row(session, key)
        if row is not None and row.blocked_until and row.blocked_until > now:
            waits.append((row.blocked_until - now).total_seconds())
    if waits:
        wait = max(waits)
        raise Throttled(
            f"Too many log-in attempts. Please wait {_duration(wait)} and try again.",
            wait,
        )


def login_failed(
    session: Session, email: str, address: str | None, now: dt.datetime
) -> None:
    """Count a failed log-in; block the keys that used up their free tries."""
    policy = LoginPolicy.from_env()
    for key, free in _login_keys(email, address, policy):
        row = _row(session, key, now, create=True)
        assert row is not None
        if now - row.last_at > FORGET_AFTER and not (
            row.blocked_until and row.blocked_until > now
        ):
            row.count, row.first_at = 0, now
        row.count += 1
        row.last_at = now
        if row.count >= free:
            seconds = min(policy.delay * 2 ** (row.count - free), policy.max_delay)
            row.blocked_until = now + dt.timedelta(seconds=seconds)
        session.add(row)
    session.flush()


def login_succeeded(session: Session, email: str) -> None:
    """Forget the account's failures."""
    key = _account_key(email)
    session.exec(sa.delete(Throttle).where(Throttle.key == key))  # type: ignore[arg-type]


# -- booking ------------------------------------------------------------------


def admit_booking(
    session: Session, coach_id: int, address: str | None, now: dt.datetime
) -> None:
    """Count one booking attempt; ``Throttled`` if the address or the coach
    had too many in the current window."""
    limits = [(f"book:coach:{coach_id}", _coach_limit())]
    if address:
        limits.append((f"book:address:{_address_key(address)}", _address_limit()))
    rows = []
    for key, limit in limits:
        row = _row(session, key, now, create=True)
        assert row is not None
        window = dt.timedelta(seconds=limit.window)
        if now - row.first_at >= window:
            row.count, row.first_at = 0, now
        if row.count >= limit.limit:
            wait = (row.first_at + window - now).total_seconds()
            raise Throttled(
                "Too many bookings were tried in a short time. Please try "
                f"again in {_duration(wait)}.",
                wait,
            )
        rows.append(row)
    for row in rows:
        row.count += 1
        row.last_at = now
        session.add(row)
    session.flush()


# -- helpers -------------------------------------------------------------------


def _login_keys(
    email: str, address: str | None, policy: LoginPolicy
) -> list[tuple[str, int]]:
    keys = [(_account_key(email), policy.free_tries)]
    if address:
        keys.append(
            (
                f"login:address:{_address_key(address)}",
                policy.free_tries * ADDRESS_FACTOR,
            )
        )
    return keys


def _account_key(email: str) -> str:
    normal = (email or "").strip().lower()
    return "login:account:" + hashlib.sha256(normal.encode()).hexdigest()[:40]


def _address_key(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _row(
    session: Session, key: str, now: dt.datetime | None = None, create: bool = False
) -> Throttle | None:
    query = select(Throttle).where(Throttle.key == key).with_for_update()
    row = session.exec(query).first()
    if row is not None or not create:
        return row
    assert now is not None
    try:
        with session.begin_nested():
            session.add(Throttle(key=key, count=0, first_at=now, last_at=now))
    except sa.exc.IntegrityError:
        pass  # another attempt created it meanwhile
    return session.exec(query).first()


def _address_limit() -> RateLimit:
    return RateLimit.from_env("COACH_APP_BOOKING_LIMIT_ADDRESS", "10/600")


def _coach_limit() -> RateLimit:
    return RateLimit.from_env("COACH_APP_BOOKING_LIMIT_COACH", "30/600")


def _number(name: str, default: float, minimum: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value >= minimum and math.isfinite(value) else default


def _duration(seconds: float) -> str:
    seconds = max(1, math.ceil(seconds))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"
