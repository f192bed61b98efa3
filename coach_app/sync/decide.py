"""Sync decisions, pure: what one pull calls for (after vdirsyncer's
``sync/__init__.py``).

``decide(local, pulled, now)`` takes the local copy of one sub-calendar
(``Local``, read in the pull's write transaction) and what the provider
reported (``Pulled``) and returns a ``Plan``: the actions to apply in that
same transaction (``pull.apply_changes`` and ``reconcile.apply``). No
database, no network and no clock here, so every rule below can be tested
and explored on plain values.

Pulled events:

- a full listing reports no deletions: what is held locally (pulled events
  and our pushed events) and missing from it is deleted; an empty listing
  while something is held is not believed (``HoldEmptyListing``) until it
  has stayed empty for ``WIPE_CONFIRM_AFTER``;
- events of a calendar whose events are kept replace their stored rows;
  unreadable ones are remembered (``skipped``) until they change or go.

Our pushed events (in the push calendar), the app being the source of
truth:

- same etag as stored → our own write's echo: nothing;
- new etag, same content as last written → only the etag is stored;
- new etag, other content, appointment live → pushed again, with a notice;
- an event of ours not recorded (a create whose answer was lost) is
  adopted, and pushed again (or removed, if the appointment is cancelled);
- deleted, appointment live → cancelled (client emailed) when Cancellation
  Notification is on, else pushed again; each with a notice. Deletions
  inferred from an empty listing are always put back, never cancelled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from coach_app.calendars.base import ChangeSet, RemoteEvent
from coach_app.calendars.sync_helpers import WipeRefused, reconcile
from coach_app.sync.content import appointment_id_from_key, remote_content_hash

WIPE_CONFIRM_AFTER = dt.timedelta(hours=1)

# What a notice tells the coach about an appointment (``Notify.what``).
CHANGED = "changed"
CANCELLED = "cancelled"
PUT_BACK = "put_back"


@dataclass(frozen=True)
class PushedState:
    """Where an appointment lives in this calendar (``id`` None: not yet
    recorded)."""

    id: int | None
    appointment_id: int
    key: str
    remote_id: str
    etag: str
    content_hash: str


@dataclass(frozen=True)
class AppointmentState:
    id: int
    coach_id: int
    confirmed: bool
    end: dt.datetime


@dataclass(frozen=True)
class Local:
    """One sub-calendar's local copy and the switches that govern it."""

    name: str  # the calendar as the coach knows it
    coach_id: int
    stores: bool  # its events are kept (pull switch and tick)
    push_calendar: bool
    push_enabled: bool
    cancellation_notification: bool
    event_ids: frozenset[str]  # remote ids with stored rows
    pushed: tuple[PushedState, ...] = ()
    appointments: Mapping[int, AppointmentState] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)
    empty_since: dt.datetime | None = None


@dataclass(frozen=True)
class Pulled:
    """What the provider reported, read and expanded."""

    changes: ChangeSet
    expanded: tuple[str, ...] = ()  # ids whose rows were computed
    malformed: Mapping[str, str] = field(default_factory=dict)
    ours: tuple[RemoteEvent, ...] = ()  # events carrying our key
    # Events we just created that the listing did not mention and that a
    # lookup found gone (created and deleted before the listing).
    gone: tuple[str, ...] = ()


# -- actions -----------------------------------------------------------------


@dataclass(frozen=True)
class HoldEmptyListing:
    """Keep everything; the listing has been empty since ``since``."""

    since: dt.datetime


@dataclass(frozen=True)
class ReplaceEvents:
    """Replace the stored rows of these events with their expansion."""

    remote_ids: tuple[str, ...]


@dataclass(frozen=True)
class DeleteEvents:
    remote_ids: tuple[str, ...]


@dataclass(frozen=True)
class RecordPushed:
    """Store this state of a pushed event (create the row when ``id`` is None)."""

    pushed: PushedState


@dataclass(frozen=True)
class Repush:
    """Queue push work for the appointment (unless some is pending)."""

    appointment_id: int
    action: str  # "upsert" | "delete"


@dataclass(frozen=True)
class Cancel:
    """Cancel the appointment in the app; its client is emailed."""

    appointment_id: int


@dataclass(frozen=True)
class Notify:
    """Tell the coach what happened to the appointment (``CHANGED`` …)."""

    appointment_id: int
    what: str


@dataclass(frozen=True)
class SaveCursor:
    cursor: str
    full: bool
    stored: bool
    skipped: Mapping[str, str]


Action = (
    HoldEmptyListing
    | ReplaceEvents
    | DeleteEvents
    | RecordPushed
    | Repush
    | Cancel
    | Notify
    | SaveCursor
)


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    events_changed: bool = False
    appointments_changed: bool = False
    notices: int = 0
    repushes: int = 0
    error: str | None = None  # plain words; local data was kept


def empty_listing_message(name: str) -> str:
    return (
        f"“{name}” came back empty although Coach App knows events in it, so "
        "they were kept. If you emptied it on purpose, this clears itself "
        "within the hour."
    )


# -- the decision ----------------------------------------------------------------


def decide(local: Local, pulled: Pulled, now: dt.datetime) -> Plan:
    """The actions one pull of ``local``'s calendar calls for."""
    plan = Plan()
    changes = pulled.changes
    skipped = dict(local.skipped)
    wiped = False
    if changes.full:
        held = set(local.event_ids)
        held.update(p.remote_id for p in local.pushed if p.remote_id)
        held.difference_update(pulled.gone)
        since = local.empty_since
        confirmed = since is not None and now - since >= WIPE_CONFIRM_AFTER
        try:
            deleted = reconcile(held, changes, allow_wipe=confirmed)
        except WipeRefused:
            plan.actions.append(HoldEmptyListing(since or now))
            plan.error = empty_listing_message(local.name)
            return plan
        wiped = since is not None and not changes.changed
        listed = {event.id for event in changes.changed}
        skipped = {k: v for k, v in skipped.items() if k in listed}
    else:
        deleted = list(changes.deleted)
    deleted += [remote_id for remote_id in pulled.gone if remote_id not in deleted]

    if local.stores:
        plan.actions.append(ReplaceEvents(pulled.expanded))
        for remote_id in pulled.expanded:
            skipped.pop(remote_id, None)
        skipped.update(pulled.malformed)
        plan.events_changed = bool(pulled.expanded)
    else:
        skipped = {}
    if deleted:
        plan.actions.append(DeleteEvents(tuple(deleted)))
        plan.events_changed |= not local.event_ids.isdisjoint(deleted)
        for remote_id in deleted:
            skipped.pop(remote_id, None)

    if local.push_calendar and (pulled.ours or deleted):
        _Pushed(local, now, plan).decide(pulled.ours, deleted, wiped)

    # An empty full listing leaves no cursor, so the next pull lists in
    # full again: as cheap for an empty calendar, and a server that wrongly
    # answered "empty" cannot hide events behind its cursor.
    empty = changes.full and not changes.changed
    plan.actions.append(
        SaveCursor(
            cursor="" if empty else changes.cursor or "",
            full=changes.full,
            stored=local.stores,
            skipped=skipped,
        )
    )
    return plan


@dataclass
class _Pushed:
    """Our pushed events in the changes: echoes, edits, deletions."""

    local: Local
    now: dt.datetime
    plan: Plan
    cancelled: set[int] = field(default_factory=set)
    rows: dict[int, PushedState] = field(default_factory=dict)  # by position

    def decide(
        self, ours: tuple[RemoteEvent, ...], deleted: list[str], wiped: bool
    ) -> None:
        pushed = list(self.local.pushed)
        self.rows = dict(enumerate(pushed))
        by_remote = {p.remote_id: n for n, p in enumerate(pushed) if p.remote_id}
        by_key = {p.key: n for n, p in enumerate(pushed)}
        for event in ours:
            n = by_remote.get(event.id)
            if n is None:
                n = by_key.get(event.coach_key or "")
            if n is None:
                self._adopt_orphan(event)
            elif self.rows[n].remote_id != event.id:
                self._adopt(n, event)
            elif not (event.etag and event.etag == self.rows[n].etag):
                self._changed(n, event)
        for remote_id in deleted:
            n = by_remote.get(remote_id)
            if n is not None:
                self._deleted(n, may_cancel=not wiped)

    # -- helpers ---------------------------------------------------------------

    def _record(self, n: int, state: PushedState) -> None:
        self.rows[n] = state
        self.plan.actions.append(RecordPushed(state))

    def _appointment(self, appointment_id: int) -> AppointmentState | None:
        return self.local.appointments.get(appointment_id)

    def _confirmed(self, appointment: AppointmentState) -> bool:
        return appointment.confirmed and appointment.id not in self.cancelled

    def _live(self, appointment: AppointmentState | None) -> bool:
        """Does the app still want this appointment in the push calendar?"""
        return (
            self.local.push_enabled
            and appointment is not None
            and self._confirmed(appointment)
            and appointment.end > self.now
        )

    def _queue(self, appointment: AppointmentState, action: str | None = None) -> None:
        if action is None:
            action = "upsert" if self._confirmed(appointment) else "delete"
        self.plan.actions.append(Repush(appointment.id, action))
        self.plan.repushes += 1

    def _notify(self, appointment: AppointmentState, what: str) -> None:
        self.plan.actions.append(Notify(appointment.id, what))
        self.plan.notices += 1

    # -- the cases -------------------------------------------------------------

    def _adopt_orphan(self, event: RemoteEvent) -> None:
        appointment_id = appointment_id_from_key(event.coach_key)
        appointment = (
            self._appointment(appointment_id) if appointment_id is not None else None
        )
        if appointment is None or appointment.coach_id != self.local.coach_id:
            return  # not one of this coach's (another installation's, say)
        new = PushedState(None, appointment.id, event.coach_key or "", "", "", "")
        n = -1 - len([k for k in self.rows if k < 0])  # a fresh slot
        self.rows[n] = new
        self._adopt(n, event)

    def _adopt(self, n: int, event: RemoteEvent) -> None:
        state = replace(
            self.rows[n], remote_id=event.id, etag=event.etag or "", content_hash=""
        )
        self._record(n, state)  # unknown which version reached the server
        appointment = self._appointment(state.appointment_id)
        if appointment is not None and self.local.push_enabled:
            self._queue(appointment)

    def _changed(self, n: int, event: RemoteEvent) -> None:
        state = replace(self.rows[n], etag=event.etag or "")
        self._record(n, state)
        appointment = self._appointment(state.appointment_id)
        if not self._live(appointment):
            return
        assert appointment is not None
        if not state.content_hash:
            self._queue(appointment)  # content unknown: make sure it is ours
            return
        if remote_content_hash(event.raw) == state.content_hash:
            return
        self._queue(appointment, "upsert")
        self._notify(appointment, CHANGED)

    def _deleted(self, n: int, *, may_cancel: bool) -> None:
        state = replace(self.rows[n], remote_id="", etag="", content_hash="")
        self._record(n, state)
        appointment = self._appointment(state.appointment_id)
        if not self._live(appointment):
            return
        assert appointment is not None
        if self.local.cancellation_notification and may_cancel:
            self.plan.actions.append(Cancel(appointment.id))
            self.cancelled.add(appointment.id)
            self.plan.appointments_changed = True
            self._notify(appointment, CANCELLED)
        else:
            self._queue(appointment, "upsert")
            self._notify(appointment, PUT_BACK)
