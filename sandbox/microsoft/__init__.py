"""A local stand-in for the Microsoft identity platform (v2.0) and Microsoft
Graph v1.0 calendars: Office 365 (work or school accounts) and Outlook.com
(personal accounts).

Start it from Python::

    sandbox = start_microsoft_sandbox(redirect_uris=["http://127.0.0.1:3000/cb"])
    email = sandbox.state.add_account("coach@contoso.example", kind="work")
    ...
    sandbox.stop()

or for a local trial: ``python -m sandbox.microsoft --port 8766`` (seeds a
work and a personal account and prints the ``COACH_APP_MICROSOFT_…``
variables that point the app at it).

What it implements, following learn.microsoft.com (identity platform:
v2-oauth2-auth-code-flow, reference-error-codes, reply-url; Graph v1.0:
user, calendar, event, event-delta, delta-query-events, delta-query-overview,
calendar-list-calendarview, singleValueLegacyExtendedProperty, subscription,
change-notifications-delivery-webhooks, change-notifications-lifecycle-events,
errors, throttling, outlook-immutable-id):

* Identity platform (``authority``): ``GET /{tenant}/oauth2/v2.0/authorize``
  (consent page with Allow / Cancel), ``POST /{tenant}/oauth2/v2.0/token``
  (``authorization_code`` with PKCE, ``refresh_token``), tenants
  ``organizations`` / ``consumers`` / ``common`` / tenant ids, rolling
  refresh tokens, ``invalid_grant`` bodies with ``AADSTS…`` descriptions and
  ``error_codes`` (700082 inactivity, 50173 password change, …).
* Graph under ``/v1.0`` (``api``): ``/me``; ``/me/calendars`` (paged, 10 by
  default) and ``/me/calendars/{id}``, ``/me/calendar``;
  ``…/calendarView`` and ``…/calendarView/delta`` (also ``delta()``, see
  ``delta``); ``POST …/calendars/{id}/events`` and ``/me/events`` (with
  ``transactionId`` de-duplication), ``GET``/``PATCH``/``DELETE
  /me/events/{id}`` (and under a calendar) with ``@odata.etag`` and
  ``If-Match`` (412), ``…/events/{id}/instances``;
  ``singleValueExtendedProperties`` (written on create/patch, read with
  ``$expand=singleValueExtendedProperties($filter=id eq '…')``);
  ``Prefer: outlook.timezone``, ``odata.maxpagesize``, ``IdType="ImmutableId"``;
  ``/subscriptions`` (see ``subscriptions``); the OData error envelope on
  every error.
* Throttling as Outlook does it: more than 4 concurrent requests or 10,000
  requests in 10 minutes per app and mailbox answer 429
  ``ApplicationThrottled`` with ``Retry-After``; injected faults (429, 503
  with ``Retry-After``, slow and dropped responses), revoked grants and
  evicted delta tokens (``state``).

Known deviations from Microsoft (deliberate, for a loopback sandbox):

* One host serves what Microsoft spreads over login.microsoftonline.com and
  graph.microsoft.com. No ``id_token`` signature, no OpenID metadata, no
  device-code / client-credentials / on-behalf-of flows; access tokens are
  opaque strings, not JWTs. The consent page's button says "Allow" where
  Microsoft's says "Accept"; there is no sign-in step (choose an account).
  AADSTS descriptions paraphrase the reference where it gives none.
* Webhook addresses may be plain ``http`` (Graph demands public HTTPS); set
  ``state.subs.require_https = True`` for Graph's rule. Failed change
  notifications are recorded (``delivery_log()``), not retried for 4 hours;
  notifications are one per POST, never batched. Lifecycle notifications
  are sent when a test asks (``send_lifecycle``), not on a schedule.
* Calendars cannot be created or shared over HTTP (``state.add_calendar``
  instead); there are no attendees' mailboxes, meeting messages, reminders,
  attachments, online meetings, ``$select``, ``$filter``, ``$orderby``,
  ``$search``, batch requests or the ``/events/delta`` beta function.
* ``transactionId`` de-duplicates against events of the mailbox that still
  exist (the documentation does not say for how long Outlook remembers it);
  a repeated create answers 201 with the existing event. Outlook answers
  ``ErrorDuplicateTransactionId`` for an id that "has already been used to
  create a different event"; whether that covers a deleted event is not
  documented: ``store.remember_deleted_transactions = True`` makes it so.
* A stale ``If-Match`` answers 412 ``ErrorIrresolvableConflict`` (Outlook's
  code; the Graph reference lists ``resourceModified`` generically).
* Delta rounds are computed when they start; pages hold 10 items without
  ``Prefer: odata.maxpagesize`` and at most 1,000. The token cache keeps
  100 tokens per calendar. Series are expanded only inside the requested
  window; changing a series' pattern or time drops its exceptions.
* Refresh tokens never expire by themselves: revoke them with a reason
  (``state.revoke(email=…, reason="inactive")``) to get the documented
  ``invalid_grant`` bodies.
"""

from sandbox.microsoft.server import (
    MicrosoftSandbox,
    build_app,
    start_microsoft_sandbox,
)
from sandbox.microsoft.state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SCOPES,
    MicrosoftSandboxState,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_SCOPES",
    "MicrosoftSandbox",
    "MicrosoftSandboxState",
    "build_app",
    "start_microsoft_sandbox",
]
