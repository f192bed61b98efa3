"""Which ``CalendarProvider`` serves a stored connection.

A registry from ``CalendarConnection.provider`` ("icloud", "caldav",
"google", …) to a factory, so the engine never branches on the provider:
another provider plugs in with ``register_provider`` and tests may swap a
factory (``register_provider`` returns the previous one to restore).

The factory decrypts the stored secret. A secret that no longer decrypts
(the key was rotated away or lost) is reported as ``AuthError``: the coach
has to enter the password again, which is exactly what "reconnect" asks.

Google ("google"): the secret is ``GoogleTokens.to_json()``; the provider
gets a ``TokenSource`` configured from ``COACH_APP_GOOGLE_*``
(``GoogleConfig.from_env``). A refreshed access token is written back,
encrypted, in a short transaction of its own (in a thread, while the sync
holds no transaction), into the database the sync runs on
(``provider_for(..., url=)``). It is written only while the row still holds
the grant that was refreshed: if the coach reconnected meanwhile, the new
grant wins. ``invalid_grant`` on refresh is an ``AuthError`` whose message
asks to reconnect Google, so the engine sets "reconnect" and emails once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from coach_app.calendars.base import CalendarProvider
from coach_app.calendars.caldav import (
    GENERIC_CALDAV,
    ICLOUD,
    CalDAVProvider,
    quirks_by_name,
)
from coach_app.calendars.errors import AuthError, ProviderError
from coach_app.calendars.google import (
    GoogleConfig,
    GoogleProvider,
    GoogleTokens,
    TokenSource,
)
from coach_app.calendars.google.oauth import RECONNECT_MESSAGE
from coach_app.db import session_scope
from coach_app.models import CalendarConnection
from coach_app.security.secrets import InvalidToken, decrypt, encrypt

log = logging.getLogger(__name__)

ProviderFactory = Callable[[CalendarConnection], CalendarProvider]

_registry: dict[str, ProviderFactory] = {}
# The database the provider being built belongs to (set by ``provider_for``),
# so a factory can write back what the provider learns (refreshed tokens).
_database_url: ContextVar[str | None] = ContextVar("_database_url", default=None)


class UnknownProvider(ProviderError):
    default_user_message = (
        "This kind of calendar is not supported by this version of Coach App."
    )


def register_provider(kind: str, factory: ProviderFactory) -> ProviderFactory | None:
    """Serve connections of ``kind`` with ``factory``; returns the one replaced."""
    previous = _registry.get(kind)
    _registry[kind] = factory
    return previous


def unregister_provider(kind: str) -> None:
    _registry.pop(kind, None)


def provider_for(
    connection: CalendarConnection, *, url: str | None = None
) -> CalendarProvider:
    """A ready provider for ``connection`` (the caller must ``aclose`` it).

    ``url`` is the database the connection lives in (None: the default one);
    factories read it with ``database_url()`` while they run.
    """
    factory = _registry.get(connection.provider)
    if factory is None:
        raise UnknownProvider(f"no provider registered for {connection.provider!r}")
    with _building_for(url):
        return factory(connection)


@contextmanager
def _building_for(url: str | None) -> Iterator[None]:
    reset = _database_url.set(url)
    try:
        yield
    finally:
        _database_url.reset(reset)


def database_url() -> str | None:
    """Inside a factory: the database of the connection being served."""
    return _database_url.get()


def connection_secret(connection: CalendarConnection) -> str:
    """The decrypted secret ("" when none is stored)."""
    if not connection.secret_encrypted:
        return ""
    try:
        return decrypt(connection.secret_encrypted)
    except InvalidToken as exc:
        raise AuthError(
            f"connection {connection.id}: stored secret does not decrypt"
        ) from exc


def caldav_provider(connection: CalendarConnection, **options: Any) -> CalDAVProvider:
    """The CalDAV/iCloud factory; ``options`` go to ``CalDAVProvider`` (tests
    pass ``transport``)."""
    preset = ICLOUD if connection.provider == "icloud" else GENERIC_CALDAV
    quirks = (
        quirks_by_name(connection.server_profile) if connection.server_profile else None
    )
    return CalDAVProvider(
        connection.server_url or None,
        connection.username,
        connection_secret(connection),
        preset=preset,
        quirks=quirks,
        **options,
    )


def google_tokens(connection: CalendarConnection) -> GoogleTokens:
    """The stored Google tokens; unreadable ones mean "reconnect Google"."""
    try:
        return GoogleTokens.from_json(connection_secret(connection))
    except AuthError as exc:
        raise AuthError(str(exc), user_message=RECONNECT_MESSAGE) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthError(
            f"connection {connection.id}: stored Google tokens are unreadable",
            user_message=RECONNECT_MESSAGE,
        ) from exc


def google_provider(connection: CalendarConnection, **options: Any) -> GoogleProvider:
    """The Google factory: a ``GoogleProvider`` whose ``TokenSource`` persists
    every refresh (see the module docstring). ``options`` go to
    ``GoogleProvider`` (tests pass ``transport``)."""
    config = GoogleConfig.from_env()
    tokens = google_tokens(connection)
    assert connection.id is not None
    source = TokenSource(
        config,
        tokens,
        on_refresh=token_saver(database_url(), connection.id, tokens.refresh_token),
    )
    return GoogleProvider(source, api_base=config.api_base, **options)


def token_saver(
    url: str | None, connection_id: int, refresh_token: str | None
) -> Callable[[GoogleTokens], Awaitable[None]]:
    """An ``on_refresh`` callback that stores new tokens encrypted."""
    held = [refresh_token]  # the grant this provider refreshes

    async def save(fresh: GoogleTokens) -> None:
        if await asyncio.to_thread(_store_tokens, url, connection_id, held[0], fresh):
            held[0] = fresh.refresh_token

    return save


def _store_tokens(
    url: str | None,
    connection_id: int,
    refreshed_grant: str | None,
    fresh: GoogleTokens,
) -> bool:
    with session_scope(url) as session:
        row = session.get(CalendarConnection, connection_id)
        if row is None:
            return False  # disconnected meanwhile
        try:
            stored = json.loads(decrypt(row.secret_encrypted))
        except (InvalidToken, ValueError):
            stored = None
        if isinstance(stored, dict) and stored.get("refresh_token") != refreshed_grant:
            log.info("connection %s was reconnected; refresh not stored", connection_id)
            return False
        row.secret_encrypted = encrypt(fresh.to_json())
        session.add(row)
    return True


register_provider("caldav", caldav_provider)
register_provider("icloud", caldav_provider)
register_provider("google", google_provider)
