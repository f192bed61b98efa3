"""Our pushed events as seen in the push calendar: echoes, external edits and
external deletions. The app is the source of truth.

Runs inside the pull's write transaction, so the reaction and the cursor
that consumed the change commit together (a crash re-reads the change).

For an event carrying our key (``RemoteEvent.coach_key``):

- same etag as stored → our own write's echo (or unchanged): nothing;
- new etag, same content hash as last written → a harmless rewrite: the
  etag is stored;
- new etag, other content, appointment still confirmed and upcoming → an
  external move/edit: the etag is stored, the app's version is pushed again
  (as an update with that etag) and the coach gets a notice;
- a key with no ``PushedEvent.remote_id`` yet (a create whose reply was lost
  in a crash) is adopted: remote id and etag are stored and a push is
  queued, which rewrites it with the app's current version. A cancelled
  appointment's stray event is queued for deletion the same way.

For a deleted remote id that is one of our pushed events:

- appointment confirmed and upcoming, push on:
  - Cancellation Notification on → cancelled in the app through
    ``appointments.cancel(notify_client=True)`` (the client is emailed) + notice;
  - off → pushed again (remote id cleared, upsert queued) + notice;
- anything else (already cancelled, in the past, push switched off) → the
  remote id is forgotten, nothing else: a coach tidying up old events or
  removing what the app already cancelled is not an instruction;
- deletions inferred from a calendar that lists as empty (see ``pull``) are
  always put back, never cancelled.

Events with our key found in calendars other than the push calendar are
ignored (never stored as busy time: they are our own appointments).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, select

from coach_app import appointments
from coach_app.calendars.base import RemoteEvent
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
from coach_app.sync.content import (
    appointment_id_from_key,
    appointment_title,
    remote_content_hash,
)


@dataclass
class ReconcileOutcome:
    appointments_changed: bool = False
    notices: int = 0
    repushes: int = 0


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


def handle(
    session: Session,
    connection: CalendarConnection,
    sub: SubCalendar,
    ours: list[RemoteEvent],
    deleted: list[str],
    now: dt.datetime,
    *,
    wiped: bool = False,
) -> ReconcileOutcome:
    """React to our events in ``sub``'s changes. ``wiped``: the deletions
    come from a confirmed empty listing; appointments are then put back
    whatever the Cancellation Notification switch says."""
    outcome = ReconcileOutcome()
    if not sub.push or not (ours or deleted):
        return outcome
    rows = session.exec(
        select(PushedEvent).where(PushedEvent.sub_calendar_id == sub.id)
    ).all()
    by_remote = {p.remote_id: p for p in rows if p.remote_id}
    by_key = {p.key: p for p in rows}
    context = _Context(session, connection, sub, now, outcome)
    for event in ours:
        pushed = by_remote.get(event.id) or by_key.get(event.coach_key or "")
        if pushed is None:
            context.adopt_orphan(event)
        elif pushed.remote_id != event.id:
            context.adopt(pushed, event)
        elif not (event.etag and event.etag == pushed.etag):
            context.changed(pushed, event)
    for remote_id in deleted:
        pushed = by_remote.get(remote_id)
        if pushed is not None:
            context.deleted(pushed, may_cancel=not wiped)
    return outcome


@dataclass
class _Context:
    session: Session
    connection: CalendarConnection
    sub: SubCalendar
    now: dt.datetime
    outcome: ReconcileOutcome

    @property
    def connection_id(self) -> int:
        assert self.connection.id is not None
        return self.connection.id

    def _live(self, appointment: Appointment | None) -> bool:
        """Does the app still want this appointment in the push calendar?"""
        return (
            self.connection.push_enabled
            and appointment is not None
            and appointment.status == "confirmed"
            and appointment.end > self.now
        )

    def _queue(self, appointment: Appointment, action: str | None = None) -> None:
        assert appointment.id is not None
        if action is None:
            action = "upsert" if appointment.status == "confirmed" else "delete"
        ensure_push(self.session, appointment.id, self.connection_id, action, self.now)
        self.outcome.repushes += 1

    def _notice(self, appointment: Appointment, text: str) -> None:
        coach = self.session.get(Coach, appointment.coach_id)
        what = appointment_title(self.session, appointment)
        when = format_start(appointment.start, coach.timezone if coach else "UTC")
        self.session.add(
            CoachNotice(
                coach_id=appointment.coach_id,
                message=f"{what} on {when} {text}"[:1000],
            )
        )
        self.outcome.notices += 1

    def adopt_orphan(self, event: RemoteEvent) -> None:
        appointment_id = appointment_id_from_key(event.coach_key)
        appointment = (
            self.session.get(Appointment, appointment_id) if appointment_id else None
        )
        if appointment is None or appointment.coach_id != self.connection.coach_id:
            return  # not one of this coach's (another installation's, say)
        pushed = PushedEvent(
            appointment_id=appointment.id,  # type: ignore[arg-type]
            sub_calendar_id=self.sub.id,  # type: ignore[arg-type]
            key=event.coach_key or "",
        )
        self.adopt(pushed, event)

    def adopt(self, pushed: PushedEvent, event: RemoteEvent) -> None:
        pushed.remote_id = event.id
        pushed.etag = event.etag or ""
        pushed.content_hash = ""  # unknown which version reached the server
        self.session.add(pushed)
        appointment = self.session.get(Appointment, pushed.appointment_id)
        if appointment is not None and self.connection.push_enabled:
            self._queue(appointment)

    def changed(self, pushed: PushedEvent, event: RemoteEvent) -> None:
        pushed.etag = event.etag or ""
        self.session.add(pushed)
        appointment = self.session.get(Appointment, pushed.appointment_id)
        if not self._live(appointment):
            return
        assert appointment is not None
        if not pushed.content_hash:
            self._queue(appointment)  # content unknown: make sure it is ours
            return
        if remote_content_hash(event.raw) == pushed.content_hash:
            return
        self._queue(appointment, "upsert")
        self._notice(
            appointment,
            f"was changed in {self.sub.name or 'your calendar'}; changes made "
            "there are undone. Reschedule in Coach App.",
        )

    def deleted(self, pushed: PushedEvent, *, may_cancel: bool = True) -> None:
        pushed.remote_id = ""
        pushed.etag = ""
        pushed.content_hash = ""
        self.session.add(pushed)
        appointment = self.session.get(Appointment, pushed.appointment_id)
        if not self._live(appointment):
            return
        assert appointment is not None and appointment.id is not None
        where = self.sub.name or "your calendar"
        if self.connection.cancellation_notification and may_cancel:
            client = self.session.get(Client, appointment.client_id)
            coach = appointments.lock_coach(self.session, appointment.coach_id)
            appointments.cancel(self.session, coach, appointment, notify_client=True)
            self.outcome.appointments_changed = True
            who = client.name if client else "the client"
            self._notice(
                appointment,
                f"was deleted in {where}, so it was cancelled here and {who} "
                "was emailed.",
            )
        else:
            self._queue(appointment, "upsert")
            self._notice(
                appointment,
                f"was deleted in {where}; it is still booked here and was put "
                "back. Cancel it in Coach App if it should go.",
            )
