"""Coach accounts: sign-up, log-in, sessions, log-out."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from coach_app.db import session_scope
from coach_app.models import Coach, LoginSession
from coach_app.services import auth
from coach_app.services.errors import UserError


def _sign_up(url: str, email: str = "ada@example.com", name: str = "Ada Coach") -> int:
    with session_scope(url) as s:
        coach = auth.sign_up(s, email, "correct horse", name, "Europe/London")
        assert coach.id is not None
        return coach.id


def test_sign_up_stores_argon2_hash_not_password(sqlite_url):
    _sign_up(sqlite_url)
    with session_scope(sqlite_url) as s:
        coach = s.exec(select(Coach)).one()
    assert coach.password_hash.startswith("$argon2id$")
    assert "correct horse" not in coach.password_hash
    assert coach.slug == "ada-coach"
    assert coach.timezone == "Europe/London"


def test_duplicate_email_gets_clear_message(sqlite_url):
    _sign_up(sqlite_url)
    with (
        pytest.raises(UserError, match="already exists"),
        session_scope(sqlite_url) as s,
    ):
        auth.sign_up(s, "ADA@example.com ", "another pass", "Ada Again")
    with session_scope(sqlite_url) as s:
        assert len(s.exec(select(Coach)).all()) == 1


def test_same_name_gets_distinct_slug(sqlite_url):
    _sign_up(sqlite_url, "a@example.com", "Sam Lee")
    _sign_up(sqlite_url, "b@example.com", "Sam Lee")
    with session_scope(sqlite_url) as s:
        assert sorted(s.exec(select(Coach.slug)).all()) == ["sam-lee", "sam-lee-2"]


@pytest.mark.parametrize(
    ("email", "password", "name", "message"),
    [
        ("not-an-email", "long enough", "X", "valid email"),
        ("x@example.com", "short", "X", "at least 8"),
        ("x@example.com", "long enough", "  ", "your name"),
    ],
)
def test_bad_sign_up_input_is_refused_and_nothing_saved(
    sqlite_url, email, password, name, message
):
    with pytest.raises(UserError, match=message), session_scope(sqlite_url) as s:
        auth.sign_up(s, email, password, name)
    with session_scope(sqlite_url) as s:
        assert s.exec(select(Coach)).all() == []


def test_wrong_password_gives_clear_message_and_no_session(sqlite_url):
    _sign_up(sqlite_url)
    with pytest.raises(UserError) as err, session_scope(sqlite_url) as s:
        auth.log_in(s, "ada@example.com", "wrong password")
    assert str(err.value) == auth.WRONG_LOGIN
    with session_scope(sqlite_url) as s:
        assert s.exec(select(LoginSession)).all() == []


def test_unknown_email_gets_the_same_message_as_wrong_password(sqlite_url):
    with pytest.raises(UserError) as err, session_scope(sqlite_url) as s:
        auth.log_in(s, "nobody@example.com", "whatever1")
    assert str(err.value) == auth.WRONG_LOGIN


def test_login_token_finds_coach_and_only_its_hash_is_stored(sqlite_url):
    coach_id = _sign_up(sqlite_url)
    with session_scope(sqlite_url) as s:
        ticket = auth.log_in(s, "Ada@Example.com", "correct horse")
    with session_scope(sqlite_url) as s:
        assert s.exec(select(LoginSession)).all() == []  # not before the trade
        token = auth.redeem(s, ticket)
    assert token and token != ticket
    with session_scope(sqlite_url) as s:
        stored = s.exec(select(LoginSession)).one()
        assert stored.token_hash != token and token not in stored.token_hash
        found = auth.coach_for_token(s, token)
        assert found is not None and found.id == coach_id
        assert auth.coach_for_token(s, token + "x") is None
        assert auth.coach_for_token(s, "") is None
        assert auth.coach_for_token(s, ticket) is None


def test_a_handover_ticket_is_good_once_and_for_a_minute(sqlite_url):
    coach_id = _sign_up(sqlite_url)
    now = dt.datetime(2030, 1, 7, 9, tzinfo=dt.UTC)
    with session_scope(sqlite_url) as s:
        once = auth.hand_over(s, coach_id, now)
        late = auth.hand_over(s, coach_id, now)
    with session_scope(sqlite_url) as s:
        assert auth.redeem(s, once, now + dt.timedelta(seconds=59))
        assert auth.redeem(s, once, now + dt.timedelta(seconds=59)) is None
        assert auth.redeem(s, late, now + dt.timedelta(seconds=60)) is None
        assert auth.redeem(s, "made-up", now) is None
        assert auth.redeem(s, "", now) is None
        assert len(s.exec(select(LoginSession)).all()) == 1


def test_expired_session_is_refused(sqlite_url):
    coach_id = _sign_up(sqlite_url)
    with session_scope(sqlite_url) as s:
        token = auth.open_session(s, coach_id)
    with session_scope(sqlite_url) as s:
        row = s.exec(select(LoginSession)).one()
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        s.add(row)
    with session_scope(sqlite_url) as s:
        assert auth.coach_for_token(s, token) is None


def test_log_out_ends_the_session(sqlite_url):
    coach_id = _sign_up(sqlite_url)
    with session_scope(sqlite_url) as s:
        token = auth.open_session(s, coach_id)
    with session_scope(sqlite_url) as s:
        auth.log_out(s, token)
    with session_scope(sqlite_url) as s:
        assert auth.coach_for_token(s, token) is None
