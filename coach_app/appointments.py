"""What every change to an appointment does, whoever makes it.

The booking services (invitee, coach) and the sync engine (an external
deletion with Cancellation Notification on) change appointments through
these, inside their own transaction: the coach's row is locked first, the
push calendar gets its work queued, the client's email goes into the outbox,
and the change is announced after commit.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from coach_app import changes
from coach_app.models import Appointment, CalendarConnection, Coach, PushOutbox, utcnow
from coach_app.notify import appointment_mail


def lock_coach(session: Session, coach_id: int) -> Coach:
    """Serialise all writes to one coach's calendar until commit."""
    coach = session.exec(
        select(Coach).where(Coach.id == coach_id).with_for_update()
    ).one()
    # A stale identity-map copy would hide a rival's committed change.
    session.refresh(coach)
    return coach


def queue_push(session: Session, appointment: Appointment, action: str) -> None:
    """One push job per connection whose push switch is on; the change is
    announced to open pages and the sync loop after commit."""
    changes.announce(session, appointment.coach_id)
    assert appointment.id is not None
    connections = session.exec(
        select(col(CalendarConnection.id)).where(
            col(CalendarConnection.coach_id) == appointment.coach_id,
            col(CalendarConnection.push_enabled).is_(True),
        )
    ).all()
    for connection_id in connections:
        assert connection_id is not None
        session.add(
            PushOutbox(
                appointment_id=appointment.id,
                connection_id=connection_id,
                action=action,
            )
        )


def cancel(
    session: Session,
    coach: Coach,
    appointment: Appointment,
    *,
    notify_client: bool = True,
    base_url: str = "",
) -> None:
    """Cancel (once): the push calendar drops it, the client is emailed
    (``base_url``: where the links in the email lead, see ``notify.links``)."""
    if appointment.status == "cancelled":
        return
    appointment.status = "cancelled"
    appointment.cancelled_at = utcnow()
    appointment.version += 1
    session.add(appointment)
    session.flush()
    queue_push(session, appointment, "delete")
    if notify_client:
        appointment_mail.cancelled(session, coach, appointment, base_url=base_url)
