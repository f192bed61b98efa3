"""The provider-neutral sync engine: pull, push outbox, reconciliation, scheduler.

No Reflex here. Modules:

- ``providers``: connection → ``CalendarProvider`` (through its spec in
  ``calendars.registry``), OAuth tokens refreshed and stored;
- ``pull``: one sub-calendar into ``ExternalEvent`` rows (cursors, full
  listings, recurrence expansion, deletions);
- ``reconcile``: our pushed events seen in the push calendar (echoes,
  external edits and deletions);
- ``push``: the ``PushOutbox`` into the push calendar, crash-safe;
- ``engine``: ``sync_connection`` (lease, phases, status, back-off);
- ``scheduler``: ``sync_loop`` for a lifespan task, ``request_sync``;
- ``switches``: what the pull/push switches and a new connection set in
  motion (in the caller's transaction);
- ``channels``: push-notification channels (Google ``events.watch``),
  maintained by the engine; ``stop_channels`` for Disconnect.

A sync that changed pulled events or appointments announces it through
``changes.coach_changed`` like every other change.
"""

from coach_app.sync.channels import stop_channels
from coach_app.sync.engine import SyncResult, sync_connection
from coach_app.sync.providers import provider_for
from coach_app.sync.scheduler import request_sync, sync_loop
from coach_app.sync.switches import (
    on_pull_switch,
    on_push_switch,
    push_existing_appointments,
)

__all__ = [
    "SyncResult",
    "on_pull_switch",
    "on_push_switch",
    "provider_for",
    "push_existing_appointments",
    "request_sync",
    "stop_channels",
    "sync_connection",
    "sync_loop",
]
