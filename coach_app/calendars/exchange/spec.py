"""The Exchange spec: email and password, Autodiscover, or the server address.

The form asks for the email address and the password; the server address
field appears only when it is needed (or the coach opens it). Without an
address, ``check`` finds the EWS endpoint with POX Autodiscover; when that
fails it raises ``AutodiscoverFailed``, which asks for the address field
(the address they use for Outlook on the web). Any form of the address works — a bare host,
``https://host``, the Outlook on the web link or the full
``…/EWS/Exchange.asmx`` — and is completed before it is checked; the
resolved EWS address is what the connection stores. Every address passes
the URL guard (``COACH_APP_URL_ALLOWLIST`` admits loopback for tests and
self-hosters); ``COACH_APP_EXCHANGE_AUTODISCOVER_URLS`` replaces the
Autodiscover addresses derived from the email domain (a local trial).

The check then asks the EWS address how to sign in (its 401): NTLM when it
is offered, else Basic (``auth``); the choice is stored as the
connection's ``server_profile`` ("ntlm" or "basic") and ``build`` uses it.
Connections stored before that carry "exchange" and were using Basic.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

from coach_app.calendars.exchange.auth import auth_of_profile, server_auth
from coach_app.calendars.exchange.autodiscover import autodiscover
from coach_app.calendars.exchange.ews import AUTH_MESSAGE
from coach_app.calendars.exchange.provider import ExchangeProvider
from coach_app.calendars.exchange.urls import allowed_hosts, ews_url_from_input
from coach_app.calendars.oauth import AccessTokenSource
from coach_app.calendars.spec import (
    Credentials,
    FormField,
    FoundAccount,
    PasswordSignIn,
    ProviderSpec,
    SignInError,
)

KEY = "exchange"
# Comma-separated Autodiscover addresses used instead of those derived from
# the email domain: points sign-in at a sandbox for a local trial.
AUTODISCOVER_ENV = "COACH_APP_EXCHANGE_AUTODISCOVER_URLS"

FIELDS = (
    FormField("username", "Email address", type="email", autocomplete="email"),
    FormField("password", "Password", type="password", autocomplete="current-password"),
    FormField(
        "server_url",
        "Exchange server address",
        type="url",
        placeholder="mail.yourcompany.com",
        required=False,
        autocomplete="url",
        hint="The address you open Outlook on the web with; the host name is enough.",
        ask_when_needed=True,
        open_label="I know my server address",
    ),
)

HELP_STEPS = (
    "Enter the email address and password you use for Outlook at work.",
    "We look up your Exchange server from your email address.",
    "If we cannot find it, we ask for its address: open Outlook on the web "
    "and copy the address from your browser (for example "
    "mail.yourcompany.com/owa), or ask your IT department for the Exchange "
    "(EWS) server address.",
)


def _credentials(form: Mapping[str, str]) -> Credentials:
    email = (form.get("username") or "").strip()
    if "@" not in email:
        raise SignInError("Please enter your work email address.")
    server = (form.get("server_url") or "").strip()
    try:
        ews_url = ews_url_from_input(server) if server else ""
    except ValueError as exc:
        raise SignInError(str(exc)) from exc
    return Credentials(
        server_url=ews_url, username=email, secret=form.get("password") or ""
    )


def _build(
    credentials: Credentials, _tokens: AccessTokenSource | None
) -> ExchangeProvider:
    if not credentials.server_url:
        raise ValueError("an Exchange connection needs its EWS address")
    return ExchangeProvider(
        credentials.username,
        credentials.secret,
        credentials.server_url,
        auth=auth_of_profile(credentials.server_profile),
    )


async def _check(
    spec: ProviderSpec, credentials: Credentials, tokens: AccessTokenSource | None
) -> FoundAccount:
    """Resolve the EWS address (Autodiscover when none was given), learn
    the scheme it takes, then check the password and list the calendars.
    Raises ``AutodiscoverFailed`` (ask for the address), ``AuthError``,
    ``UnsupportedSignIn``, ``UrlNotAllowed``, ``Transient`` or
    ``NotCalendarServer``; nothing is stored here."""
    if not credentials.server_url:
        override = os.environ.get(AUTODISCOVER_ENV, "")
        urls = [u.strip() for u in override.split(",") if u.strip()] or None
        found = await autodiscover(credentials.username, credentials.secret, urls=urls)
        credentials = replace(credentials, server_url=found.ews_url)
    auth = await server_auth(credentials.server_url, allowed_hosts(None))
    credentials = replace(credentials, server_profile=auth)
    provider = spec.build(credentials, tokens)
    try:
        account = await provider.discover()
        calendars = await provider.list_calendars()
    finally:
        await provider.aclose()
    return FoundAccount(
        credentials=credentials,
        label=account.login or credentials.username,
        calendars=calendars,
    )


EXCHANGE_SPEC = ProviderSpec(
    key=KEY,
    label="Exchange",
    sign_in=PasswordSignIn(
        fields=FIELDS,
        help_title="Connect your Exchange calendar",
        help_steps=HELP_STEPS,
        credentials=_credentials,
    ),
    build=_build,
    check=_check,
    reconnect_message=AUTH_MESSAGE,
)
