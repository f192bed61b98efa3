"""Absolute addresses of the app's public pages, for emails and the home page.

`COACH_APP_PUBLIC_URL` (the address coaches and invitees open the app at)
wins when set; it should be set in production, because otherwise a link in
an email follows the address of the page the action was taken on. Work with
no page behind it (a sync that cancels an appointment) falls back to
`http://localhost:<port>`, the embedded default, with the frontend port
`reflex run --frontend-port` (`make run FRONTEND_PORT=…`) puts into
`REFLEX_FRONTEND_PORT`.
"""

from __future__ import annotations

import datetime as dt
import os
from urllib.parse import quote, urlsplit

from coach_app.models import Appointment
from coach_app.security.signing import sign

MANAGE_PURPOSE = "manage-appointment"


def _origin(url: str) -> str:
    """scheme://host[:port] of an http(s) URL, '' for anything else."""
    try:
        parts = urlsplit((url or "").strip())
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    if any(c in parts.netloc for c in "@\\ "):
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def public_base(browser_origin: str = "") -> str:
    configured = _origin(os.environ.get("COACH_APP_PUBLIC_URL", ""))
    if configured:
        return configured
    return (
        _origin(browser_origin)
        or f"http://localhost:{os.environ.get('REFLEX_FRONTEND_PORT') or 3000}"
    )


def booking_url(base: str, slug: str) -> str:
    return f"{base.rstrip('/')}/book/{quote(slug, safe='')}"


def manage_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/manage/{quote(token, safe='')}"


def manage_token(
    appointment: Appointment, expires_at: dt.datetime | None = None
) -> str:
    """The signed token of the invitee's manage link; it expires when the
    appointment starts (nothing is left to change after that)."""
    assert appointment.id is not None
    return sign(MANAGE_PURPOSE, str(appointment.id), expires_at or appointment.start)
