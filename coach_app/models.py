"""Database tables.

Every datetime column is timezone-aware UTC (`UTCDateTime`): SQLite keeps no
offset, so values are normalised to UTC on the way in and tagged as UTC on the
way out; PostgreSQL stores them as `timestamptz`. Convert to a coach's or an
invitee's zone only at the edges (pages, emails).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A DateTime that refuses naive values and always returns aware UTC ones."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _ts(*, nullable: bool = False, index: bool = False, default: Any = None) -> Any:
    kwargs: dict[str, Any] = {"nullable": nullable}
    if default is not None:
        kwargs["default"] = default
    return Field(
        default=None if nullable else ...,
        sa_column=sa.Column(UTCDateTime(), index=index, **kwargs),
    )


def _created() -> Any:
    return Field(
        default_factory=utcnow, sa_column=sa.Column(UTCDateTime(), nullable=False)
    )


class Coach(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False, unique=True))
    password_hash: str
    display_name: str = Field(max_length=120)
    timezone: str = Field(default="UTC", max_length=64)
    slug: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    created_at: dt.datetime = _created()


class LoginSession(SQLModel, table=True):
    """A browser's login; only the SHA-256 of the token is stored."""

    __tablename__ = "login_session"
    id: int | None = Field(default=None, primary_key=True)
    coach_id: int = Field(foreign_key="coach.id", index=True)
    token_hash: str = Field(
        sa_column=sa.Column(sa.String(64), nullable=False, unique=True)
    )
    created_at: dt.datetime = _created()
    expires_at: dt.datetime = _ts()


class LoginHandover(SQLModel, table=True):
    """A one-time ticket (its SHA-256) from a successful log-in to the HTTP
    endpoint that sets the session cookie (``session_http``)."""

    __tablename__ = "login_handover"
    id: int | None = Field(default=None, primary_key=True)
    coach_id: int = Field(foreign_key="coach.id", index=True)
    ticket_hash: str = Field(
        sa_column=sa.Column(sa.String(64), nullable=False, unique=True)
    )
    expires_at: dt.datetime = _ts()


class Throttle(SQLModel, table=True):
    """Counts attempts per key (an account, a client address, a coach's
    booking page) for ``services.throttle``; ``blocked_until`` refuses
    further attempts until then."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=sa.Column(sa.String(200), nullable=False, unique=True))
    count: int = 0
    first_at: dt.datetime = _created()
    last_at: dt.datetime = _created()
    blocked_until: dt.datetime | None = _ts(nullable=True)


class Client(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("coach_id", "email"),)
    id: int | None = Field(default=None, primary_key=True)
    coach_id: int = Field(foreign_key="coach.id", index=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    created_at: dt.datetime = _created()


class AppointmentType(SQLModel, table=True):
    __tablename__ = "appointment_type"
    id: int | None = Field(default=None, primary_key=True)
    coach_id: int = Field(foreign_key="coach.id", index=True)
    name: str = Field(max_length=120)
    # Shown to invitees on the booking page's type cards.
    description: str = Field(default="", max_length=1000)
    duration_min: int = 60
    slot_interval_min: int = 30
    buffer_before_min: int = 0
    buffer_after_min: int = 0
    min_notice_min: int = 240
    max_per_day: int | None = None
    horizon_days: int = 60
    active: bool = True


class WorkingHours(SQLModel, table=True):
    """A weekly window in the coach's own zone (minutes after local midnight)."""

    __tablename__ = "working_hours"
    id: int | None = Field(default=None, primary_key=True)
    coach_id: int = Field(foreign_key="coach.id", index=True)
    weekday: int  # 0 = Monday
    start_minute: int
    end_minute: int


class DateOverride(SQLModel, table=True):
    """Replaces the weekly hours on one local date; no minutes = day off."""

    __tablename__ = "date_override"
    id: int | None = Field(default=None, primary_key=True)
    coach_id: int = Field(foreign_key="coach.id", index=True)
    day: dt.date
    start_minute: int | None = None
    end_minute: int | None = None


class Appointment(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_appointment_coach_start", "coach_id", "start"),)
    id: int | None = Field(default=None, primary_key=True)
    coach_id: int = Field(foreign_key="coach.id")
    client_id: int = Field(foreign_key="client.id", index=True)
    appointment_type_id: int | None = Field(
        default=None, foreign_key="appointment_type.id"
    )
    start: dt.datetime = _ts()
    end: dt.datetime = _ts()
    status: str = Field(default="confirmed", max_length=16)  # confirmed | cancelled
    note: str = Field(default="", max_length=2000)
    invitee_timezone: str = Field(default="", max_length=64)  # for the client's emails
    version: int = 1  # bumped on every change the push calendar must follow
    created_at: dt.datetime = _created()
    cancelled_at: dt.datetime | None = _ts(nullable=True)


class CalendarConnection(SQLModel, table=True):
    """One external calendar account of a coach, with its four switches."""

    __tablename__ = "calendar_connection"
    id: int | None = Field(default=None, primary_key=True)
    coach_id: int = Field(foreign_key="coach.id", index=True)
    provider: str = Field(max_length=32)  # icloud | caldav | google | ...
    account_label: str = Field(default="", max_length=320)
    server_url: str = Field(default="", max_length=2000)
    username: str = Field(default="", max_length=320)
    secret_encrypted: str = ""  # MultiFernet token; never leaves the backend
    status: str = Field(default="ok", max_length=32)  # ok | error | reconnect
    last_error: str = Field(default="", max_length=2000)
    last_sync_at: dt.datetime | None = _ts(nullable=True)
    next_sync_at: dt.datetime | None = _ts(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: dt.datetime | None = _ts(nullable=True)
    reconnect_notified: bool = False
    # Consecutive failed syncs (auth, network, rate limit): drives the back-off.
    sync_failures: int = 0
    # What sign-in learnt about the server, "" = unknown: the CalDAV quirks
    # profile (Account.server); for Exchange the authentication scheme its
    # EWS address takes, "ntlm" or "basic".
    server_profile: str = Field(default="", max_length=32)
    check_conflicts: bool = True
    push_enabled: bool = True
    pull_enabled: bool = True
    cancellation_notification: bool = True
    created_at: dt.datetime = _created()


class SubCalendar(SQLModel, table=True):
    __tablename__ = "sub_calendar"
    __table_args__ = (sa.UniqueConstraint("connection_id", "remote_id"),)
    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="calendar_connection.id", index=True)
    remote_id: str = Field(max_length=2000)
    name: str = Field(default="", max_length=300)
    color: str = Field(default="", max_length=32)
    pull: bool = False
    push: bool = False


class SyncCursor(SQLModel, table=True):
    __tablename__ = "sync_cursor"
    id: int | None = Field(default=None, primary_key=True)
    sub_calendar_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("sub_calendar.id"), nullable=False, unique=True
        )
    )
    cursor: str = ""
    updated_at: dt.datetime = _created()
    # When the last full listing was applied: recurrences are expanded over a
    # window that slides with time, so it is refreshed daily (sync engine).
    full_sync_at: dt.datetime | None = _ts(nullable=True)
    # The calendar's events are stored as of this cursor (False while it is
    # synced only for our pushed events: storing then starts with a full pull).
    stored: bool = False
    # Entries that could not be read: JSON {remote id: summary or uid}.
    skipped: str = ""
    # A full listing came back empty while events were held locally, since then.
    empty_since: dt.datetime | None = _ts(nullable=True)


class ExternalEvent(SQLModel, table=True):
    """One occurrence of a pulled external event (recurrences expanded)."""

    __tablename__ = "external_event"
    __table_args__ = (
        sa.UniqueConstraint("sub_calendar_id", "remote_id", "occurrence"),
        # Covers the booking page's read of busy time (coach, end > from,
        # start < to, busy, calendar) without touching the table rows.
        sa.Index(
            "ix_external_event_coach_end",
            "coach_id",
            "end",
            "start",
            "busy",
            "sub_calendar_id",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    coach_id: int = Field(foreign_key="coach.id")
    sub_calendar_id: int = Field(foreign_key="sub_calendar.id", index=True)
    remote_id: str = Field(max_length=2000)
    occurrence: str = Field(default="", max_length=64)  # recurrence id, "" if single
    uid: str = Field(default="", max_length=1000)
    etag: str = Field(default="", max_length=300)
    summary: str = Field(default="", max_length=500)
    start: dt.datetime = _ts()
    end: dt.datetime = _ts()
    all_day: bool = False
    busy: bool = True
    updated_at: dt.datetime = _created()


class PushOutbox(SQLModel, table=True):
    """Work for the push calendar, written in the appointment's transaction."""

    __tablename__ = "push_outbox"
    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(foreign_key="appointment.id", index=True)
    connection_id: int = Field(foreign_key="calendar_connection.id", index=True)
    action: str = Field(max_length=16)  # upsert | delete
    attempts: int = 0
    next_attempt_at: dt.datetime = _created()
    last_error: str = Field(default="", max_length=2000)
    done_at: dt.datetime | None = _ts(nullable=True)
    created_at: dt.datetime = _created()


class PushedEvent(SQLModel, table=True):
    """Where an appointment lives in the push calendar, and which version."""

    __tablename__ = "pushed_event"
    __table_args__ = (sa.UniqueConstraint("appointment_id", "sub_calendar_id"),)
    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(foreign_key="appointment.id", index=True)
    sub_calendar_id: int = Field(foreign_key="sub_calendar.id", index=True)
    key: str = Field(max_length=200)
    remote_id: str = Field(default="", max_length=2000)
    etag: str = Field(default="", max_length=300)
    pushed_version: int = 0
    # SHA-256 of the start, end and summary last written, to tell an external
    # edit from a same-content etag change; "" = not known.
    content_hash: str = Field(default="", max_length=64)


class EmailOutbox(SQLModel, table=True):
    __tablename__ = "email_outbox"
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(
        sa_column=sa.Column(sa.String(200), nullable=False, unique=True)
    )
    to_addr: str = Field(max_length=320)
    subject: str = Field(max_length=300)
    body: str
    ics: str | None = None
    attempts: int = 0
    next_attempt_at: dt.datetime = _created()
    last_error: str = Field(default="", max_length=2000)
    sent_at: dt.datetime | None = _ts(nullable=True)
    created_at: dt.datetime = _created()


class CoachNotice(SQLModel, table=True):
    """Something the coach must read: a re-pushed or reverted appointment."""

    __tablename__ = "coach_notice"
    id: int | None = Field(default=None, primary_key=True)
    coach_id: int = Field(foreign_key="coach.id", index=True)
    message: str = Field(max_length=1000)
    created_at: dt.datetime = _created()
    read_at: dt.datetime | None = _ts(nullable=True)


class WatchChannel(SQLModel, table=True):
    """A push-notification channel (Google ``events.watch``) for one sub-calendar.

    ``channel_id`` and ``token`` are chosen by the app before the channel is
    created, so a notification that arrives while ``watch`` is still being
    answered is recognised; ``resource_id`` is "" until the provider named it.
    The token only lets a caller trigger an early sync (notifications carry
    no data), so it is stored as it is, like Google's own echo of it.
    """

    __tablename__ = "watch_channel"
    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("calendar_connection.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    sub_calendar_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("sub_calendar.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    channel_id: str = Field(
        sa_column=sa.Column(sa.String(64), nullable=False, unique=True)
    )
    resource_id: str = Field(default="", max_length=300)
    token: str = Field(max_length=128)
    address: str = Field(default="", max_length=2000)  # where notifications go
    expires_at: dt.datetime = _ts()
    created_at: dt.datetime = _created()
