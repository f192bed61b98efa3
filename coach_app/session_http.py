"""The session cookie, set and cleared by backend HTTP endpoints only.

``POST /auth/session`` (form field ``ticket``): trades a one-time hand-over
ticket from a successful log-in or sign-up (``auth.redeem``) for a new
session and sets ``coach_session``: ``HttpOnly`` (no script can read it),
``SameSite=Strict``, ``Path=/``, 30 days, and ``Secure`` when the app is
served over HTTPS (the request's scheme, or an ``https`` deploy URL behind a
proxy). Then 303 to the app's home page (to ``/login`` if the ticket was
used, late or unknown).

``POST /auth/logout``: ends the session named by the cookie and clears the
cookie; 303 to ``/login``.

The browser reaches them by a top-level form POST (``state.post_to_backend``),
so the response's cookie is stored and the page then reloads: the new
websocket connection carries the cookie, and ``AuthState`` reads it from the
connection's request headers — never from anything the page sends.

Both refuse a cross-site request (403): ``Sec-Fetch-Site`` must be
same-origin/same-site/none, or, without it, the ``Origin`` host must be the
backend's or the deploy URL's. The redirect goes back to the ``Origin`` the
form was posted from (the frontend, which may sit on another port than the
backend), checked the same way. The frontend and the backend must be served
under one host name for the cookie to reach the websocket (it is
``SameSite=Strict``): true of ``reflex run`` on ``localhost`` and of a
deployment behind one reverse proxy.

Mounting: ``with_session_routes`` is an ``api_transformer`` for ``rx.App``.
"""

from __future__ import annotations

import asyncio
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from coach_app.db import session_scope
from coach_app.services import auth

SESSION_COOKIE = "coach_session"
SESSION_PATH = "/auth/session"
LOGOUT_PATH = "/auth/logout"
_SAME_SITE = frozenset({"same-origin", "same-site", "none"})


def session_token_from(cookie_header: str | None) -> str:
    """The session token in a ``Cookie`` request header ("" if none)."""
    if not cookie_header:
        return ""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return ""
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None else ""


async def start_session(request: Request) -> Response:
    """``POST /auth/session``: see the module docstring."""
    if not _same_site(request):
        return Response("Cross-site request refused.", status_code=403)
    form = await request.form()
    ticket = str(form.get("ticket") or "")[:200]
    token = await asyncio.to_thread(_redeem, ticket)
    response = _back_to(request, "/" if token else "/login")
    if token:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=auth.SESSION_DAYS * 86400,
            path="/",
            secure=_https(request),
            httponly=True,
            samesite="strict",
        )
    return response


async def end_session(request: Request) -> Response:
    """``POST /auth/logout``: see the module docstring."""
    if not _same_site(request):
        return Response("Cross-site request refused.", status_code=403)
    token = session_token_from(request.headers.get("cookie"))
    await asyncio.to_thread(_log_out, token)
    response = _back_to(request, "/login")
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=_https(request),
        httponly=True,
        samesite="strict",
    )
    return response


def routes() -> list[BaseRoute]:
    return [
        Route(SESSION_PATH, start_session, methods=["POST"]),
        Route(LOGOUT_PATH, end_session, methods=["POST"]),
    ]


def with_session_routes(app: ASGIApp) -> ASGIApp:
    """``rx.App(api_transformer=...)``: these routes first, then ``app``."""
    return Starlette(routes=[*routes(), Mount("", app=app)])


# -- helpers ---------------------------------------------------------------------


def _redeem(ticket: str) -> str | None:
    with session_scope() as session:
        return auth.redeem(session, ticket)


def _log_out(token: str) -> None:
    with session_scope() as session:
        auth.log_out(session, token)


def _same_site(request: Request) -> bool:
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in _SAME_SITE
    return _trusted_origin(request.headers.get("origin"), request) is not None


def _trusted_origin(origin: str | None, request: Request) -> str | None:
    """``origin`` if it names the backend's host or the deploy URL's."""
    if not origin or origin == "null":
        return None
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    hosts = {request.url.hostname, urlsplit(_deploy_url()).hostname}
    if parts.hostname not in hosts - {None}:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _back_to(request: Request, path: str) -> RedirectResponse:
    origin = _trusted_origin(request.headers.get("origin"), request)
    if origin is None:
        referer = urlsplit(request.headers.get("referer") or "")
        origin = _trusted_origin(
            f"{referer.scheme}://{referer.netloc}" if referer.netloc else None,
            request,
        )
    base = origin or _deploy_url().rstrip("/")
    response = RedirectResponse(base + path, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def _https(request: Request) -> bool:
    return request.url.scheme == "https" or _deploy_url().startswith("https://")


def _deploy_url() -> str:
    from reflex.config import get_config

    return get_config().deploy_url or ""
