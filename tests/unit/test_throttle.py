"""Log-in throttling (growing delay, per account and per address) and the
booking flood limit (per address and per coach)."""

from __future__ import annotations

import datetime as dt

import pytest
from argon2 import PasswordHasher

from coach_app.db import session_scope
from coach_app.security import passwords
from coach_app.services import auth, booking
from coach_app.services.errors import UserError
from coach_app.services.throttle import Throttled

T0 = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)
HOME = "198.51.100.7"
PASSWORD = "correct horse"


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests count attempts, not hashing cost: a light argon2."""
    light = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", light)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", light.hash("not a real password"))


@pytest.fixture(autouse=True)
def _policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACH_APP_LOGIN_FREE_TRIES", "5")
    monkeypatch.setenv("COACH_APP_LOGIN_DELAY", "30")
    monkeypatch.setenv("COACH_APP_LOGIN_MAX_DELAY", "900")
    for name in ("COACH_APP_BOOKING_LIMIT_ADDRESS", "COACH_APP_BOOKING_LIMIT_COACH"):
        monkeypatch.delenv(name, raising=False)


def sign_up(url: str, email: str = "ada@example.com") -> str:
    with session_scope(url) as s:
        coach = auth.sign_up(s, email, PASSWORD, "Ada Coach")
        return coach.slug


def attempt(
    url: str, email: str, password: str, at: dt.datetime, address: str = HOME
) -> str:
    """What the log-in form would say: "ok" or the message shown."""
    try:
        with session_scope(url) as s:
            auth.log_in(s, email, password, address, now=at)
    except UserError as exc:
        return str(exc)
    return "ok"


WRONG = auth.WRONG_LOGIN


def throttled(seconds: str | int) -> str:
    if isinstance(seconds, int):
        seconds = f"{seconds} second" + ("s" if seconds != 1 else "")
    return f"Too many log-in attempts. Please wait {seconds} and try again."


def test_forty_wrong_passwords_are_throttled_and_the_right_one_works_later(
    sqlite_url: str,
) -> None:
    sign_up(sqlite_url)
    answers = [
        attempt(
            sqlite_url, "ada@example.com", f"guess-{i}", T0 + dt.timedelta(seconds=i)
        )
        for i in range(40)
    ]
    assert answers[:5] == [WRONG] * 5
    # The fifth failure (at 4 s) blocked the account for 30 s; what follows
    # is refused unread, and does not extend the wait.
    assert answers[5:34] == [throttled(34 - i) for i in range(5, 34)]
    assert answers[34] == WRONG  # at 34 s one more guess is checked…
    # …and doubles the wait: 60 s from 34 s.
    assert answers[35:] == [throttled(94 - i) for i in range(35, 40)]
    # The right password is refused while the account waits…
    assert attempt(
        sqlite_url, "ada@example.com", PASSWORD, T0 + dt.timedelta(seconds=60)
    ) == throttled("34 seconds")
    # …and works once the delay has passed.
    late = T0 + dt.timedelta(seconds=94)
    assert attempt(sqlite_url, "ada@example.com", PASSWORD, late) == "ok"
    # A success forgets the account's failures.
    assert attempt(sqlite_url, "ada@example.com", "oops", late) == WRONG


def test_unknown_and_known_emails_get_the_same_answers(sqlite_url: str) -> None:
    sign_up(sqlite_url)

    def answers(email: str, address: str) -> list[str]:
        return [
            attempt(sqlite_url, email, "wrong", T0 + dt.timedelta(seconds=i), address)
            for i in range(8)
        ]

    known = answers("ada@example.com", "203.0.113.1")
    unknown = answers("nobody@example.com", "203.0.113.2")
    assert known == unknown
    assert known == [WRONG] * 5 + [throttled(29), throttled(28), throttled(27)]


def test_the_delay_doubles_up_to_the_maximum(sqlite_url: str) -> None:
    sign_up(sqlite_url)
    at = T0
    waits = []
    for _ in range(10):
        for _ in range(5 if not waits else 1):
            assert attempt(sqlite_url, "ada@example.com", "wrong", at) == WRONG
        message = attempt(sqlite_url, "ada@example.com", "wrong", at)
        seconds = message.split("wait ")[1].split(" and")[0]
        waits.append(seconds)
        step = {"seconds": 1, "minutes": 60}[seconds.split()[1]]
        at += dt.timedelta(seconds=int(seconds.split()[0]) * step)
    assert waits == [
        "30 seconds",
        "60 seconds",
        "2 minutes",
        "4 minutes",
        "8 minutes",
        "15 minutes",
        "15 minutes",
        "15 minutes",
        "15 minutes",
        "15 minutes",
    ]


def test_one_address_guessing_many_accounts_is_throttled(sqlite_url: str) -> None:
    for n in range(6):
        sign_up(sqlite_url, f"coach{n}@example.com")
    for n in range(5):  # four wrong guesses each: no account reaches five
        for k in range(4):
            at = T0 + dt.timedelta(seconds=n * 4 + k)
            assert attempt(sqlite_url, f"coach{n}@example.com", "x", at) == WRONG
    # The address has used its 20 free failures: it waits, even for another
    # account and the right password; another address does not.
    at = T0 + dt.timedelta(seconds=20)
    assert attempt(sqlite_url, "coach5@example.com", PASSWORD, at) == throttled(29)
    elsewhere = attempt(sqlite_url, "coach5@example.com", PASSWORD, at, "192.0.2.9")
    assert elsewhere == "ok"


def test_a_success_does_not_forgive_the_address(sqlite_url: str) -> None:
    """Logging in to one's own account must not reset the count of guesses
    at other accounts."""
    sign_up(sqlite_url, "mine@example.com")
    for n in range(19):
        at = T0 + dt.timedelta(seconds=n)
        assert attempt(sqlite_url, f"victim{n % 5}@example.com", "x", at) == WRONG
    at = T0 + dt.timedelta(seconds=19)
    assert attempt(sqlite_url, "mine@example.com", PASSWORD, at) == "ok"
    assert attempt(sqlite_url, "victim9@example.com", "x", at) == WRONG  # 20th
    assert attempt(sqlite_url, "mine@example.com", PASSWORD, at) == throttled(30)


def test_ipv6_addresses_count_by_their_64_bit_prefix(sqlite_url: str) -> None:
    for n in range(20):
        address = f"2001:db8:1:2::{n + 1:x}"
        at = T0 + dt.timedelta(seconds=n)
        attempt(sqlite_url, f"x{n % 4}@example.com", "x", at, address)
    at = T0 + dt.timedelta(seconds=20)
    assert attempt(
        sqlite_url, "y@example.com", "x", at, "2001:db8:1:2:ffff::1"
    ).startswith("Too many log-in attempts.")
    assert attempt(sqlite_url, "y@example.com", "x", at, "2001:db8:1:3::1") == WRONG


def test_failures_are_forgotten_an_hour_after_the_last_one(sqlite_url: str) -> None:
    sign_up(sqlite_url)
    for i in range(4):
        attempt(sqlite_url, "ada@example.com", "x", T0 + dt.timedelta(seconds=i))
    later = T0 + dt.timedelta(hours=1, minutes=1)
    for i in range(4):  # four more, an hour later: still below the five free
        at = later + dt.timedelta(seconds=i)
        assert attempt(sqlite_url, "ada@example.com", "x", at) == WRONG
    assert attempt(sqlite_url, "ada@example.com", PASSWORD, later) == "ok"


# -- booking floods --------------------------------------------------------------


def admit(url: str, slug: str, address: str, at: dt.datetime) -> str:
    try:
        with session_scope(url) as s:
            booking.admit(s, slug, address, now=at)
    except Throttled as exc:
        return str(exc)
    return "ok"


def test_one_address_may_try_ten_bookings_in_ten_minutes(sqlite_url: str) -> None:
    slug = sign_up(sqlite_url)
    answers = [
        admit(sqlite_url, slug, HOME, T0 + dt.timedelta(seconds=i)) for i in range(12)
    ]
    assert answers[:10] == ["ok"] * 10
    assert (
        answers[10:]
        == [
            "Too many bookings were tried in a short time. Please try again in "
            "10 minutes."
        ]
        * 2
    )
    assert admit(sqlite_url, slug, "192.0.2.1", T0 + dt.timedelta(seconds=12)) == "ok"
    assert admit(sqlite_url, slug, HOME, T0 + dt.timedelta(minutes=10)) == "ok"


def test_one_coach_takes_thirty_booking_attempts_in_ten_minutes(
    sqlite_url: str,
) -> None:
    slug = sign_up(sqlite_url)
    other = sign_up(sqlite_url, "bob@example.com")
    answers = [
        admit(sqlite_url, slug, f"192.0.2.{i}", T0 + dt.timedelta(seconds=i))
        for i in range(31)
    ]
    assert answers[:30] == ["ok"] * 30
    assert answers[30].startswith("Too many bookings were tried")
    assert admit(sqlite_url, other, "192.0.2.99", T0 + dt.timedelta(seconds=31)) == "ok"


def test_booking_limits_come_from_the_environment(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACH_APP_BOOKING_LIMIT_ADDRESS", "2/60")
    slug = sign_up(sqlite_url)
    answers = [admit(sqlite_url, slug, HOME, T0) for _ in range(3)]
    assert answers == ["ok", "ok", answers[2]] and answers[2] != "ok"
