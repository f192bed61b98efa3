"""Parts every provider sandbox shares: an OAuth 2.0 authority, fault
injection with a request log, push delivery, and a loopback server runner.

A provider sandbox supplies only what is its own (error body shapes, paths,
scopes, wording) as subclass hooks, parameters or callbacks.

OAuth 2.0 authority (``sandbox.common.oauth``, ``sandbox.common.oauth_routes``)
-----------------------------------------------------------------------------

``OAuthAuthority(lock=…)`` holds ``users``, ``clients``, ``grants``,
``access_tokens``, ``pending`` and ``codes``. Controls: ``add_user(email,
name, kind=…, tenant_id=…)``, ``add_client(id, secret, redirect_uris)``,
``issue_tokens(email, client_id=…, scopes=…)`` (skip the browser),
``revoke(token=…, email=…, reason=…)`` (a revoked grant's refresh answers
``oauth_error("grant_revoked", grant=…)``, which can read ``reason``),
``expire_access_tokens(email)``, ``lookup_access(bearer)`` (None when unknown,
expired or revoked). Protocol: ``begin_authorization(params, tenant=…)``,
``complete_authorization(request_id, decision, email, granted)``,
``token_endpoint(form, basic, tenant=…)`` (``authorization_code`` with PKCE
S256/plain, one use per code; ``refresh_token``), ``revoke_endpoint(token)``.
Class attributes: ``access_token_ttl``, ``code_ttl``, token prefixes,
``identity_scopes``, ``rolling_refresh`` (a new refresh token on every
refresh), ``retire_used_refresh_tokens``. Hooks: ``known_scope``,
``user_may_sign_in(user, tenant)``, ``validate_extra``,
``wants_refresh_token``, ``denied_params``, ``code_params``,
``token_response``, ``refresh_scopes``, ``oauth_error(situation, …)`` (every
token-endpoint failure in the provider's own body), ``revoke_error``.

``oauth_routes(authority, OAuthPaths(authorize, consent, token, revoke),
ConsentPage(title, intro, scope_label, tickable, …))`` serves it over
Starlette; paths may contain ``{tenant}``. The consent page is one form with
an ``account`` select and two ``decision`` buttons: ``allow`` (label
"Allow") and ``deny`` ("Cancel").

Fault injection and request log (``sandbox.common.faults``)
-----------------------------------------------------------

``FaultInjector.inject(kind, count=1, status=…, retry_after=…, delay=…,
reason=…, path_prefix=…, method=…)`` with ``kind`` one of ``rate_limit``,
``too_many_requests``, ``server_error`` (an error response drawn by the
provider's ``ErrorRenderer``: ``fault -> (status, json body, headers)``),
``slow`` (answer after ``delay`` seconds) and ``drop`` (the connection closes
mid-body). Faults match by path prefix and method, fire ``count`` times and
count ``fired``; ``pending()`` / ``spent`` show them. ``RequestLog`` keeps the
last 5000 ``RequestRecord(method, path, query, at, headers)`` (no
Authorization header). ``FaultMiddleware(app, injector, log, render_error)``
wraps an ASGI app with both. ``retry_after_header(seconds)``.

Push delivery (``sandbox.common.push``)
---------------------------------------

``PushDeliverer(on_result, user_agent=…)`` POSTs ``PushMessage(address,
headers, body, meta)`` in order from its own thread and calls
``on_result(PushResult(message, status_code, error, response_text, elapsed,
at))``; ``wait_idle()``, ``stop()``. ``await call_endpoint(method, url,
timeout=…)`` is the awaited form for handshakes (Graph's validation).

Shared test controls (``sandbox.common.controls``)
--------------------------------------------------

``SandboxControls``, a mixin for a sandbox's state class (which sets
``authority``, ``fault_injector`` and ``requests``; class attributes
``default_client``, ``fault_path_prefix``, ``fault_reason``): ``users``,
``grants``, ``faults``, ``add_client``, ``expire_access_tokens``,
``inject_fault``, ``clear_faults``, ``request_log``.

Server (``sandbox.common.server``)
----------------------------------

``serve(app_factory, port, host=…, name=…)`` binds first (port 0 picks a free
one), builds the app with the base URL, runs uvicorn on a daemon thread and
returns a ``RunningServer`` (``base_url``, ``stop()``). ``SandboxHandle`` is
the base of a sandbox's handle (``base_url``, ``stop()``, ``with``);
``trial_arguments`` and ``serve_trial`` make ``python -m sandbox.<name>``.
"""

from sandbox.common.controls import SandboxControls
from sandbox.common.faults import (
    ERROR_KINDS,
    ErrorRenderer,
    Fault,
    FaultInjector,
    FaultKind,
    FaultMiddleware,
    RequestLog,
    RequestRecord,
    drop_connection,
    retry_after_header,
)
from sandbox.common.oauth import (
    AccessToken,
    AuthCode,
    Grant,
    IssuedTokens,
    OAuthAuthority,
    OAuthClient,
    OAuthResult,
    PendingAuthorization,
    Situation,
    User,
    pkce_challenge,
    redirect_with,
)
from sandbox.common.oauth_routes import ConsentPage, OAuthPaths, oauth_routes
from sandbox.common.push import (
    PushDeliverer,
    PushMessage,
    PushResult,
    call_endpoint,
)
from sandbox.common.server import (
    RunningServer,
    SandboxHandle,
    bind,
    serve,
    serve_trial,
    trial_arguments,
)

__all__ = [
    "ERROR_KINDS",
    "AccessToken",
    "AuthCode",
    "ConsentPage",
    "ErrorRenderer",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "FaultMiddleware",
    "Grant",
    "IssuedTokens",
    "OAuthAuthority",
    "OAuthClient",
    "OAuthPaths",
    "OAuthResult",
    "PendingAuthorization",
    "PushDeliverer",
    "PushMessage",
    "PushResult",
    "RequestLog",
    "RequestRecord",
    "RunningServer",
    "SandboxControls",
    "SandboxHandle",
    "Situation",
    "User",
    "bind",
    "call_endpoint",
    "drop_connection",
    "oauth_routes",
    "pkce_challenge",
    "redirect_with",
    "retry_after_header",
    "serve",
    "serve_trial",
    "trial_arguments",
]
