"""A local stand-in for Google Calendar API v3 and Google's OAuth 2.0 server.

Start it from Python::

    sandbox = start_google_sandbox(redirect_uris=["http://127.0.0.1:3000/cb"])
    sandbox.state.add_user("coach@example.com", "Casey Coach")
    ...
    sandbox.stop()

or for a local trial: ``python -m sandbox.google --port 8765`` (prints the
environment variables that point the app at it).

What it implements (paths as Google's, under one host):

* OAuth: ``GET /o/oauth2/v2/auth`` (consent page), ``POST /token``
  (authorization_code with PKCE, refresh_token), ``POST /revoke``.
* Calendar API under ``/calendar/v3``: ``users/me/calendarList`` (+ ``/{id}``),
  ``calendars/{id}``, ``calendars/{id}/events`` list (paging, ``syncToken``,
  ``singleEvents``, ``showDeleted``, ``timeMin``/``timeMax``, ``iCalUID``,
  ``q``, extended-property filters, ``orderBy``, ``updatedMin``) and insert,
  ``events/{eventId}`` get/patch/update/delete with ETags and ``If-Match``,
  ``events/{eventId}/instances``, ``events/watch``, ``channels/stop``,
  ``freeBusy``.

Known deviations from Google (deliberate, for a loopback sandbox):

* One host serves what Google spreads over accounts.google.com,
  oauth2.googleapis.com and www.googleapis.com.
* Webhook addresses may be plain ``http`` (Google demands HTTPS with a valid
  certificate); set ``state.require_https_webhooks = True`` for Google's rule.
  Failed deliveries are recorded (``delivery_log()``), not retried.
* ``calendarList`` returns no ``nextSyncToken`` and rejects ``syncToken``.
* Series are expanded at most two years ahead (or to ``timeMax``) and at most
  2500 instances per series.
* Partial responses (``fields``), ``maxAttendees``, ``alwaysIncludeEmail``,
  free/busy groups and quotas (other than injected faults) are ignored;
  ``showDeleted=false`` next to a ``syncToken`` is ignored rather than refused.
* No ``id_token``/OpenID userinfo, no ``events.import``/``move``/``quickAdd``,
  no ACL, settings, colors or batch endpoints, no calendar creation over HTTP
  (``state.add_calendar`` instead). Refresh tokens never expire by themselves
  (revoke them with ``state.revoke``); deleted events are kept forever.
* Sync tokens and page tokens are opaque random strings kept in memory; an
  unknown or tampered sync token answers 410 ``fullSyncRequired`` (as Google
  does for expired ones).
"""

from sandbox.google.server import GoogleSandbox, build_app, start_google_sandbox
from sandbox.google.state import (
    CALENDAR,
    CALENDAR_READONLY,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SCOPES,
    EVENTS,
    GoogleSandboxState,
    IssuedTokens,
    instance_id,
)

__all__ = [
    "CALENDAR",
    "CALENDAR_READONLY",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_SCOPES",
    "EVENTS",
    "GoogleSandbox",
    "GoogleSandboxState",
    "IssuedTokens",
    "build_app",
    "instance_id",
    "start_google_sandbox",
]
