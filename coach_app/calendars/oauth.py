"""OAuth 2.0 for every provider that signs in with it (authlib).

Flow: ``start_authorization`` gives the consent URL (authorization code +
PKCE S256 + a one-time ``state`` + the provider's extra parameters, such as
Google's ``access_type=offline&prompt=consent``); the caller keeps ``state``
and ``code_verifier`` server-side, sends the coach to ``url``, and on the
callback calls ``code_from_callback`` (checks ``state``) and
``exchange_code``. The tokens are stored encrypted (``OAuthTokens.to_json``)
and a ``TokenSource`` hands the provider fresh access tokens.

Refresh tokens may roll: when the token endpoint sends a new refresh token
(Microsoft does on every refresh), it replaces the old one and
``on_refresh`` is told, so the caller stores it; when it sends none (Google),
the old one is kept.

Failures use the shared hierarchy: ``invalid_grant`` (revoked, expired,
password changed) → ``AuthError`` with the provider's reconnect message;
network and 5xx → ``Transient``; 429 → ``RateLimited``; a misconfigured
client (``invalid_client``…) → ``ProviderError``.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import secrets
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from authlib.integrations.base_client import OAuthError

with warnings.catch_warnings():
    # authlib 1.7+ prefers the "httpx2" fork and warns once when it falls back
    # to httpx, which is what this project uses; the fallback is supported.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from coach_app.calendars.deadline import deadline, request_deadline
from coach_app.calendars.errors import AuthError, ProviderError, RateLimited, Transient
from coach_app.calendars.http_util import parse_retry_after

CONFIG_MESSAGE = (
    "Signing in to this calendar service is not set up correctly on this "
    "server. Please contact support."
)
STATE_MESSAGE = "That sign-in link has expired. Please start connecting again."
NO_REFRESH_MESSAGE = (
    "The calendar service did not grant lasting access. Please connect again."
)


@dataclass(frozen=True)
class OAuthConfig:
    """One provider's OAuth client and endpoints, read from the environment."""

    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    reconnect_message: str
    revoke_url: str = ""  # "" when the provider has no revocation endpoint
    # Scopes the coach must have left ticked on the consent page (empty: the
    # provider does not let them be unticked, or does not report them).
    required_scopes: tuple[str, ...] = ()
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    # Google refuses a ``scope`` on refresh beyond what was granted; the
    # Microsoft identity platform asks for it on every refresh.
    scope_on_refresh: bool = False

    @property
    def configured(self) -> bool:
        """True when a client id and secret are set (else "coming soon")."""
        return bool(self.client_id and self.client_secret)


@dataclass(frozen=True)
class OAuthTokens:
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
    ) -> OAuthTokens:
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
    def from_json(cls, text: str) -> OAuthTokens:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OAuthTokens:
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
    config: OAuthConfig,
    redirect_uri: str,
    *,
    login_hint: str | None = None,
) -> AuthorizationRequest:
    """The consent URL with PKCE S256, a fresh ``state`` and the provider's
    extra parameters."""
    verifier = secrets.token_urlsafe(64)  # 86 chars, within RFC 7636's 43–128
    state = secrets.token_urlsafe(32)
    extra: dict[str, str] = dict(config.authorize_params)
    if login_hint:
        extra["login_hint"] = login_hint
    async with _client(config, redirect_uri=redirect_uri) as client:
        url, _ = client.create_authorization_url(
            config.authorize_url, state=state, code_verifier=verifier, **extra
        )
    return AuthorizationRequest(url, state, verifier, redirect_uri)


def code_from_callback(params: Mapping[str, str], expected_state: str) -> str:
    """The ``code`` of a redirect back from the provider, after checking ``state``.

    Raises ``AuthError`` when the state does not match (a forged or replayed
    callback) or no code came (access was not allowed).
    """
    received = params.get("state") or ""
    if not expected_state or not hmac.compare_digest(received, expected_state):
        raise AuthError("OAuth callback state mismatch", user_message=STATE_MESSAGE)
    code = params.get("code")
    if params.get("error") or not code:
        raise AuthError(f"OAuth callback without a code: {params.get('error')}")
    return code


async def exchange_code(
    config: OAuthConfig,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> OAuthTokens:
    """Trade the authorization code (with its PKCE verifier) for tokens."""
    async with _client(
        config, redirect_uri=redirect_uri, transport=transport
    ) as client:
        body = await _token_call(
            config,
            client.fetch_token(
                config.token_url,
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
            ),
        )
    tokens = OAuthTokens.from_response(body)
    if not tokens.refresh_token:
        raise AuthError(
            "token response without refresh_token", user_message=NO_REFRESH_MESSAGE
        )
    return tokens


async def refresh_access_token(
    config: OAuthConfig,
    refresh_token: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> OAuthTokens:
    """A new access token (and, if the server rolls them, a new refresh
    token); ``invalid_grant`` → ``AuthError`` (reconnect)."""
    async with _client(
        config, transport=transport, with_scope=config.scope_on_refresh
    ) as client:
        body = await _token_call(
            config, client.refresh_token(config.token_url, refresh_token=refresh_token)
        )
    return OAuthTokens.from_response(body, previous_refresh_token=refresh_token)


async def revoke_token(
    config: OAuthConfig,
    token: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """Revoke a grant on Disconnect (best effort: an already revoked token is
    fine; a provider without a revocation endpoint has nothing to call)."""
    if not config.revoke_url:
        return
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

    def __init__(self, token: str, *, reconnect_message: str | None = None) -> None:
        self._token = token
        self._message = reconnect_message

    async def access_token(self, *, rejected: str | None = None) -> str:
        if rejected is not None and rejected == self._token:
            raise AuthError("access token rejected", user_message=self._message)
        return self._token


TokensCallback = Callable[[OAuthTokens], Awaitable[None] | None]


class TokenSource:
    """Refreshes the access token when it is (nearly) expired or rejected.

    New tokens are reported to ``on_refresh`` (sync or async) so the caller can
    persist them encrypted. Concurrent callers share one refresh: a lock, and
    a rejected token that was already replaced is not refreshed again.
    """

    def __init__(
        self,
        config: OAuthConfig,
        tokens: OAuthTokens,
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
    def tokens(self) -> OAuthTokens:
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
                raise AuthError(
                    "no refresh token", user_message=self._config.reconnect_message
                )
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
    config: OAuthConfig,
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


async def _token_call(config: OAuthConfig, call: Awaitable[Any]) -> dict[str, Any]:
    """Run an authlib token request; map its failures onto our hierarchy."""
    try:
        async with deadline(request_deadline(), "token endpoint"):
            token = await call
    except OAuthError as exc:
        error = getattr(exc, "error", "") or ""
        detail = f"token endpoint: {error}: {getattr(exc, 'description', '')}"
        if error == "invalid_grant":
            raise AuthError(detail, user_message=config.reconnect_message) from exc
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
