"""An OAuth 2.0 authorization server shared by the provider sandboxes.

``OAuthAuthority`` keeps users, registered clients (with exact redirect
URIs), pending consent requests, authorization codes, grants and access
tokens, and implements the protocol (RFC 6749, PKCE RFC 7636, revocation
RFC 7009) once:

* ``begin_authorization(params)``: validates an authorization request the
  way identity providers do: an unknown client or a redirect URI that does
  not match a registered one *exactly* is answered with an error page and
  never redirected; other errors are redirected to the client; a valid
  request waits for the consent page (``OAuthResult.kind == "consent"``).
* ``complete_authorization(...)``: the consent page's Allow (a code) or
  Cancel (``error=access_denied``).
* ``token_endpoint(form, basic)``: ``authorization_code`` (with PKCE S256 or
  plain checked, one use only: a replayed code revokes its grant) and
  ``refresh_token`` grants; client authentication by HTTP Basic or form.
  With ``rolling_refresh`` every refresh answers a new refresh token; with
  ``retire_used_refresh_tokens`` as well, the old one stops working.
* ``revoke_endpoint(token)``, ``revoke(token=…, email=…, reason=…)``,
  ``expire_access_tokens``, ``lookup_access(value)`` for the API's bearer check.

What differs between providers is a subclass's business: class attributes
(token prefixes, lifetimes) and hooks (``oauth_error`` renders every
failure in the provider's own error body; ``validate_extra``,
``wants_refresh_token``, ``user_may_sign_in``, ``token_response``,
``denied_params``, ``known_scope``). The base class's defaults are Google's.

Thread safety: every method takes ``lock`` (pass the sandbox's own
re-entrant lock so one lock guards the whole sandbox state).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

# Every failure the protocol knows, named by situation; ``oauth_error`` turns
# one into the provider's status code and JSON body.
Situation = Literal[
    "invalid_client",  # unknown client or wrong secret at the token endpoint
    "unsupported_grant_type",
    "missing_code",
    "bad_code",  # unknown code, or issued to another client
    "code_replayed",
    "code_expired",
    "redirect_mismatch",  # token request's redirect_uri differs from the code's
    "missing_verifier",
    "bad_verifier",
    "missing_refresh_token",
    "bad_refresh_token",  # unknown refresh token
    "grant_revoked",  # refresh token of a revoked grant (see Grant.revoked_reason)
    "client_mismatch",  # refresh token issued to another client
    "bad_scope",  # refresh asks for more than was granted
    "user_not_allowed",  # the account may not use this tenant / endpoint
    "unknown_tenant",  # the tenant in the path does not exist
]


@dataclass
class User:
    email: str
    name: str
    kind: str = ""  # provider-specific account type ("work", "personal"…)
    tenant_id: str = ""


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Coach App"


@dataclass
class Grant:
    """What a user allowed a client; holds the refresh token if one was issued."""

    id: str
    email: str
    client_id: str
    scopes: tuple[str, ...]
    refresh_token: str | None
    revoked: bool = False
    revoked_reason: str = "revoked"
    tenant: str | None = None
    # Every refresh token of this grant that still works (rolling tokens).
    live_refresh_tokens: set[str] = field(default_factory=set)


@dataclass
class AccessToken:
    token: str
    grant_id: str
    email: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str | None
    expires_in: int
    scope: str


@dataclass
class PendingAuthorization:
    """A validated authorization request waiting on the consent page."""

    request_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    access_type: str
    prompt: tuple[str, ...]
    login_hint: str | None
    tenant: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    email: str
    scopes: tuple[str, ...]
    code_challenge: str | None
    code_challenge_method: str | None
    access_type: str
    prompt: tuple[str, ...]
    expires_at: float
    used: bool = False
    grant_id: str | None = None
    tenant: str | None = None


@dataclass(frozen=True)
class OAuthResult:
    """What the authorization endpoint answers: a page or a redirect."""

    kind: Literal["consent", "error", "redirect"]
    status: int = 200
    location: str | None = None
    error: str | None = None
    message: str | None = None
    pending: PendingAuthorization | None = None


class OAuthAuthority:
    """Users, clients, codes, grants and tokens of one sandbox (see module doc)."""

    # -- what a subclass may change ------------------------------------------
    access_token_ttl = 3599
    code_ttl = 600
    code_prefix = "4/"
    refresh_prefix = "1//"
    access_prefix = "ya29."
    # Scopes always granted even when unticked on the consent page.
    identity_scopes: frozenset[str] = frozenset()
    # A new refresh token on every refresh (Microsoft); the old one keeps
    # working unless ``retire_used_refresh_tokens`` is also set.
    rolling_refresh = False
    retire_used_refresh_tokens = False

    def __init__(self, *, lock: threading.RLock | None = None) -> None:
        self.lock = lock or threading.RLock()
        self.users: dict[str, User] = {}
        self.clients: dict[str, OAuthClient] = {}
        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.pending: dict[str, PendingAuthorization] = {}
        self.codes: dict[str, AuthCode] = {}
        self._refresh_index: dict[str, str] = {}  # refresh token → grant id

    # ----------------------------------------------------------------- hooks

    def known_scope(self, scope: str) -> bool:
        """Whether the authorization endpoint accepts ``scope``."""
        return True

    def user_may_sign_in(self, user: User, tenant: str | None) -> bool:
        """Whether ``user`` may sign in through ``tenant``'s endpoints."""
        return True

    def tenant_known(self, tenant: str | None) -> bool:
        """Whether the tenant in the path exists (None: no tenant in paths)."""
        return True

    def redirect_allowed(self, client: OAuthClient, uri: str) -> bool:
        """Whether ``uri`` matches a redirect URI registered for ``client``
        (exactly, by default)."""
        return uri in client.redirect_uris

    def validate_extra(
        self, params: Mapping[str, str], pending: PendingAuthorization
    ) -> OAuthResult | None:
        """Provider-specific checks of an authorization request (None = fine)."""
        return None

    def wants_refresh_token(self, code: AuthCode, existing: Sequence[Grant]) -> bool:
        """Whether redeeming ``code`` issues a refresh token.

        Google's rule: offline access asked for, and either the first grant
        or ``prompt=consent`` forcing a new one.
        """
        return code.access_type == "offline" and (
            "consent" in code.prompt or not existing
        )

    def denied_params(self, pending: PendingAuthorization) -> dict[str, str | None]:
        """Query parameters of the redirect after Cancel on the consent page."""
        return {"error": "access_denied", "state": pending.state}

    def token_response(
        self,
        access: AccessToken,
        refresh_token: str | None,
        grant: Grant,
    ) -> dict[str, Any]:
        """The JSON body of a successful token response."""
        body: dict[str, Any] = {
            "access_token": access.token,
            "expires_in": self.access_token_ttl,
            "scope": " ".join(access.scopes),
            "token_type": "Bearer",
        }
        if refresh_token:
            body["refresh_token"] = refresh_token
        return body

    def oauth_error(
        self, situation: Situation, *, grant: Grant | None = None, detail: str = ""
    ) -> tuple[int, dict[str, Any]]:
        """Status and JSON body of a token-endpoint failure (Google's wording)."""
        error, description = {
            "invalid_client": ("invalid_client", "Unauthorized"),
            "unsupported_grant_type": (
                "unsupported_grant_type",
                f"Invalid grant_type: {detail}",
            ),
            "missing_code": ("invalid_request", "Missing required parameter: code"),
            "bad_code": ("invalid_grant", "Malformed auth code."),
            "code_replayed": ("invalid_grant", "Bad Request"),
            "code_expired": ("invalid_grant", "Bad Request"),
            "redirect_mismatch": ("redirect_uri_mismatch", "Bad Request"),
            "missing_verifier": ("invalid_grant", "Missing code verifier."),
            "bad_verifier": ("invalid_grant", "Invalid code verifier."),
            "missing_refresh_token": (
                "invalid_request",
                "Missing required parameter: refresh_token",
            ),
            "bad_refresh_token": (
                "invalid_grant",
                "Token has been expired or revoked.",
            ),
            "grant_revoked": ("invalid_grant", "Token has been expired or revoked."),
            "client_mismatch": ("unauthorized_client", "Unauthorized"),
            "bad_scope": ("invalid_scope", "Bad Request"),
            "user_not_allowed": ("invalid_grant", "Bad Request"),
            "unknown_tenant": ("invalid_request", "Bad Request"),
        }[situation]
        status = 401 if error in ("invalid_client", "unauthorized_client") else 400
        return status, {"error": error, "error_description": description}

    def revoke_error(self) -> tuple[int, dict[str, Any]]:
        """The revocation endpoint's answer for an unknown or revoked token."""
        return 400, {
            "error": "invalid_token",
            "error_description": "Token expired or revoked",
        }

    def new_code(self) -> str:
        return self.code_prefix + secrets.token_urlsafe(32)

    def new_refresh_token(self) -> str:
        return self.refresh_prefix + secrets.token_urlsafe(40)

    def new_access_token(self) -> str:
        return self.access_prefix + secrets.token_urlsafe(40)

    # ------------------------------------------------------------- controls

    def add_user(
        self,
        email: str,
        name: str | None = None,
        *,
        kind: str = "",
        tenant_id: str = "",
    ) -> User:
        with self.lock:
            email = email.lower()
            user = self.users.get(email)
            if user is None:
                user = self.users[email] = User(
                    email, name or email.split("@")[0].title(), kind, tenant_id
                )
            return user

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Iterable[str] = (),
        name: str = "Coach App",
    ) -> OAuthClient:
        """Register (or extend) a client; redirect URIs match exactly."""
        with self.lock:
            client = self.clients.get(client_id)
            if client is None:
                client = self.clients[client_id] = OAuthClient(
                    client_id, client_secret, [], name
                )
            client.client_secret = client_secret
            for uri in redirect_uris:
                if uri not in client.redirect_uris:
                    client.redirect_uris.append(uri)
            return client

    def issue_tokens(
        self,
        email: str,
        *,
        client_id: str,
        scopes: Sequence[str],
        offline: bool = True,
        tenant: str | None = None,
    ) -> IssuedTokens:
        """Tokens as if ``email`` had consented (skips the browser part)."""
        with self.lock:
            grant = self.new_grant(
                email.lower(), client_id, tuple(scopes), offline, tenant=tenant
            )
            access = self.new_access(grant, grant.scopes)
            return IssuedTokens(
                access.token,
                grant.refresh_token,
                self.access_token_ttl,
                " ".join(grant.scopes),
            )

    def revoke(
        self,
        token: str | None = None,
        *,
        email: str | None = None,
        reason: str = "revoked",
    ) -> int:
        """Revoke the grant of a refresh/access token, or all grants of a user.

        Afterwards its access tokens are refused and a refresh fails with
        ``oauth_error("grant_revoked", grant=…)``, which sees ``reason``.
        Returns how many grants were revoked.
        """
        with self.lock:
            targets: set[str] = set()
            if token is not None:
                grant = self.grant_of_token(token)
                if grant is not None:
                    targets.add(grant.id)
            if email is not None:
                targets |= {
                    g.id for g in self.grants.values() if g.email == email.lower()
                }
            for grant_id in targets:
                self.grants[grant_id].revoked = True
                self.grants[grant_id].revoked_reason = reason
            return len(targets)

    def expire_access_tokens(self, email: str | None = None) -> int:
        """Make access tokens (of one user, or all) expired now."""
        with self.lock:
            count = 0
            for access in self.access_tokens.values():
                if email is None or access.email == email.lower():
                    access.expires_at = time.time() - 1
                    count += 1
            return count

    def lookup_access(self, value: str) -> AccessToken | None:
        """The live access token ``value`` (None: unknown, expired or revoked)."""
        with self.lock:
            access = self.access_tokens.get(value)
            if access is None or access.expires_at <= time.time():
                return None
            grant = self.grants.get(access.grant_id)
            if grant is None or grant.revoked:
                return None
            return access

    # ------------------------------------------------------------- endpoints

    def begin_authorization(
        self, params: Mapping[str, str], *, tenant: str | None = None
    ) -> OAuthResult:
        """Validate an authorization request (see the module docstring)."""
        with self.lock:
            if not self.tenant_known(tenant):
                return OAuthResult(
                    "error",
                    400,
                    error="invalid_tenant",
                    message=f"Tenant '{tenant}' not found.",
                )
            client = self.clients.get(params.get("client_id", ""))
            if client is None:
                return OAuthResult(
                    "error",
                    401,
                    error="invalid_client",
                    message="The OAuth client was not found.",
                )
            redirect_uri = params.get("redirect_uri", "")
            if not self.redirect_allowed(client, redirect_uri):
                return OAuthResult(
                    "error",
                    400,
                    error="redirect_uri_mismatch",
                    message="The redirect URI in the request, "
                    f"{redirect_uri or '(none)'}, does not match the ones authorized "
                    "for the OAuth client.",
                )
            if params.get("response_type") != "code":
                return OAuthResult(
                    "error",
                    400,
                    error="unsupported_response_type",
                    message="Invalid response_type: only 'code' is supported.",
                )
            scopes = tuple(dict.fromkeys(params.get("scope", "").split()))
            if not scopes:
                return OAuthResult(
                    "error",
                    400,
                    error="invalid_request",
                    message="Missing required parameter: scope",
                )
            unknown = [s for s in scopes if not self.known_scope(s)]
            if unknown:
                return OAuthResult(
                    "error",
                    400,
                    error="invalid_scope",
                    message=f"Some requested scopes were invalid: {' '.join(unknown)}",
                )
            challenge = params.get("code_challenge") or None
            method = params.get("code_challenge_method") or None
            if challenge and method is None:
                method = "plain"
            if method not in (None, "S256", "plain") or (method and not challenge):
                return OAuthResult(
                    "error",
                    400,
                    error="invalid_request",
                    message="Invalid code_challenge_method or missing code_challenge.",
                )
            pending = PendingAuthorization(
                request_id=secrets.token_urlsafe(24),
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                scopes=scopes,
                state=params.get("state"),
                code_challenge=challenge,
                code_challenge_method=method,
                access_type=params.get("access_type", "online"),
                prompt=tuple(params.get("prompt", "").split()),
                login_hint=params.get("login_hint"),
                tenant=tenant,
            )
            problem = self.validate_extra(params, pending)
            if problem is not None:
                return problem
            if "none" in pending.prompt:
                hint = (pending.login_hint or "").lower()
                granted = next(
                    (
                        g
                        for g in self.grants.values()
                        if g.client_id == client.client_id
                        and not g.revoked
                        and (not hint or g.email == hint)
                        and set(scopes) <= set(g.scopes)
                    ),
                    None,
                )
                if granted is None:
                    return OAuthResult(
                        "redirect",
                        302,
                        location=redirect_with(
                            redirect_uri, error="consent_required", state=pending.state
                        ),
                    )
                return self._issue_code(pending, granted.email, scopes)
            self.pending[pending.request_id] = pending
            return OAuthResult("consent", 200, pending=pending)

    def accounts_for(self, pending: PendingAuthorization) -> list[User]:
        """The accounts the consent page offers for ``pending`` (sorted)."""
        with self.lock:
            return sorted(
                (
                    u
                    for u in self.users.values()
                    if self.user_may_sign_in(u, pending.tenant)
                ),
                key=lambda u: u.email,
            )

    def complete_authorization(
        self, request_id: str, decision: str, email: str, granted: Iterable[str]
    ) -> OAuthResult:
        """The consent page's answer: redirect with a code, or access_denied.

        ``granted`` are the scopes left ticked; identity scopes always stay.
        """
        with self.lock:
            pending = self.pending.pop(request_id, None)
            if pending is None:
                return OAuthResult(
                    "error",
                    400,
                    error="invalid_request",
                    message="This authorization request expired or was already used.",
                )
            if decision != "allow":
                return OAuthResult(
                    "redirect",
                    302,
                    location=redirect_with(
                        pending.redirect_uri, **self.denied_params(pending)
                    ),
                )
            email = email.lower()
            user = self.users.get(email)
            if user is None or not self.user_may_sign_in(user, pending.tenant):
                return OAuthResult(
                    "error", 400, error="invalid_request", message="Unknown account."
                )
            ticked = set(granted)
            scopes = tuple(
                s for s in pending.scopes if s in ticked or s in self.identity_scopes
            )
            return self._issue_code(pending, email, scopes)

    def _issue_code(
        self, pending: PendingAuthorization, email: str, scopes: tuple[str, ...]
    ) -> OAuthResult:
        code = AuthCode(
            code=self.new_code(),
            client_id=pending.client_id,
            redirect_uri=pending.redirect_uri,
            email=email,
            scopes=scopes,
            code_challenge=pending.code_challenge,
            code_challenge_method=pending.code_challenge_method,
            access_type=pending.access_type,
            prompt=pending.prompt,
            expires_at=time.time() + self.code_ttl,
            tenant=pending.tenant,
        )
        self.codes[code.code] = code
        return OAuthResult(
            "redirect",
            302,
            location=redirect_with(
                pending.redirect_uri, **self.code_params(pending, code)
            ),
        )

    def code_params(
        self, pending: PendingAuthorization, code: AuthCode
    ) -> dict[str, str | None]:
        """Query parameters of the redirect that carries a code."""
        return {
            "state": pending.state,
            "code": code.code,
            "scope": " ".join(code.scopes),
        }

    def token_endpoint(
        self,
        form: Mapping[str, str],
        basic: tuple[str, str] | None,
        *,
        tenant: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """``POST`` to the token endpoint: authorization_code and refresh_token."""
        with self.lock:
            if not self.tenant_known(tenant):
                return self.oauth_error("unknown_tenant", detail=tenant or "")
            client_id, secret = basic or (
                form.get("client_id", ""),
                form.get("client_secret", ""),
            )
            client = self.clients.get(client_id)
            if client is None or not secrets.compare_digest(
                client.client_secret.encode(), secret.encode()
            ):
                return self.oauth_error("invalid_client", detail=client_id)
            grant_type = form.get("grant_type", "")
            if grant_type == "authorization_code":
                return self._token_from_code(client, form, tenant)
            if grant_type == "refresh_token":
                return self._token_from_refresh(client, form, tenant)
            return self.oauth_error("unsupported_grant_type", detail=grant_type)

    def _token_from_code(
        self, client: OAuthClient, form: Mapping[str, str], tenant: str | None
    ) -> tuple[int, dict[str, Any]]:
        raw = form.get("code")
        if not raw:
            return self.oauth_error("missing_code")
        code = self.codes.get(raw)
        if code is None or code.client_id != client.client_id:
            return self.oauth_error("bad_code")
        if code.used:
            # RFC 6749 §4.1.2: a replayed code revokes what it granted.
            if code.grant_id and code.grant_id in self.grants:
                self.grants[code.grant_id].revoked = True
            return self.oauth_error("code_replayed")
        if code.expires_at < time.time():
            return self.oauth_error("code_expired")
        if form.get("redirect_uri") != code.redirect_uri:
            return self.oauth_error("redirect_mismatch")
        if code.code_challenge:
            verifier = form.get("code_verifier")
            if not verifier:
                return self.oauth_error("missing_verifier")
            if not secrets.compare_digest(
                pkce_challenge(verifier, code.code_challenge_method or "plain"),
                code.code_challenge,
            ):
                return self.oauth_error("bad_verifier")
        user = self.users.get(code.email)
        if user is None or not self.user_may_sign_in(user, tenant or code.tenant):
            return self.oauth_error("user_not_allowed", detail=code.email)
        code.used = True
        existing = [
            g
            for g in self.grants.values()
            if g.email == code.email
            and g.client_id == client.client_id
            and not g.revoked
            and g.refresh_token
        ]
        grant = self.new_grant(
            code.email,
            client.client_id,
            code.scopes,
            self.wants_refresh_token(code, existing),
            tenant=tenant or code.tenant,
        )
        code.grant_id = grant.id
        access = self.new_access(grant, grant.scopes)
        return 200, self.token_response(access, grant.refresh_token, grant)

    def _token_from_refresh(
        self, client: OAuthClient, form: Mapping[str, str], tenant: str | None
    ) -> tuple[int, dict[str, Any]]:
        raw = form.get("refresh_token")
        if not raw:
            return self.oauth_error("missing_refresh_token")
        grant_id = self._refresh_index.get(raw)
        grant = self.grants.get(grant_id) if grant_id else None
        if grant is None or raw not in grant.live_refresh_tokens:
            return self.oauth_error("bad_refresh_token", grant=grant)
        if grant.revoked:
            return self.oauth_error("grant_revoked", grant=grant)
        if grant.client_id != client.client_id:
            return self.oauth_error("client_mismatch", grant=grant)
        user = self.users.get(grant.email)
        if user is None or not self.user_may_sign_in(user, tenant or grant.tenant):
            return self.oauth_error("user_not_allowed", grant=grant, detail=grant.email)
        scopes = grant.scopes
        if form.get("scope"):
            wanted = self.refresh_scopes(form["scope"], grant)
            if wanted is None:
                return self.oauth_error("bad_scope", grant=grant)
            scopes = wanted
        refresh: str | None = None
        if self.rolling_refresh:
            refresh = self._add_refresh_token(grant)
            if self.retire_used_refresh_tokens:
                grant.live_refresh_tokens.discard(raw)
        access = self.new_access(grant, scopes)
        return 200, self.token_response(access, refresh, grant)

    def refresh_scopes(self, requested: str, grant: Grant) -> tuple[str, ...] | None:
        """The scopes a refresh asks for, or None if more than was granted."""
        wanted = tuple(requested.split())
        if not set(wanted) <= set(grant.scopes):
            return None
        return wanted

    def revoke_endpoint(self, token: str) -> tuple[int, dict[str, Any]]:
        """Revoking either token revokes the whole grant (RFC 7009)."""
        with self.lock:
            grant = self.grant_of_token(token)
            if grant is None or grant.revoked:
                return self.revoke_error()
            grant.revoked = True
            return 200, {}

    # --------------------------------------------------------------- records

    def new_grant(
        self,
        email: str,
        client_id: str,
        scopes: tuple[str, ...],
        refresh: bool,
        *,
        tenant: str | None = None,
    ) -> Grant:
        if email not in self.users:
            raise KeyError(f"unknown sandbox user {email}")
        grant = Grant(
            id=secrets.token_hex(8),
            email=email,
            client_id=client_id,
            scopes=scopes,
            refresh_token=None,
            tenant=tenant,
        )
        self.grants[grant.id] = grant
        if refresh:
            self._add_refresh_token(grant)
        return grant

    def _add_refresh_token(self, grant: Grant) -> str:
        token = self.new_refresh_token()
        grant.refresh_token = token
        grant.live_refresh_tokens.add(token)
        self._refresh_index[token] = grant.id
        return token

    def new_access(self, grant: Grant, scopes: tuple[str, ...]) -> AccessToken:
        access = AccessToken(
            token=self.new_access_token(),
            grant_id=grant.id,
            email=grant.email,
            client_id=grant.client_id,
            scopes=scopes,
            expires_at=time.time() + self.access_token_ttl,
        )
        self.access_tokens[access.token] = access
        return access

    def grant_of_token(self, token: str) -> Grant | None:
        """The grant behind an access token or any refresh token it issued."""
        with self.lock:
            access = self.access_tokens.get(token)
            if access is not None:
                return self.grants.get(access.grant_id)
            grant_id = self._refresh_index.get(token)
            return self.grants.get(grant_id) if grant_id else None


def pkce_challenge(verifier: str, method: str) -> str:
    """RFC 7636 §4.2: the challenge a verifier answers."""
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return verifier


def redirect_with(uri: str, **params: str | None) -> str:
    """``uri`` with ``params`` (None values left out) added to its query."""
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
