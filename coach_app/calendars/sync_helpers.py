"""Pure helpers for the sync engine that every provider's results share."""

from __future__ import annotations

from collections.abc import Iterable

from coach_app.calendars.base import ChangeSet


class WipeRefused(RuntimeError):
    """A full listing came back empty while we hold events locally.

    An empty answer is far more often a server or permission hiccup than a
    coach deleting every event; acting on it would cancel appointments and
    email clients. The caller decides (e.g. confirm with a second listing)
    and passes ``allow_wipe=True`` to proceed.
    """


def reconcile(
    local_ids: Iterable[str], listing: ChangeSet, *, allow_wipe: bool = False
) -> list[str]:
    """Ids held locally that a full listing no longer contains, sorted.

    A full listing reports no deletions, so after a rejected cursor this is
    the only way deletions made during the gap are noticed.
    """
    if not listing.full:
        raise ValueError("reconcile needs a full listing (ChangeSet.full=True)")
    local = set(local_ids)
    remote = {event.id for event in listing.changed}
    if local and not remote and not allow_wipe:
        raise WipeRefused(
            f"full listing is empty but {len(local)} events are held locally"
        )
    return sorted(local - remote)
