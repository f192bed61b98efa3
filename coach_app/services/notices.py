"""Notices for the coach (a re-pushed or reverted appointment, a calendar
that needs reconnecting): listed wherever they show, dismissed one by one or
all at once; a dismissed notice is kept, marked read."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from coach_app.models import CoachNotice, utcnow


def unread(session: Session, coach_id: int, limit: int = 10) -> list[CoachNotice]:
    return list(
        session.exec(
            select(CoachNotice)
            .where(CoachNotice.coach_id == coach_id, CoachNotice.read_at.is_(None))  # type: ignore[union-attr]
            .order_by(CoachNotice.id.desc())  # type: ignore[union-attr]
            .limit(limit)
        ).all()
    )


def dismiss(session: Session, coach_id: int, notice_id: int | None = None) -> None:
    """Mark one notice (or, without an id, all of them) read. Another coach's
    notice id matches nothing, like an unknown one."""
    query = sa.update(CoachNotice).where(
        CoachNotice.coach_id == coach_id,
        CoachNotice.read_at.is_(None),  # type: ignore[union-attr]
    )
    if notice_id is not None:
        query = query.where(CoachNotice.id == notice_id)
    session.exec(query.values(read_at=utcnow()))  # type: ignore[call-overload]
