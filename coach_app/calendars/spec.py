"""What a provider package tells the rest of the app about itself.

Each package under ``coach_app/calendars/`` exports one ``ProviderSpec`` (or
one per preset, like iCloud and "Other CalDAV server"); ``registry`` lists
them. Pages, services and the sync engine read specs and never branch on a
provider's name:

- the wizard shows ``label``, and either the fields, help and presets of a
  ``PasswordSignIn`` or the consent step of an ``OAuthSignIn``;
- ``build`` turns stored ``Credentials`` (plus, for OAuth, a token source
  that refreshes and stores tokens) into a ``CalendarProvider``;
- ``check`` proves the credentials work and lists the account's calendars
  (nothing is stored until the coach presses Connect);
- ``revoke`` gives a grant back on Disconnect (best effort);
- ``push`` (optional) reads the provider's change notifications.

Domain layer: no Reflex and no database here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from coach_app.calendars.base import CalendarProvider, SubCalendar
from coach_app.calendars.oauth import AccessTokenSource, OAuthConfig


@dataclass(frozen=True)
class Credentials:
    """What a connection stores to reach its account.

    ``secret`` is a password, or the OAuth tokens as JSON; it is encrypted at
    rest and never leaves the backend. ``server_profile`` is what sign-in
    learnt about the server ("" = unknown): CalDAV's quirks profile,
    Exchange's authentication scheme.
    """

    server_url: str = ""
    username: str = ""
    secret: str = field(default="", repr=False)
    server_profile: str = ""


@dataclass(frozen=True)
class FoundAccount:
    """An account whose credentials work, before the coach chose calendars."""

    credentials: Credentials  # what Connect stores (server URL resolved …)
    label: str  # the account as the coach knows it, e.g. an email address
    calendars: list[SubCalendar]


class SignInError(ValueError):
    """The form cannot be used as it is; the message is for the coach."""


@dataclass(frozen=True)
class FormField:
    """One input of a password sign-in form."""

    name: str
    label: str
    type: str = "text"  # text | email | password | url
    placeholder: str = ""
    required: bool = True
    autocomplete: str = ""
    hint: str = ""  # one line under the field
    # Not shown at first: it appears when the check asks for it (a
    # ``ProviderError`` whose ``asks_for`` names it) or when the coach opens
    # it with a button labelled ``open_label``.
    ask_when_needed: bool = False
    open_label: str = ""


@dataclass(frozen=True)
class HelpLink:
    label: str
    url: str


def _plain_credentials(form: Mapping[str, str]) -> Credentials:
    return Credentials(
        server_url=form.get("server_url", "").strip(),
        username=form.get("username", "").strip(),
        secret=form.get("password", ""),
    )


@dataclass(frozen=True)
class PasswordSignIn:
    """A form (fields, numbered help steps, a help link) → ``Credentials``.

    ``credentials`` turns the submitted form into what is checked and stored;
    it may fill in a preset server address, and raises ``SignInError`` for a
    form it cannot use. Required fields are checked before it runs.
    """

    fields: tuple[FormField, ...]
    help_title: str = ""
    help_steps: tuple[str, ...] = ()
    help_link: HelpLink | None = None
    credentials: Callable[[Mapping[str, str]], Credentials] = _plain_credentials


@dataclass(frozen=True)
class OAuthSignIn:
    """Consent on the provider's own page (authorization code + PKCE)."""

    config: Callable[[], OAuthConfig]  # read when needed: tests change the env
    consent_text: str  # what the coach is about to allow, in plain words


SignIn = PasswordSignIn | OAuthSignIn


@dataclass(frozen=True)
class Notification:
    """One change notification, as a provider's ``push.parse`` read it.

    It names the channel by our id (``channel_id``) or the provider's
    (``resource_id``), carries the secret the provider echoes (``token``),
    and says whether the calendar changed or the channel itself needs care
    (``lifecycle``: "renew", "removed" or "missed").
    """

    token: str
    channel_id: str = ""
    resource_id: str = ""
    changed: bool = True
    lifecycle: str = ""


@dataclass(frozen=True)
class WebhookReply:
    """What a provider's ``push.parse`` made of one webhook request.

    ``answer`` set: send exactly that (a handshake such as Graph's
    validation token, or 400 for something that is no notification);
    otherwise verify every notification and reply ``status``.
    """

    notifications: Sequence[Notification] = ()
    status: int = 200
    answer: tuple[int, str, str] | None = None  # (status, content type, body)


class PushSupport(Protocol):
    """A provider whose calendars can tell us that they changed."""

    def parse(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookReply:
        """Read one request to ``/webhooks/<key>``; no database, no network."""
        ...


ProviderFactory = Callable[[Credentials, AccessTokenSource | None], CalendarProvider]
CheckCredentials = Callable[
    ["ProviderSpec", Credentials, AccessTokenSource | None], Awaitable[FoundAccount]
]


async def check_by_listing(
    spec: ProviderSpec, credentials: Credentials, tokens: AccessTokenSource | None
) -> FoundAccount:
    """Discover the account and list its calendars (the usual ``check``)."""
    provider = spec.build(credentials, tokens)
    try:
        account = await provider.discover()
        calendars = await provider.list_calendars()
    finally:
        await provider.aclose()
    return FoundAccount(
        credentials=replace(credentials, server_profile=account.server),
        label=account.login or account.display_name or credentials.username,
        calendars=calendars,
    )


async def _nothing_to_revoke(_credentials: Credentials) -> None:
    return None


def _always() -> bool:
    return True


@dataclass(frozen=True)
class ProviderSpec:
    """One calendar service as the rest of the app sees it."""

    key: str  # stored in CalendarConnection.provider; part of URLs
    label: str  # the wizard's choice: "iCloud", "Google", "Other CalDAV server"…
    sign_in: SignIn
    build: ProviderFactory
    reconnect_message: str  # shown and emailed when the credentials stop working
    check: CheckCredentials = check_by_listing
    revoke: Callable[[Credentials], Awaitable[None]] = _nothing_to_revoke
    push: PushSupport | None = None
    # Offered on this server (an OAuth provider needs its client configured).
    available: Callable[[], bool] = _always
    # The service's name inside a sentence when the label does not fit there:
    # "CalDAV" for "Other CalDAV server" ("your CalDAV calendar"); "" = label.
    service: str = ""

    @property
    def service_name(self) -> str:
        return self.service or self.label

    @property
    def oauth(self) -> OAuthSignIn | None:
        return self.sign_in if isinstance(self.sign_in, OAuthSignIn) else None

    @property
    def password(self) -> PasswordSignIn | None:
        return self.sign_in if isinstance(self.sign_in, PasswordSignIn) else None

    def is_available(self) -> bool:
        oauth = self.oauth
        if oauth is not None and not oauth.config().configured:
            return False
        return self.available()
