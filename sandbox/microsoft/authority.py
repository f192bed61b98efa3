"""The Microsoft identity platform (v2.0 endpoints) on the shared authority.

What is Microsoft's own (learn.microsoft.com/entra/identity-platform:
v2-oauth2-auth-code-flow, reference-error-codes, reply-url):

* Tenants in the path: ``organizations`` (work or school accounts: Office
  365), ``consumers`` (personal Microsoft accounts: Outlook.com), ``common``
  (both), a tenant's GUID, or the consumer tenant's GUID. An account that
  does not belong to the tenant is not offered on the consent page and its
  codes and refresh tokens are refused there.
* A refresh token only with the ``offline_access`` scope; refresh tokens
  roll: every refresh answers a new one (the old one keeps working unless
  ``retire_used_refresh_tokens`` is set, as in the documentation).
* Loopback redirect URIs (``http://localhost``, ``http://127.0.0.1``) match
  whatever their port (reply-url: "Localhost exceptions").
* Scopes may be short (``Calendars.ReadWrite``) or resource-qualified
  (``https://graph.microsoft.com/Calendars.ReadWrite``); the consent is for
  all of them at once (no unticking).
* Every token-endpoint failure is Microsoft's JSON error body with an
  ``AADSTS…`` description, ``error_codes``, ``timestamp``, ``trace_id``,
  ``correlation_id`` and ``error_uri``. A revoked grant says why: the
  reason given to ``revoke`` picks the code (``inactive`` → 700082,
  ``password_changed`` → 50173, ``mfa_required`` → 50076,
  ``consent_revoked`` → 65001; anything else → 50173).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sandbox.common.oauth import (
    AccessToken,
    AuthCode,
    Grant,
    OAuthAuthority,
    OAuthClient,
    PendingAuthorization,
    Situation,
    User,
)

GRAPH_RESOURCE = "https://graph.microsoft.com/"
CONSUMERS_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
WORK = "work"
PERSONAL = "personal"
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
GRAPH_SCOPES = frozenset(
    {
        "User.Read",
        "User.ReadBasic.All",
        "Calendars.Read",
        "Calendars.ReadBasic",
        "Calendars.ReadWrite",
        "Calendars.Read.Shared",
        "Calendars.ReadWrite.Shared",
        ".default",
    }
)
SCOPE_LABELS = {
    "User.Read": "Sign you in and read your profile",
    "Calendars.Read": "Read your calendars",
    "Calendars.ReadBasic": "Read basic details of your calendars",
    "Calendars.ReadWrite": "Have full access to your calendars",
    "Calendars.Read.Shared": "Read calendars you can access",
    "Calendars.ReadWrite.Shared": "Read and write calendars you can access",
    "offline_access": "Maintain access to data you have given it access to",
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
}

# situation → (error, AADSTS number, description)
_ERRORS: dict[str, tuple[str, int, str]] = {
    "invalid_client": (
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the "
        "request is the client secret value, not the client secret ID.",
    ),
    "unknown_client": (
        "unauthorized_client",
        700016,
        "Application with identifier '{detail}' was not found in the directory.",
    ),
    "unsupported_grant_type": (
        "unsupported_grant_type",
        70003,
        "The app requested an unsupported grant type '{detail}'.",
    ),
    "missing_code": (
        "invalid_request",
        900144,
        "The request body must contain the following parameter: 'code'.",
    ),
    "bad_code": (
        "invalid_grant",
        70000,
        "The provided value for the 'code' parameter is not valid.",
    ),
    "code_replayed": (
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new "
        "valid code or use an existing refresh token.",
    ),
    "code_expired": (
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to "
        "inactivity. Send a new interactive authorization request for this user "
        "and resource.",
    ),
    "redirect_mismatch": (
        "invalid_grant",
        50011,
        "The redirect URI specified in the request does not match the redirect "
        "URI the authorization code was issued for.",
    ),
    "missing_verifier": (
        "invalid_grant",
        50148,
        "The code_verifier does not match the code_challenge supplied in the "
        "authorization request for PKCE.",
    ),
    "bad_verifier": (
        "invalid_grant",
        501481,
        "The Code_Verifier does not match the code_challenge supplied in the "
        "authorization request.",
    ),
    "missing_refresh_token": (
        "invalid_request",
        900144,
        "The request body must contain the following parameter: 'refresh_token'.",
    ),
    "bad_refresh_token": (
        "invalid_grant",
        9002313,
        "Invalid request. Request is malformed or invalid.",
    ),
    "client_mismatch": (
        "invalid_grant",
        70000,
        "Provided grant is invalid or malformed.",
    ),
    "bad_scope": (
        "invalid_scope",
        70011,
        "The provided value for the input parameter 'scope' is not valid.",
    ),
    "user_not_allowed": (
        "invalid_grant",
        50020,
        "User account '{detail}' from identity provider does not exist in "
        "tenant and cannot access the application.",
    ),
    "unknown_tenant": (
        "invalid_request",
        90002,
        "Tenant '{detail}' not found. Check to make sure you have the correct "
        "tenant ID and are signing into the correct cloud.",
    ),
    # Revoked grants, by reason.
    "inactive": (
        "invalid_grant",
        700082,
        "The refresh token has expired due to inactivity. The token was issued "
        "on {detail} and was inactive for 90.00:00:00.",
    ),
    "password_changed": (
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth "
        "token is needed. The user might have changed or reset their password. "
        "The grant was issued on '{detail}' and the TokensValidFrom date (before "
        "which tokens are not valid) for this user is '{now}'.",
    ),
    "mfa_required": (
        "invalid_grant",
        50076,
        "Due to a configuration change made by your administrator, or because "
        "you moved to a new location, you must use multi-factor authentication "
        "to access '00000003-0000-0000-c000-000000000000'.",
    ),
    "consent_revoked": (
        "invalid_grant",
        65001,
        "The user or administrator has not consented to use the application.",
    ),
}


def short_scope(scope: str) -> str:
    """``https://graph.microsoft.com/Calendars.Read`` → ``Calendars.Read``."""
    return scope[len(GRAPH_RESOURCE) :] if scope.startswith(GRAPH_RESOURCE) else scope


def scope_label(scope: str) -> str:
    short = short_scope(scope)
    return SCOPE_LABELS.get(short, short)


def error_body(error: str, number: int, description: str) -> dict[str, Any]:
    """Microsoft's token-endpoint error body (reference-error-codes)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    return {
        "error": error,
        "error_description": f"AADSTS{number}: {description}\r\nTrace ID: {trace}"
        f"\r\nCorrelation ID: {correlation}\r\nTimestamp: {now}",
        "error_codes": [number],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={number}",
    }


class MicrosoftAuthority(OAuthAuthority):
    identity_scopes = OIDC_SCOPES
    rolling_refresh = True
    retire_used_refresh_tokens = False
    access_token_ttl = 3599
    code_prefix = "M.C5"
    refresh_prefix = "M.C5_R."
    access_prefix = "EwB"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.work_tenant_id = str(uuid.uuid4())
        self._issued_at: dict[str, datetime] = {}

    # -- tenants ---------------------------------------------------------------

    def tenant_known(self, tenant: str | None) -> bool:
        return tenant in (
            None,
            "common",
            "organizations",
            "consumers",
            CONSUMERS_TENANT_ID,
            self.work_tenant_id,
        )

    def user_may_sign_in(self, user: User, tenant: str | None) -> bool:
        if tenant in (None, "common"):
            return True
        if tenant in ("consumers", CONSUMERS_TENANT_ID):
            return user.kind == PERSONAL
        if tenant == "organizations":
            return user.kind == WORK
        return user.kind == WORK and user.tenant_id == tenant

    # -- the authorization request -----------------------------------------------

    def known_scope(self, scope: str) -> bool:
        short = short_scope(scope)
        return short in OIDC_SCOPES or short in GRAPH_SCOPES

    def redirect_allowed(self, client: OAuthClient, uri: str) -> bool:
        if uri in client.redirect_uris:
            return True
        wanted = urlsplit(uri)
        if wanted.scheme != "http" or wanted.hostname not in ("localhost", "127.0.0.1"):
            return False
        for registered in client.redirect_uris:
            have = urlsplit(registered)
            if (
                have.scheme == "http"
                and have.hostname == wanted.hostname
                and have.path == wanted.path
                and have.query == wanted.query
            ):
                return True
        return False

    def denied_params(self, pending: PendingAuthorization) -> dict[str, str | None]:
        return {
            "error": "access_denied",
            "error_subcode": "cancel",
            "error_description": "AADSTS65004: User declined to consent to access "
            "the app.",
            "state": pending.state,
        }

    def code_params(
        self, pending: PendingAuthorization, code: AuthCode
    ) -> dict[str, str | None]:
        # Microsoft's redirect carries code and state (and session_state), no scope.
        return {
            "code": code.code,
            "state": pending.state,
            "session_state": str(uuid.uuid4()),
        }

    def wants_refresh_token(self, code: AuthCode, existing: Sequence[Grant]) -> bool:
        return "offline_access" in {short_scope(s) for s in code.scopes}

    # -- the token endpoint ------------------------------------------------------

    def refresh_scopes(self, requested: str, grant: Grant) -> tuple[str, ...] | None:
        granted = {short_scope(s) for s in grant.scopes}
        wanted = tuple(requested.split())
        if not {short_scope(s) for s in wanted} <= granted | {".default"}:
            return None
        if ".default" in {short_scope(s) for s in wanted}:
            return grant.scopes
        return wanted

    def token_response(
        self, access: AccessToken, refresh_token: str | None, grant: Grant
    ) -> dict[str, Any]:
        scopes = [s for s in access.scopes if short_scope(s) not in ("offline_access",)]
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(scopes),
            "expires_in": self.access_token_ttl,
            "ext_expires_in": self.access_token_ttl,
            "access_token": access.token,
        }
        if refresh_token:
            body["refresh_token"] = refresh_token
            self._issued_at[refresh_token] = datetime.now(UTC)
        if "openid" in {short_scope(s) for s in access.scopes}:
            body["id_token"] = _unsigned_id_token()
        return body

    def new_grant(
        self,
        email: str,
        client_id: str,
        scopes: tuple[str, ...],
        refresh: bool,
        *,
        tenant: str | None = None,
    ) -> Grant:
        grant = super().new_grant(email, client_id, scopes, refresh, tenant=tenant)
        if grant.refresh_token:
            self._issued_at[grant.refresh_token] = datetime.now(UTC)
        return grant

    def oauth_error(
        self, situation: Situation, *, grant: Grant | None = None, detail: str = ""
    ) -> tuple[int, dict[str, Any]]:
        key: str = situation
        if situation == "invalid_client" and detail not in self.clients:
            key = "unknown_client"
        if situation == "grant_revoked" and grant is not None:
            key = (
                grant.revoked_reason
                if grant.revoked_reason in _ERRORS
                else "password_changed"
            )
            issued = self._issued_at.get(grant.refresh_token or "")
            detail = (issued or datetime.now(UTC)).strftime(
                "%Y-%m-%dT%H:%M:%S.0000000Z"
            )
        error, number, description = _ERRORS[key]
        text = description.replace("{detail}", detail).replace(
            "{now}", datetime.now(UTC).strftime("%m/%d/%Y %H:%M:%S")
        )
        status = 401 if error == "invalid_client" else 400
        return status, error_body(error, number, text)

    def revoke_error(self) -> tuple[int, dict[str, Any]]:
        return 400, error_body(
            "invalid_request", 900144, "Token revocation is not supported here."
        )


def _unsigned_id_token() -> str:
    """A placeholder ``id_token`` (the sandbox signs nothing; see deviations)."""
    return "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + secrets.token_urlsafe(24) + "."
