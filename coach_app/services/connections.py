"""Connecting external calendars: probe the account, save the choice, switches.

Nothing is saved until the coach presses Connect: `probe` only talks to the
server (wrong password, unreachable server, a website without CalDAV → a
plain message and nothing stored). The password is encrypted at rest and
never leaves the backend.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, select

from coach_app.calendars.base import Account
from coach_app.calendars.base import SubCalendar as RemoteCalendar
from coach_app.calendars.caldav import (
    GENERIC_CALDAV,
    ICLOUD,
    CalDAVPreset,
    CalDAVProvider,
)
from coach_app.calendars.errors import ProviderError
from coach_app.models import (
    CalendarConnection,
    CoachNotice,
    ExternalEvent,
    PushedEvent,
    PushOutbox,
    SubCalendar,
    SyncCursor,
    utcnow,
)
from coach_app.security.secrets import encrypt
from coach_app.services.errors import Forbidden, UserError


@dataclass(frozen=True)
class ProviderChoice:
    key: str
    label: str
    available: bool


PROVIDER_CHOICES = (
    ProviderChoice("icloud", "iCloud", True),
    ProviderChoice("google", "Google", False),
    ProviderChoice("office365", "Office 365", False),
    ProviderChoice("exchange", "Exchange", False),
    ProviderChoice("outlook", "Outlook.com", False),
    ProviderChoice("caldav", "Other CalDAV server", True),
)
CALDAV_PRESETS: dict[str, CalDAVPreset] = {"icloud": ICLOUD, "caldav": GENERIC_CALDAV}
SWITCHES = (
    "check_conflicts",
    "push_enabled",
    "pull_enabled",
    "cancellation_notification",
)


def preset_for(kind: str) -> CalDAVPreset:
    preset = CALDAV_PRESETS.get(kind)
    if preset is None:
        raise UserError("That calendar service is not available yet.")
    return preset


def base_url_for(kind: str, entered_url: str = "") -> str:
    """iCloud's address comes from configuration (`COACH_APP_ICLOUD_URL`, for
    self-hosted trials and tests); any other CalDAV server is entered."""
    if kind == "icloud":
        return os.environ.get("COACH_APP_ICLOUD_URL") or ICLOUD.base_url or ""
    url = (entered_url or "").strip()
    if not url:
        raise UserError("Please enter your calendar server's address.")
    if "://" not in url:
        url = "https://" + url
    return url


@dataclass(frozen=True)
class Probe:
    base_url: str
    account: Account
    calendars: list[RemoteCalendar]


async def probe(kind: str, entered_url: str, username: str, password: str) -> Probe:
    preset = preset_for(kind)
    username = (username or "").strip()
    if not username or not password:
        raise UserError(
            f"Please enter your {preset.username_label.lower()} and "
            f"{preset.password_label.lower()}."
        )
    base_url = base_url_for(kind, entered_url)
    try:
        async with CalDAVProvider(
            base_url, username, password, preset=preset
        ) as provider:
            account = await provider.discover()
            calendars = await provider.list_calendars()
    except ProviderError as exc:
        raise UserError(exc.user_message) from None
    except ValueError as exc:  # a malformed address
        raise UserError(f"That server address cannot be used: {exc}") from None
    if not calendars:
        raise UserError("This account has no calendars we can use for events.")
    return Probe(base_url, account, calendars)


def save(
    session: Session,
    coach_id: int,
    kind: str,
    found: Probe,
    username: str,
    password: str,
    pull_ids: list[str],
    push_id: str,
    agreed: bool,
) -> CalendarConnection:
    if not agreed:
        raise UserError("Please agree to the Terms of Service and Privacy Policy.")
    by_id = {c.id: c for c in found.calendars}
    if push_id not in by_id:
        raise UserError("Please choose the one calendar to push appointments to.")
    if not by_id[push_id].can_write:
        raise UserError("That calendar is read-only; choose another to push to.")
    if any(p not in by_id for p in pull_ids):
        raise UserError("Please choose calendars from this account only.")
    connection = CalendarConnection(
        coach_id=coach_id,
        provider=kind,
        account_label=found.account.display_name or username,
        server_url=found.base_url,
        username=username.strip(),
        secret_encrypted=encrypt(password),
        server_profile=found.account.server,
    )
    session.add(connection)
    session.flush()
    for cal in found.calendars:
        session.add(
            SubCalendar(
                connection_id=connection.id,
                remote_id=cal.id,
                name=cal.name or cal.id,
                color=cal.color or "",
                pull=cal.id in pull_ids,
                push=cal.id == push_id,
            )
        )
    session.flush()
    return connection


def owned(session: Session, coach_id: int, connection_id: int) -> CalendarConnection:
    row = session.get(CalendarConnection, connection_id)
    if row is None or row.coach_id != coach_id:
        raise Forbidden()
    return row


def list_connections(
    session: Session, coach_id: int
) -> list[tuple[CalendarConnection, list[SubCalendar]]]:
    rows = session.exec(
        select(CalendarConnection)
        .where(CalendarConnection.coach_id == coach_id)
        .order_by(CalendarConnection.id)
    ).all()
    out = []
    for row in rows:
        subs = session.exec(
            select(SubCalendar)
            .where(SubCalendar.connection_id == row.id)
            .order_by(SubCalendar.name)
        ).all()
        out.append((row, list(subs)))
    return out


def set_switch(
    session: Session, coach_id: int, connection_id: int, switch: str, value: bool
) -> CalendarConnection:
    if switch not in SWITCHES:
        raise UserError("Unknown setting.")
    row = owned(session, coach_id, connection_id)
    if switch == "pull_enabled" and value and not row.pull_enabled:
        # Back on: start from a full listing, so nothing missed while off is lost.
        sub_ids = select(SubCalendar.id).where(SubCalendar.connection_id == row.id)
        session.exec(
            sa.delete(SyncCursor).where(SyncCursor.sub_calendar_id.in_(sub_ids))
        )
    setattr(row, switch, bool(value))
    session.add(row)
    session.flush()
    return row


def edit_calendars(
    session: Session,
    coach_id: int,
    connection_id: int,
    pull_ids: list[int],
    push_id: int,
) -> None:
    owned(session, coach_id, connection_id)
    subs = session.exec(
        select(SubCalendar).where(SubCalendar.connection_id == connection_id)
    ).all()
    if push_id not in {s.id for s in subs}:
        raise UserError("Please choose the one calendar to push appointments to.")
    for sub in subs:
        newly_pulled = sub.id in pull_ids and not sub.pull
        sub.pull = sub.id in pull_ids
        sub.push = sub.id == push_id
        session.add(sub)
        if newly_pulled:
            session.exec(
                sa.delete(SyncCursor).where(SyncCursor.sub_calendar_id == sub.id)
            )
        if not sub.pull:
            session.exec(
                sa.delete(ExternalEvent).where(ExternalEvent.sub_calendar_id == sub.id)
            )
    session.flush()


def disconnect(session: Session, coach_id: int, connection_id: int) -> None:
    """Forget the account here; events already in the external calendar stay."""
    row = owned(session, coach_id, connection_id)
    sub_ids = select(SubCalendar.id).where(SubCalendar.connection_id == row.id)
    session.exec(
        sa.delete(ExternalEvent).where(ExternalEvent.sub_calendar_id.in_(sub_ids))
    )
    session.exec(sa.delete(SyncCursor).where(SyncCursor.sub_calendar_id.in_(sub_ids)))
    session.exec(sa.delete(PushedEvent).where(PushedEvent.sub_calendar_id.in_(sub_ids)))
    session.exec(sa.delete(PushOutbox).where(PushOutbox.connection_id == row.id))
    session.exec(sa.delete(SubCalendar).where(SubCalendar.connection_id == row.id))
    session.delete(row)
    session.flush()


def notices(session: Session, coach_id: int, limit: int = 10) -> list[CoachNotice]:
    return list(
        session.exec(
            select(CoachNotice)
            .where(CoachNotice.coach_id == coach_id, CoachNotice.read_at.is_(None))  # type: ignore[union-attr]
            .order_by(CoachNotice.id.desc())  # type: ignore[union-attr]
            .limit(limit)
        ).all()
    )


def mark_notices_read(session: Session, coach_id: int) -> None:
    session.exec(
        sa.update(CoachNotice)
        .where(CoachNotice.coach_id == coach_id, CoachNotice.read_at.is_(None))  # type: ignore[union-attr]
        .values(read_at=utcnow())
    )
