"""Our pushed events as seen in the push calendar: applying what
``decide`` made of echoes, external edits and external deletions (the rules
are there; the app is the source of truth).

Runs inside the pull's write transaction, so the reaction and the cursor
that consumed the change commit together (a crash re-reads the change).

- ``RecordPushed``: the pushed event's remote id, etag and content hash;
- ``Repush``: push work queued unless some is pending (``ensure_push``);
- ``Cancel``: the appointment cancelled through ``appointments.cancel``
  (the client is emailed, the change announced);
- ``Notify``: a notice to the coach naming the appointment and where it
  was changed.

Events with our key found in calendars other than the push calendar are
ignored (never stored as busy time: they are our own appointments).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlmodel import Session, select

from coach_app import appointments
from coach_app.calendars.registry import service_label
from coach_app.models import (
    Appointment,
    CalendarConnection,
    Client,
    Coach,
    CoachNotice,
    PushedEvent,
    PushOutbox,
    SubCalendar,
)
from coach_app.notify.messages import format_start
from coach_app.sync.content import appointment_title
from coach_app.sync.decide import (
    CANCELLED,
    CHANGED,
    Action,
    Cancel,
    Notify,
    RecordPushed,
    Repush,
)


def ensure_push(
    session: Session,
    appointment_id: int,
    connection_id: int,
    action: str,
    now: dt.datetime,
) -> None:
    """Queue push work for this connection unless some is already pending."""
    pending = session.exec(
        select(PushOutbox.id).where(
            PushOutbox.appointment_id == appointment_id,
            PushOutbox.connection_id == connection_id,
            PushOutbox.done_at.is_(None),  # type: ignore[union-attr]
        )
    ).first()
    if pending is None:
        session.add(
            PushOutbox(
                appointment_id=appointment_id,
                connection_id=connection_id,
                action=action,
                next_attempt_at=now,
            )
        )


def apply(
    session: Session,
    connection_id: int,
    sub: SubCalendar,
    actions: Iterable[Action],
    now: dt.datetime,
) -> None:
    """Carry out the pushed-event actions of a plan, in order."""
    where = calendar_in_words(session, connection_id, sub)
    for action in actions:
        if isinstance(action, RecordPushed):
            _record(session, sub, action)
        elif isinstance(action, Repush):
            ensure_push(
                session, action.appointment_id, connection_id, action.action, now
            )
        elif isinstance(action, Cancel):
            appointment = _appointment(session, action.appointment_id)
            coach = appointments.lock_coach(session, appointment.coach_id)
            appointments.cancel(session, coach, appointment, notify_client=True)
        elif isinstance(action, Notify):
            _notice(session, action, where)


def calendar_in_words(session: Session, connection_id: int, sub: SubCalendar) -> str:
    """'your iCloud calendar “Coach App”': the service and the calendar, since
    a calendar's own name (often "Coach App") says little in a notice."""
    connection = session.get(CalendarConnection, connection_id)
    service = service_label(connection.provider) if connection else ""
    calendar = f"your {service} calendar" if service else "your calendar"
    return f"{calendar} “{sub.name}”" if sub.name else calendar


def _appointment(session: Session, appointment_id: int) -> Appointment:
    appointment = session.get(Appointment, appointment_id)
    assert appointment is not None
    return appointment


def _record(session: Session, sub: SubCalendar, action: RecordPushed) -> None:
    state = action.pushed
    row = session.get(PushedEvent, state.id) if state.id is not None else None
    if row is None:
        assert sub.id is not None
        row = PushedEvent(
            appointment_id=state.appointment_id,
            sub_calendar_id=sub.id,
            key=state.key,
        )
    row.remote_id = state.remote_id
    row.etag = state.etag
    row.content_hash = state.content_hash
    session.add(row)


def _notice(session: Session, action: Notify, where: str) -> None:
    appointment = _appointment(session, action.appointment_id)
    if action.what == CHANGED:
        text = (
            f"was changed in {where}; changes made there are undone. "
            "Reschedule in Coach App."
        )
    elif action.what == CANCELLED:
        client = session.get(Client, appointment.client_id)
        who = client.name if client else "the client"
        text = (
            f"was deleted in {where}, so it was cancelled here and {who} was emailed."
        )
    else:
        text = (
            f"was deleted in {where}; it is still booked here and was put back. "
            "Cancel it in Coach App if it should go."
        )
    coach = session.get(Coach, appointment.coach_id)
    what = appointment_title(session, appointment)
    when = format_start(appointment.start, coach.timezone if coach else "UTC")
    session.add(
        CoachNotice(
            coach_id=appointment.coach_id, message=f"{what} on {when} {text}"[:1000]
        )
    )
