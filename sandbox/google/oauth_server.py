"""The sandbox's OAuth 2.0 authorization server (Google's endpoints, one host).

* ``GET /o/oauth2/v2/auth`` validates the request like Google: an unknown
  client or a redirect URI that does not match a registered one *exactly* is
  answered with an error page and never redirected; otherwise a consent page
  lists the requested scopes (each a checkbox, as Google's granular consent)
  and a choice of sandbox account (``login_hint`` preselects one).
* ``POST /o/oauth2/v2/auth/consent`` is the page's form: "Allow" redirects to
  ``redirect_uri?state=…&code=…&scope=…``, "Cancel" to ``?error=access_denied``.
* ``POST /token``: ``authorization_code`` (PKCE S256/plain checked) and
  ``refresh_token`` grants; client authentication by HTTP Basic or form fields.
* ``POST /revoke``: revokes the grant of an access or refresh token.
"""

from __future__ import annotations

import base64
import html
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sandbox.google.state import GoogleSandboxState, OAuthResult, PendingAuthorization

AUTH_PATH = "/o/oauth2/v2/auth"
CONSENT_PATH = "/o/oauth2/v2/auth/consent"
TOKEN_PATH = "/token"
REVOKE_PATH = "/revoke"

_SCOPE_LABELS = {
    "calendar": "See, edit, share, and permanently delete all the calendars you can access",
    "calendar.readonly": "See and download any calendar you can access",
    "calendar.events": "View and edit events on all your calendars",
    "calendar.events.readonly": "View events on all your calendars",
    "calendar.freebusy": "See your free/busy information",
    "calendar.calendarlist.readonly": "See the list of calendars you are subscribed to",
}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_routes(state: GoogleSandboxState) -> list[Route]:
    async def authorize(request: Request) -> Response:
        result = state.begin_authorization(dict(request.query_params.items()))
        return _answer(state, result)

    async def consent(request: Request) -> Response:
        form = await _form(request)
        result = state.complete_authorization(
            request_id=_first(form, "request_id"),
            decision=_first(form, "decision"),
            email=_first(form, "account"),
            granted=[v for k, v in form if k == "scope"],
        )
        return _answer(state, result)

    async def token(request: Request) -> Response:
        form = dict(await _form(request))
        status, body = state.token_endpoint(form, _basic(request))
        return JSONResponse(body, status_code=status, headers=_NO_STORE)

    async def revoke(request: Request) -> Response:
        form = dict(await _form(request))
        value = form.get("token") or request.query_params.get("token", "")
        status, body = state.revoke_endpoint(value)
        return JSONResponse(body, status_code=status)

    return [
        Route(AUTH_PATH, authorize, methods=["GET"]),
        Route(CONSENT_PATH, consent, methods=["POST"]),
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(REVOKE_PATH, revoke, methods=["POST"]),
    ]


def _answer(state: GoogleSandboxState, result: OAuthResult) -> Response:
    if result.kind == "redirect":
        assert result.location is not None
        return RedirectResponse(result.location, status_code=302)
    if result.kind == "error":
        return HTMLResponse(
            _page(
                "Access blocked: authorization error",
                f"<p><strong>Error {result.status}: {html.escape(result.error or '')}</strong></p>"
                f"<p>{html.escape(result.message or '')}</p>",
            ),
            status_code=result.status,
        )
    assert result.pending is not None
    return HTMLResponse(_consent_page(state, result.pending))


def _consent_page(state: GoogleSandboxState, pending: PendingAuthorization) -> str:
    client = state.clients[pending.client_id]
    hint = (pending.login_hint or "").lower()
    users = sorted(state.users.values(), key=lambda u: u.email)
    if not users:
        return _page(
            "Sign in", "<p>No sandbox accounts exist. Add one with add_user().</p>"
        )
    options = "".join(
        f'<option value="{html.escape(u.email)}"{" selected" if u.email == hint else ""}>'
        f"{html.escape(u.name)} &lt;{html.escape(u.email)}&gt;</option>"
        for u in users
    )
    boxes = "".join(
        "<li><label>"
        f'<input type="checkbox" name="scope" value="{html.escape(scope)}" checked> '
        f"{html.escape(_SCOPE_LABELS.get(scope.rsplit('/', 1)[-1], scope))}"
        "</label></li>"
        for scope in pending.scopes
    )
    body = f"""
<p><strong>{html.escape(client.name)}</strong> wants to access your Google Account.</p>
<form method="post" action="{CONSENT_PATH}">
  <input type="hidden" name="request_id" value="{html.escape(pending.request_id)}">
  <p><label>Account <select name="account">{options}</select></label></p>
  <ul>{boxes}</ul>
  <button type="submit" name="decision" value="deny">Cancel</button>
  <button type="submit" name="decision" value="allow">Allow</button>
</form>"""
    return _page("Sign in with Google (sandbox)", body)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


async def _form(request: Request) -> list[tuple[str, str]]:
    raw = (await request.body()).decode("utf-8", "replace")
    return parse_qsl(raw, keep_blank_values=True)


def _first(form: list[tuple[str, str]], name: str) -> str:
    return next((v for k, v in form if k == name), "")


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
