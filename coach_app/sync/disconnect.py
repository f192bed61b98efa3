"""The network side of Disconnect, before the connection is forgotten here.

1. Stop the connection's push channels (``channels.stop_channels``).
2. If the coach asked for it, remove the appointments the app pushed to the
   push calendar (each by its own id; one the coach already deleted counts
   as removed). Otherwise they stay in the external calendar, as the coach's
   own record.
3. Give the grant back (``spec.revoke``: OAuth services revoke the refresh
   token; password services have nothing to revoke).

Every step is best effort: the account is forgotten here either way, and a
failure is logged and counted, never raised. Call it while the connection
row and its credentials still exist.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlmodel import col, select

from coach_app.calendars.errors import NotFound, ProviderError
from coach_app.calendars.registry import spec_for
from coach_app.db import session_scope
from coach_app.models import CalendarConnection, PushedEvent, SubCalendar
from coach_app.sync.channels import stop_channels
from coach_app.sync.providers import provider_for, stored_credentials

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Released:
    removed: int = 0  # pushed appointments removed from the external calendar
    not_removed: int = 0  # ones that could not be removed (left in place)


async def release(
    connection_id: int, *, remove_pushed: bool, url: str | None = None
) -> Released:
    """Stop channels, optionally remove pushed events, revoke the grant."""
    try:
        await stop_channels(connection_id, url=url)
    except Exception as exc:
        log.warning("stopping channels of %s failed: %s", connection_id, exc)
    connection, pushed = await asyncio.to_thread(_load, url, connection_id)
    if connection is None:
        return Released()
    result = Released()
    if remove_pushed and pushed:
        result = await _remove(connection, pushed, url)
    try:
        spec = spec_for(connection.provider)
        await spec.revoke(stored_credentials(spec, connection))
    except Exception as exc:
        log.warning("revoking the grant of %s failed: %s", connection_id, exc)
    return result


async def _remove(
    connection: CalendarConnection,
    pushed: list[tuple[str, str, str]],
    url: str | None,
) -> Released:
    removed = failed = 0
    try:
        provider = provider_for(connection, url=url)
    except ProviderError as exc:
        log.warning("connection %s: pushed events kept: %s", connection.id, exc)
        return Released(0, len(pushed))
    try:
        for calendar, remote_id, _etag in pushed:
            try:
                # Unconditional: the appointment is the app's own, whatever
                # the coach did to its copy meanwhile.
                await provider.delete(calendar, remote_id, None)
            except NotFound:
                pass
            except ProviderError as exc:
                log.info("pushed event %s not removed: %s", remote_id, exc)
                failed += 1
                continue
            removed += 1
    finally:
        await provider.aclose()
    return Released(removed, failed)


def _load(
    url: str | None, connection_id: int
) -> tuple[CalendarConnection | None, list[tuple[str, str, str]]]:
    with session_scope(url) as session:
        connection = session.get(CalendarConnection, connection_id)
        if connection is None:
            return None, []
        session.expunge(connection)
        rows = session.exec(
            select(SubCalendar.remote_id, PushedEvent.remote_id, PushedEvent.etag)
            .join(PushedEvent, col(PushedEvent.sub_calendar_id) == SubCalendar.id)
            .where(
                col(SubCalendar.connection_id) == connection_id,
                col(PushedEvent.remote_id) != "",
            )
        ).all()
        return connection, [tuple(r) for r in rows]  # type: ignore[misc]
