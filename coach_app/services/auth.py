"""Sign-up, log-in, sessions and log-out for coaches.

A successful log-in (or sign-up) does not hand the browser a session token
over the websocket: it yields a one-time *hand-over ticket* (60 s, one use,
stored as its SHA-256). The page posts it to the backend endpoint
``POST /auth/session`` (``coach_app.session_http``), which trades it for a
new session and sets the session cookie itself, HttpOnly — so no script in
the page, ours or injected, ever sees a session token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from sqlmodel import Session, select

from coach_app.models import Coach, LoginHandover, LoginSession, utcnow
from coach_app.security.passwords import hash_password, verify_password
from coach_app.services import schedule, throttle
from coach_app.services.appointment_types import TypeInput, create_type
from coach_app.services.errors import UserError
from coach_app.services.validation import (
    check_timezone,
    normalize_email,
    slugify,
)

SESSION_DAYS = 30
HANDOVER_SECONDS = 60
MIN_PASSWORD = 8
WRONG_LOGIN = "That email and password do not match an account."


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _free_slug(session: Session, base: str) -> str:
    base = base if len(base) >= 3 else f"{base}-coach".strip("-")
    taken = set(
        session.exec(select(Coach.slug).where(Coach.slug.like(f"{base}%"))).all()
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def sign_up(
    session: Session,
    email: str,
    password: str,
    display_name: str,
    timezone: str = "UTC",
) -> Coach:
    email = normalize_email(email)
    display_name = (display_name or "").strip()
    if not display_name:
        raise UserError("Please enter your name.")
    if len(password or "") < MIN_PASSWORD:
        raise UserError(
            f"Please choose a password of at least {MIN_PASSWORD} characters."
        )
    timezone = check_timezone(timezone or "UTC")
    if session.exec(select(Coach.id).where(Coach.email == email)).first() is not None:
        raise UserError("An account with that email already exists. Please log in.")
    coach = Coach(
        email=email,
        password_hash=hash_password(password),
        display_name=display_name[:120],
        timezone=timezone,
        slug=_free_slug(session, slugify(display_name)),
    )
    session.add(coach)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        # Two sign-ups with one email raced; the other one won.
        session.rollback()
        raise UserError(
            "An account with that email already exists. Please log in."
        ) from None
    assert coach.id is not None
    # A new coach can be booked at once: weekday office hours, one session type.
    schedule.seed_default_week(session, coach.id)
    create_type(session, coach.id, TypeInput(name="Coaching session"))
    return coach


def log_in(
    session: Session,
    email: str,
    password: str,
    client_address: str | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Check the credentials; returns a hand-over ticket for the session.

    Throttled per account and per ``client_address`` (``services.throttle``):
    ``Throttled`` (a ``UserError``) while either must wait. A failure is
    committed before ``UserError`` is raised, so it counts although the
    caller's transaction ends in an error.
    """
    now = now or utcnow()
    throttle.check_login(session, email, client_address, now)
    try:
        coach = session.exec(
            select(Coach).where(Coach.email == normalize_email(email))
        ).first()
    except UserError:
        coach = None  # not an email: checked like an unknown one
    if not verify_password(coach.password_hash if coach else None, password or ""):
        throttle.login_failed(session, email, client_address, now)
        session.commit()
        raise UserError(WRONG_LOGIN)
    assert coach is not None and coach.id is not None
    throttle.login_succeeded(session, email)
    return hand_over(session, coach.id, now)


def hand_over(session: Session, coach_id: int, now: dt.datetime | None = None) -> str:
    """A one-time ticket the browser trades for a session (``redeem``)."""
    ticket = secrets.token_urlsafe(32)
    now = now or utcnow()
    session.exec(sa.delete(LoginHandover).where(LoginHandover.expires_at <= now))  # type: ignore[arg-type]
    session.add(
        LoginHandover(
            coach_id=coach_id,
            ticket_hash=_token_hash(ticket),
            expires_at=now + dt.timedelta(seconds=HANDOVER_SECONDS),
        )
    )
    session.flush()
    return ticket


def redeem(
    session: Session, ticket: str | None, now: dt.datetime | None = None
) -> str | None:
    """Trade a hand-over ticket, once and in time, for a new session token."""
    if not ticket:
        return None
    row = session.exec(
        select(LoginHandover)
        .where(LoginHandover.ticket_hash == _token_hash(ticket))
        .with_for_update()
    ).first()
    if row is None:
        return None
    session.delete(row)
    session.flush()
    if row.expires_at <= (now or utcnow()):
        return None
    return open_session(session, row.coach_id)


def open_session(session: Session, coach_id: int) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            coach_id=coach_id,
            token_hash=_token_hash(token),
            expires_at=utcnow() + dt.timedelta(days=SESSION_DAYS),
        )
    )
    session.flush()
    return token


def coach_for_token(session: Session, token: str | None) -> Coach | None:
    if not token:
        return None
    row = session.exec(
        select(LoginSession).where(LoginSession.token_hash == _token_hash(token))
    ).first()
    if row is None or row.expires_at <= utcnow():
        return None
    return session.get(Coach, row.coach_id)


def log_out(session: Session, token: str | None) -> None:
    if token:
        session.exec(
            sa.delete(LoginSession).where(LoginSession.token_hash == _token_hash(token))
        )
