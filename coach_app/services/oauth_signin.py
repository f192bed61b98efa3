"""One OAuth 2.0 sign-in for every service that uses it (Google, Microsoft …).

``begin`` makes the consent URL (authorization code + PKCE S256 + a one-time
``state`` + the spec's extra parameters + an exact redirect URI) and a
``PendingSignIn`` that the caller keeps server-side until the provider sends
the browser back to ``/oauth/<key>/callback``; ``finish`` checks that
callback, trades the code for tokens, lists the account's calendars and
returns a ``FoundAccount`` whose secret is the tokens (with the refresh
token) — stored encrypted by ``signin.connect`` like any password.

The redirect URI is ``COACH_APP_PUBLIC_URL`` + the callback path when that is
set, otherwise the origin the coach's browser is on (the one the provider
has to send it back to, so the browser keeps its session there).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from coach_app.calendars import registry
from coach_app.calendars.errors import AuthError, ProviderError, RateLimited, Transient
from coach_app.calendars.oauth import (
    OAuthConfig,
    OAuthTokens,
    StaticToken,
    code_from_callback,
    exchange_code,
    revoke_token,
    start_authorization,
)
from coach_app.calendars.spec import Credentials, FoundAccount, ProviderSpec
from coach_app.services.errors import UserError
from coach_app.services.signin import COMING_SOON_MESSAGE, offered, usable

log = logging.getLogger(__name__)

CALLBACK_PATH = "/oauth/{key}/callback"
SIGN_IN_TTL = 600.0  # seconds; authorization codes live about 10 minutes


def invalid_link_message(label: str) -> str:
    return f"This {label} sign-in link is not valid any more. Please start again."


def denied_message(label: str) -> str:
    return (
        f"You did not allow access to your {label} calendar, so nothing was "
        f"connected. To connect {label}, start again and choose Allow on "
        f"{label}'s page."
    )


def unreachable_message(label: str) -> str:
    return (
        f"{label} could not be reached just now, so nothing was connected. "
        "Please try again in a minute."
    )


def expired_code_message(label: str) -> str:
    return (
        f"{label} did not accept this sign-in (it may have expired or been used "
        "already), so nothing was connected. Please start again."
    )


def scopes_message(label: str) -> str:
    return (
        f"Coach App needs every permission on {label}'s page: to see your "
        "calendars (so busy times block your booking page) and to edit events "
        "(so your appointments appear in your calendar). Nothing was connected; "
        "please start again and leave them all ticked."
    )


@dataclass(frozen=True)
class PendingSignIn:
    """A started sign-in; kept server-side only, used at most once."""

    provider: str
    state: str
    code_verifier: str
    redirect_uri: str
    coach_id: int
    expires_at: float  # time.time()

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at


def callback_path(key: str) -> str:
    return CALLBACK_PATH.format(key=key)


def redirect_uri(key: str, browser_origin: str) -> str:
    """The exact redirect URI registered with the provider for this app.

    ``COACH_APP_PUBLIC_URL`` (e.g. ``https://coach.example.com``) wins; without
    it, the origin of the page the coach is on. Only ``http(s)://host[:port]``
    is accepted from the browser: no path, query, user info or fragment can
    be smuggled into the redirect URI.
    """
    public = os.environ.get("COACH_APP_PUBLIC_URL", "").strip()
    base = public.rstrip("/") if public else _plain_origin(browser_origin)
    if not base:
        raise UserError(
            "Signing in is not available from this address. Please open "
            "Coach App at its usual address and try again."
        )
    return base + callback_path(key)


def _plain_origin(origin: str) -> str:
    try:
        parts = urlsplit((origin or "").strip())
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return ""
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def _oauth_spec(key: str) -> tuple[ProviderSpec, OAuthConfig]:
    spec = offered(key)
    if spec.oauth is None:
        raise UserError(COMING_SOON_MESSAGE)
    return spec, spec.oauth.config()


async def begin(
    key: str, coach_id: int, browser_origin: str
) -> tuple[str, PendingSignIn]:
    """The consent URL to send the browser to, and what to keep until it returns."""
    _spec, config = _oauth_spec(key)
    request = await start_authorization(config, redirect_uri(key, browser_origin))
    return request.url, PendingSignIn(
        provider=key,
        state=request.state,
        code_verifier=request.code_verifier,
        redirect_uri=request.redirect_uri,
        coach_id=coach_id,
        expires_at=time.time() + SIGN_IN_TTL,
    )


def callback_error(key: str, params: Mapping[str, str]) -> str | None:
    """The message for a callback that carries ``error=`` (None if it has none)."""
    error = params.get("error")
    if not error:
        return None
    label = registry.service_label(key)
    if error == "access_denied":
        return denied_message(label)
    return (
        f"{label} did not connect your calendar ({error[:80]}). Nothing was "
        "saved; please start again."
    )


async def finish(pending: PendingSignIn, params: Mapping[str, str]) -> FoundAccount:
    """Check the callback, trade its code for tokens, read the calendars.

    Raises ``UserError`` with a plain message; nothing is stored either way.
    """
    spec, config = _oauth_spec(pending.provider)
    label = spec.service_name
    denied = callback_error(pending.provider, params)
    if denied:
        raise UserError(denied)
    try:
        code = code_from_callback(params, pending.state)
    except AuthError:
        raise UserError(invalid_link_message(label)) from None
    if pending.expired():
        raise UserError(invalid_link_message(label))
    try:
        tokens = await exchange_code(
            config,
            code=code,
            redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier,
        )
    except ProviderError as exc:
        log.warning("%s code exchange failed: %s", label, exc)
        raise UserError(_exchange_message(config, label, exc)) from None
    try:
        return await _account(spec, config, tokens)
    except UserError:
        await _give_back(config, tokens)
        raise


async def _account(
    spec: ProviderSpec, config: OAuthConfig, tokens: OAuthTokens
) -> FoundAccount:
    label = spec.service_name
    granted = set(tokens.scope.split())
    if granted and not set(config.required_scopes) <= granted:
        raise UserError(scopes_message(label))
    credentials = Credentials(secret=tokens.to_json())
    try:
        bearer = StaticToken(
            tokens.access_token, reconnect_message=config.reconnect_message
        )
        found = await spec.check(spec, credentials, bearer)
    except ProviderError as exc:
        log.warning("%s calendar listing failed: %s", label, exc)
        raise UserError(
            unreachable_message(label)
            if isinstance(exc, Transient)
            else f"{exc.user_message} Nothing was connected."
        ) from None
    return usable(found)


def _exchange_message(config: OAuthConfig, label: str, exc: ProviderError) -> str:
    if isinstance(exc, Transient | RateLimited):
        return unreachable_message(label)
    if isinstance(exc, AuthError) and exc.user_message == config.reconnect_message:
        # invalid_grant at the code exchange: the code expired or was used.
        return expired_code_message(label)
    return exc.user_message


async def _give_back(config: OAuthConfig, tokens: OAuthTokens) -> None:
    """Best effort: revoke a grant we will not keep."""
    try:
        await revoke_token(config, tokens.refresh_token or tokens.access_token)
    except ProviderError as exc:
        log.info("could not revoke an unused grant: %s", exc)
