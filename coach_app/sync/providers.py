"""Which ``CalendarProvider`` serves a stored connection.

A registry from ``CalendarConnection.provider`` ("icloud", "caldav", later
"google", …) to a factory, so the engine never branches on the provider:
another provider plugs in with ``register_provider`` and tests may swap a
factory (``register_provider`` returns the previous one to restore).

The factory decrypts the stored secret. A secret that no longer decrypts
(the key was rotated away or lost) is reported as ``AuthError``: the coach
has to enter the password again, which is exactly what "reconnect" asks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coach_app.calendars.base import CalendarProvider
from coach_app.calendars.caldav import (
    GENERIC_CALDAV,
    ICLOUD,
    CalDAVProvider,
    quirks_by_name,
)
from coach_app.calendars.errors import AuthError, ProviderError
from coach_app.models import CalendarConnection
from coach_app.security.secrets import InvalidToken, decrypt

ProviderFactory = Callable[[CalendarConnection], CalendarProvider]

_registry: dict[str, ProviderFactory] = {}


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


def provider_for(connection: CalendarConnection) -> CalendarProvider:
    """A ready provider for ``connection`` (the caller must ``aclose`` it)."""
    factory = _registry.get(connection.provider)
    if factory is None:
        raise UnknownProvider(f"no provider registered for {connection.provider!r}")
    return factory(connection)


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


register_provider("caldav", caldav_provider)
register_provider("icloud", caldav_provider)
