"""Which ``CalendarProvider`` serves a stored connection.

The provider's spec (``calendars.registry``, by ``CalendarConnection.provider``)
builds it from the stored ``Credentials``; nothing here knows one provider
from another.

The stored secret is decrypted here. A secret that no longer decrypts (the
key was rotated away or lost) or cannot be read is an ``AuthError`` with the
spec's reconnect message: the coach has to sign in again, which is exactly
what "reconnect" asks.

OAuth providers get a ``TokenSource`` built from the spec's OAuth config.
Every refresh is written back, encrypted, in a short transaction of its own
(in a thread, while the sync holds no transaction), into the database the
sync runs on (``provider_for(..., url=)``) — the new refresh token too, when
the provider rolls them. It is written only while the row still holds the
grant that was refreshed: if the coach reconnected meanwhile, the new grant
wins. ``invalid_grant`` on refresh is an ``AuthError`` with the spec's
reconnect message, so the engine sets "reconnect" and emails once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from coach_app.calendars.base import CalendarProvider
from coach_app.calendars.errors import AuthError
from coach_app.calendars.oauth import AccessTokenSource, OAuthTokens, TokenSource
from coach_app.calendars.registry import spec_for
from coach_app.calendars.spec import Credentials, ProviderSpec
from coach_app.db import session_scope
from coach_app.models import CalendarConnection
from coach_app.security.secrets import InvalidToken, decrypt, encrypt

log = logging.getLogger(__name__)


def provider_for(
    connection: CalendarConnection, *, url: str | None = None
) -> CalendarProvider:
    """A ready provider for ``connection`` (the caller must ``aclose`` it).

    ``url`` is the database the connection lives in (None: the default one);
    refreshed OAuth tokens are stored there.
    """
    spec = spec_for(connection.provider)
    credentials = stored_credentials(spec, connection)
    tokens = _token_source(spec, connection, credentials, url) if spec.oauth else None
    return spec.build(credentials, tokens)


def stored_credentials(
    spec: ProviderSpec, connection: CalendarConnection
) -> Credentials:
    """The connection's credentials with the secret decrypted."""
    secret = ""
    if connection.secret_encrypted:
        try:
            secret = decrypt(connection.secret_encrypted)
        except InvalidToken as exc:
            raise AuthError(
                f"connection {connection.id}: stored secret does not decrypt",
                user_message=spec.reconnect_message,
            ) from exc
    return Credentials(
        server_url=connection.server_url,
        username=connection.username,
        secret=secret,
        server_profile=connection.server_profile,
    )


def stored_tokens(spec: ProviderSpec, credentials: Credentials) -> OAuthTokens:
    """The stored OAuth tokens; unreadable ones mean "reconnect"."""
    try:
        return OAuthTokens.from_json(credentials.secret)
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthError(
            "stored OAuth tokens are unreadable", user_message=spec.reconnect_message
        ) from exc


def _token_source(
    spec: ProviderSpec,
    connection: CalendarConnection,
    credentials: Credentials,
    url: str | None,
) -> AccessTokenSource:
    assert spec.oauth is not None and connection.id is not None
    tokens = stored_tokens(spec, credentials)
    return TokenSource(
        spec.oauth.config(),
        tokens,
        on_refresh=token_saver(url, connection.id, tokens.refresh_token),
    )


def token_saver(
    url: str | None, connection_id: int, refresh_token: str | None
) -> Callable[[OAuthTokens], Awaitable[None]]:
    """An ``on_refresh`` callback that stores new tokens encrypted."""
    held = [refresh_token]  # the grant this provider refreshes

    async def save(fresh: OAuthTokens) -> None:
        if await asyncio.to_thread(_store_tokens, url, connection_id, held[0], fresh):
            held[0] = fresh.refresh_token

    return save


def _store_tokens(
    url: str | None,
    connection_id: int,
    refreshed_grant: str | None,
    fresh: OAuthTokens,
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
