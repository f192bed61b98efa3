"""HTTP routes of an ``OAuthAuthority``: authorize, consent, token, revoke.

Paths are the provider's own (they may hold ``{tenant}``, which is passed to
the authority); the consent page is drawn by a ``ConsentPage``, so each
provider keeps its own look and wording while the protocol stays here.

The consent page is one HTML form: a hidden ``request_id``, an ``account``
``<select>``, optional ``scope`` checkboxes (granular consent) and two
buttons ``name="decision"`` with the values ``deny`` (Cancel) and ``allow``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sandbox.common.oauth import OAuthAuthority, OAuthResult, PendingAuthorization

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class ConsentPage:
    """How one provider's consent and error pages look.

    ``intro`` is an HTML fragment shown above the form (``{client}`` is
    replaced by the escaped client name); ``scope_label`` turns a scope into
    words; ``tickable`` draws scopes as checkboxes the user may untick.
    """

    title: str
    intro: str
    scope_label: Callable[[str], str]
    tickable: bool = True
    error_title: str = "Access blocked: authorization error"
    allow_label: str = "Allow"
    cancel_label: str = "Cancel"


@dataclass(frozen=True)
class OAuthPaths:
    authorize: str
    consent: str
    token: str
    revoke: str | None = None


def oauth_routes(
    authority: OAuthAuthority, paths: OAuthPaths, look: ConsentPage
) -> list[Route]:
    """Starlette routes serving ``authority`` at ``paths``."""

    def tenant(request: Request) -> str | None:
        value = request.path_params.get("tenant")
        return str(value) if value is not None else None

    async def authorize(request: Request) -> Response:
        result = authority.begin_authorization(
            dict(request.query_params.items()), tenant=tenant(request)
        )
        return answer(result)

    async def consent(request: Request) -> Response:
        form = await read_form(request)
        result = authority.complete_authorization(
            request_id=first(form, "request_id"),
            decision=first(form, "decision"),
            email=first(form, "account"),
            granted=[v for k, v in form if k == "scope"],
        )
        return answer(result)

    async def token(request: Request) -> Response:
        form = dict(await read_form(request))
        status, body = authority.token_endpoint(
            form, basic_credentials(request), tenant=tenant(request)
        )
        return JSONResponse(body, status_code=status, headers=NO_STORE)

    async def revoke(request: Request) -> Response:
        form = dict(await read_form(request))
        value = form.get("token") or request.query_params.get("token", "")
        status, body = authority.revoke_endpoint(value)
        return JSONResponse(body, status_code=status)

    def answer(result: OAuthResult) -> Response:
        if result.kind == "redirect":
            assert result.location is not None
            return RedirectResponse(result.location, status_code=302)
        if result.kind == "error":
            return HTMLResponse(
                page(
                    look.error_title,
                    f"<p><strong>Error {result.status}: "
                    f"{html.escape(result.error or '')}</strong></p>"
                    f"<p>{html.escape(result.message or '')}</p>",
                ),
                status_code=result.status,
            )
        assert result.pending is not None
        return HTMLResponse(consent_page(authority, paths, look, result.pending))

    routes = [
        Route(paths.authorize, authorize, methods=["GET"]),
        Route(paths.consent, consent, methods=["POST"]),
        Route(paths.token, token, methods=["POST"]),
    ]
    if paths.revoke:
        routes.append(Route(paths.revoke, revoke, methods=["POST"]))
    return routes


def consent_page(
    authority: OAuthAuthority,
    paths: OAuthPaths,
    look: ConsentPage,
    pending: PendingAuthorization,
) -> str:
    client = authority.clients[pending.client_id]
    hint = (pending.login_hint or "").lower()
    users = authority.accounts_for(pending)
    if not users:
        return page(
            "Sign in", "<p>No sandbox accounts exist. Add one with add_user().</p>"
        )
    options = "".join(
        f'<option value="{html.escape(u.email)}"{" selected" if u.email == hint else ""}>'
        f"{html.escape(u.name)} &lt;{html.escape(u.email)}&gt;</option>"
        for u in users
    )
    if look.tickable:
        scopes = "".join(
            "<li><label>"
            f'<input type="checkbox" name="scope" value="{html.escape(scope)}" checked> '
            f"{html.escape(look.scope_label(scope))}"
            "</label></li>"
            for scope in pending.scopes
        )
    else:
        scopes = "".join(
            f'<li><input type="hidden" name="scope" value="{html.escape(scope)}">'
            f"{html.escape(look.scope_label(scope))}</li>"
            for scope in pending.scopes
        )
    intro = look.intro.replace("{client}", html.escape(client.name))
    action = paths.consent.replace("{tenant}", html.escape(pending.tenant or ""))
    body = f"""
{intro}
<form method="post" action="{action}">
  <input type="hidden" name="request_id" value="{html.escape(pending.request_id)}">
  <p><label>Account <select name="account">{options}</select></label></p>
  <ul>{scopes}</ul>
  <button type="submit" name="decision" value="deny">{html.escape(look.cancel_label)}</button>
  <button type="submit" name="decision" value="allow">{html.escape(look.allow_label)}</button>
</form>"""
    return page(look.title, body)


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


async def read_form(request: Request) -> list[tuple[str, str]]:
    raw = (await request.body()).decode("utf-8", "replace")
    return parse_qsl(raw, keep_blank_values=True)


def first(form: list[tuple[str, str]], name: str) -> str:
    return next((v for k, v in form if k == name), "")


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """Client id and secret of an ``Authorization: Basic`` header, if any."""
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
