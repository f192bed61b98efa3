"""Google OAuth 2.0 for the Connect wizard and the sync engine (authlib).

Flow: ``start_authorization`` gives the consent URL (authorization code +
PKCE S256 + a one-time ``state`` + ``access_type=offline&prompt=consent`` so
Google always returns a refresh token); the wizard keeps ``state`` and
``code_verifier`` server-side, sends the coach to ``url``, and on the
callback calls ``code_from_callback`` (checks ``state``, turns ``error=`` into
plain words) and ``exchange_code``. The engine stores ``GoogleTokens``
encrypted and builds a ``TokenSource`` for the provider.

Failures use the shared hierarchy: ``invalid_grant`` (revoked, expired, or
password changed) → ``AuthError`` asking to reconnect Google; network and
5xx → ``Transient``; 429 → ``RateLimited``; a misconfigured client
(``invalid_client``…) → ``ProviderError``.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import secrets
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from authlib.integrations.base_client import OAuthError

with warnings.catch_warnings():
    # authlib 1.7+ prefers the "httpx2" fork and warns once when it falls back
    # to httpx, which is what this project uses; the fallback is supported.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from coach_app.calendars.caldav.transport import parse_retry_after
from coach_app.calendars.deadline import deadline, request_deadline
from coach_app.calendars.errors import AuthError, ProviderError, RateLimited, Transient
from coach_app.calendars.google.config import GoogleConfig

RECONNECT_MESSAGE = (
    "Google no longer accepts Coach App's access to your calendar "
    "(it was revoked or has expired). Please reconnect Google in "
    "My Settings → Integrations."
)
DENIED_MESSAGE = (
    "Google was not connected because access was not allowed. "
    "Try again and choose Allow on Google's page."
)
CONFIG_MESSAGE = (
    "Google sign-in is not set up correctly on this server. Please contact support."
)


@dataclass(frozen=True)
class GoogleTokens:
    """What the token endpoint granted; persist it encrypted (``to_dict``)."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime  # aware UTC
    scope: str = ""
    token_type: str = "Bearer"

    def expired(self, leeway: float = 60.0, now: datetime | None = None) -> bool:
        moment = now or datetime.now(UTC)
        return self.expires_at - timedelta(seconds=leeway) <= moment

    @classmethod
    def from_response(
        cls,
        body: Mapping[str, Any],
        *,
        previous_refresh_token: str | None = None,
        now: datetime | None = None,
    ) -> GoogleTokens:
        """From a token response; a refresh response keeps the old refresh token."""
        moment = now or datetime.now(UTC)
        expires_in = float(body.get("expires_in") or 3600)
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token") or previous_refresh_token,
            expires_at=moment + timedelta(seconds=expires_in),
            scope=str(body.get("scope") or ""),
            token_type=str(body.get("token_type") or "Bearer"),
        )

    def to_dict(self) -> dict[str, str | None]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
            "scope": self.scope,
            "token_type": self.token_type,
        }

    def to_json(self) -> str:
        """One string to encrypt into ``CalendarConnection``'s secret."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GoogleTokens:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GoogleTokens:
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token"),
            expires_at=datetime.fromisoformat(str(data["expires_at"])),
            scope=str(data.get("scope") or ""),
            token_type=str(data.get("token_type") or "Bearer"),
        )


@dataclass(frozen=True)
class AuthorizationRequest:
    """Keep ``state`` and ``code_verifier`` server-side until the callback."""

    url: str
    state: str
    code_verifier: str
    redirect_uri: str


async def start_authorization(
    config: GoogleConfig,
    redirect_uri: str,
    *,
    login_hint: str | None = None,
) -> AuthorizationRequest:
    """The consent URL with PKCE S256, a fresh ``state``, offline access."""
    verifier = secrets.token_urlsafe(64)  # 86 chars, within RFC 7636's 43–128
    state = secrets.token_urlsafe(32)
    extra: dict[str, str] = {"access_type": "offline", "prompt": "consent"}
    if login_hint:
        extra["login_hint"] = login_hint
    async with _client(config, redirect_uri=redirect_uri) as client:
        url, _ = client.create_authorization_url(
            config.auth_url, state=state, code_verifier=verifier, **extra
        )
    return AuthorizationRequest(url, state, verifier, redirect_uri)


def code_from_callback(params: Mapping[str, str], expected_state: str) -> str:
    """The ``code`` of a redirect back from Google, after checking ``state``.

    Raises ``AuthError`` with a message for the coach when access was denied,
    the state does not match (a forged or replayed callback), or no code came.
    """
    received = params.get("state") or ""
    if not expected_state or not hmac.compare_digest(received, expected_state):
        raise AuthError(
            "OAuth callback state mismatch",
            user_message="That sign-in link has expired. Please start connecting "
            "Google again.",
        )
    if params.get("error"):
        raise AuthError(f"OAuth error {params['error']}", user_message=DENIED_MESSAGE)
    code = params.get("code")
    if not code:
        raise AuthError("OAuth callback without a code", user_message=DENIED_MESSAGE)
    return code


async def exchange_code(
    config: GoogleConfig,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> GoogleTokens:
    """Trade the authorization code (with its PKCE verifier) for tokens."""
    async with _client(
        config, redirect_uri=redirect_uri, transport=transport
    ) as client:
        body = await _token_call(
            client.fetch_token(
                config.token_url,
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
            )
        )
    tokens = GoogleTokens.from_response(body)
    if not tokens.refresh_token:
        raise AuthError(
            "token response without refresh_token",
            user_message="Google did not grant lasting access. Please connect again.",
        )
    return tokens


async def refresh_access_token(
    config: GoogleConfig,
    refresh_token: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> GoogleTokens:
    """A new access token; ``invalid_grant`` → ``AuthError`` (reconnect)."""
    # No ``scope`` on refresh: the coach may have unticked some on Google's
    # consent page, and asking for more than was granted is invalid_scope.
    async with _client(config, transport=transport, with_scope=False) as client:
        body = await _token_call(
            client.refresh_token(config.token_url, refresh_token=refresh_token)
        )
    return GoogleTokens.from_response(body, previous_refresh_token=refresh_token)


async def revoke_token(
    config: GoogleConfig,
    token: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """Revoke a grant on Disconnect (best effort: an already revoked token is fine)."""
    try:
        async with (
            deadline(request_deadline(), "revoke"),
            httpx.AsyncClient(timeout=30.0, transport=transport) as client,
        ):
            response = await client.post(config.revoke_url, data={"token": token})
    except httpx.HTTPError as exc:
        raise Transient(f"revoke: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 500:
        raise Transient(f"revoke → {response.status_code}")


class AccessTokenSource(Protocol):
    """Gives the provider a bearer token.

    ``rejected`` is a token the API just refused with 401: return a different
    (refreshed) one, or raise ``AuthError`` if none can be had.
    """

    async def access_token(self, *, rejected: str | None = None) -> str: ...


class StaticToken:
    """A fixed access token (tests, scripts): a 401 means reconnect."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def access_token(self, *, rejected: str | None = None) -> str:
        if rejected is not None and rejected == self._token:
            raise AuthError("access token rejected", user_message=RECONNECT_MESSAGE)
        return self._token


TokensCallback = Callable[[GoogleTokens], Awaitable[None] | None]


class TokenSource:
    """Refreshes the access token when it is (nearly) expired or rejected.

    New tokens are reported to ``on_refresh`` (sync or async) so the caller can
    persist them encrypted. Concurrent callers share one refresh: a lock, and
    a rejected token that was already replaced is not refreshed again.
    """

    def __init__(
        self,
        config: GoogleConfig,
        tokens: GoogleTokens,
        *,
        on_refresh: TokensCallback | None = None,
        leeway: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = config
        self._tokens = tokens
        self._on_refresh = on_refresh
        self._leeway = leeway
        self._transport = transport
        self._lock = asyncio.Lock()

    @property
    def tokens(self) -> GoogleTokens:
        return self._tokens

    async def access_token(self, *, rejected: str | None = None) -> str:
        async with self._lock:
            current = self._tokens
            stale = current.expired(self._leeway) or (
                rejected is not None and rejected == current.access_token
            )
            if not stale:
                return current.access_token
            if not current.refresh_token:
                raise AuthError("no refresh token", user_message=RECONNECT_MESSAGE)
            fresh = await refresh_access_token(
                self._config, current.refresh_token, transport=self._transport
            )
            self._tokens = fresh
            if self._on_refresh is not None:
                result = self._on_refresh(fresh)
                if inspect.isawaitable(result):
                    await result
            return fresh.access_token


def _client(
    config: GoogleConfig,
    *,
    redirect_uri: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    with_scope: bool = True,
) -> AsyncOAuth2Client:
    kwargs: dict[str, Any] = {"timeout": 30.0}
    if transport is not None:
        kwargs["transport"] = transport
    return AsyncOAuth2Client(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scope=" ".join(config.scopes) if with_scope else None,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",
        **kwargs,
    )


async def _token_call(call: Awaitable[Any]) -> dict[str, Any]:
    """Run an authlib token request; map its failures onto our hierarchy."""
    try:
        async with deadline(request_deadline(), "token endpoint"):
            token = await call
    except OAuthError as exc:
        error = getattr(exc, "error", "") or ""
        detail = f"token endpoint: {error}: {getattr(exc, 'description', '')}"
        if error == "invalid_grant":
            raise AuthError(detail, user_message=RECONNECT_MESSAGE) from exc
        raise ProviderError(detail, user_message=CONFIG_MESSAGE) from exc
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        if status == 429:
            raise RateLimited(
                f"token endpoint → {status}",
                retry_after=parse_retry_after(exc.response.headers.get("Retry-After")),
            ) from exc
        if status >= 500:
            raise Transient(f"token endpoint → {status}") from exc
        raise ProviderError(f"token endpoint → {status}") from exc
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        raise Transient(f"token endpoint: {type(exc).__name__}: {exc}") from exc
    except ValueError as exc:  # not a JSON object
        raise Transient(f"token endpoint: {exc}") from exc
    return dict(token)
