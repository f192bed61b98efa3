"""Connecting external calendars: probe the account, save the choice, switches.

Nothing is saved until the coach presses Connect: `probe` only talks to the
server (wrong password, unreachable server, a website without CalDAV → a
plain message and nothing stored). The password is encrypted at rest and
never leaves the backend.

Google (OAuth 2.0, no password): `begin_google` makes the consent URL
(authorization code + PKCE S256 + a one-time `state`, offline access, an
exact redirect URI) and a `GoogleSignIn` that the page keeps server-side
until Google sends the browser back; `finish_google` checks that callback,
trades the code for tokens, reads the account's calendars and returns a
`GoogleProbe`; `save_google` stores the chosen calendars with the tokens
(incl. the refresh token) encrypted, exactly like a CalDAV password.
The redirect URI is `COACH_APP_PUBLIC_URL` + `/oauth/google/callback` when
that is set, otherwise the origin the coach's browser is on (the one Google
has to send it back to, so the browser keeps its session there).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session, select

from coach_app import changes
from coach_app.calendars.base import Account
from coach_app.calendars.base import SubCalendar as RemoteCalendar
from coach_app.calendars.caldav import (
    GENERIC_CALDAV,
    ICLOUD,
    CalDAVPreset,
    CalDAVProvider,
)
from coach_app.calendars.errors import AuthError, ProviderError, RateLimited, Transient
from coach_app.calendars.google import (
    GoogleConfig,
    GoogleProvider,
    GoogleTokens,
    StaticToken,
    code_from_callback,
    exchange_code,
    revoke_token,
    start_authorization,
)
from coach_app.calendars.google.oauth import RECONNECT_MESSAGE
from coach_app.models import (
    CalendarConnection,
    CoachNotice,
    ExternalEvent,
    PushedEvent,
    PushOutbox,
    SubCalendar,
    SyncCursor,
    utcnow,
)
from coach_app.security.secrets import decrypt, encrypt
from coach_app.services.errors import Forbidden, UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderChoice:
    key: str
    label: str
    available: bool


PROVIDER_CHOICES = (
    ProviderChoice("icloud", "iCloud", True),
    # Offered only when its OAuth client is configured: see `provider_choices`.
    ProviderChoice("google", "Google", False),
    ProviderChoice("office365", "Office 365", False),
    ProviderChoice("exchange", "Exchange", False),
    ProviderChoice("outlook", "Outlook.com", False),
    ProviderChoice("caldav", "Other CalDAV server", True),
)
CALDAV_PRESETS: dict[str, CalDAVPreset] = {"icloud": ICLOUD, "caldav": GENERIC_CALDAV}
SWITCHES = (
    "check_conflicts",
    "push_enabled",
    "pull_enabled",
    "cancellation_notification",
)


def provider_choices() -> tuple[ProviderChoice, ...]:
    """The wizard's services; Google only with a configured OAuth client."""
    google_ready = google_config().configured
    return tuple(
        ProviderChoice(c.key, c.label, google_ready) if c.key == GOOGLE else c
        for c in PROVIDER_CHOICES
    )


def preset_for(kind: str) -> CalDAVPreset:
    preset = CALDAV_PRESETS.get(kind)
    if preset is None:
        raise UserError("That calendar service is not available yet.")
    return preset


def base_url_for(kind: str, entered_url: str = "") -> str:
    """iCloud's address comes from configuration (`COACH_APP_ICLOUD_URL`, for
    self-hosted trials and tests); any other CalDAV server is entered."""
    if kind == "icloud":
        return os.environ.get("COACH_APP_ICLOUD_URL") or ICLOUD.base_url or ""
    url = (entered_url or "").strip()
    if not url:
        raise UserError("Please enter your calendar server's address.")
    if "://" not in url:
        url = "https://" + url
    return url


@dataclass(frozen=True)
class Probe:
    base_url: str
    account: Account
    calendars: list[RemoteCalendar]


async def probe(kind: str, entered_url: str, username: str, password: str) -> Probe:
    preset = preset_for(kind)
    username = (username or "").strip()
    if not username or not password:
        raise UserError(
            f"Please enter your {preset.username_label.lower()} and "
            f"{preset.password_label.lower()}."
        )
    base_url = base_url_for(kind, entered_url)
    try:
        async with CalDAVProvider(
            base_url, username, password, preset=preset
        ) as provider:
            account = await provider.discover()
            calendars = await provider.list_calendars()
    except ProviderError as exc:
        raise UserError(exc.user_message) from None
    except ValueError as exc:  # a malformed address
        raise UserError(f"That server address cannot be used: {exc}") from None
    if not calendars:
        raise UserError("This account has no calendars we can use for events.")
    return Probe(base_url, account, calendars)


def save(
    session: Session,
    coach_id: int,
    kind: str,
    found: Probe,
    username: str,
    password: str,
    pull_ids: list[str],
    push_id: str,
    agreed: bool,
) -> CalendarConnection:
    return _insert(
        session,
        coach_id,
        found,
        pull_ids,
        push_id,
        agreed,
        CalendarConnection(
            coach_id=coach_id,
            provider=kind,
            account_label=found.account.display_name or username,
            server_url=found.base_url,
            username=username.strip(),
            secret_encrypted=encrypt(password),
            server_profile=found.account.server,
        ),
    )


def _insert(
    session: Session,
    coach_id: int,
    found: Probe,
    pull_ids: list[str],
    push_id: str,
    agreed: bool,
    connection: CalendarConnection,
) -> CalendarConnection:
    """Check the coach's choice of calendars, then store the connection."""
    if not agreed:
        raise UserError("Please agree to the Terms of Service and Privacy Policy.")
    by_id = {c.id: c for c in found.calendars}
    if push_id not in by_id:
        raise UserError("Please choose the one calendar to push appointments to.")
    if not by_id[push_id].can_write:
        raise UserError("That calendar is read-only; choose another to push to.")
    if any(p not in by_id for p in pull_ids):
        raise UserError("Please choose calendars from this account only.")
    session.add(connection)
    session.flush()
    for cal in found.calendars:
        session.add(
            SubCalendar(
                connection_id=connection.id,
                remote_id=cal.id,
                name=cal.name or cal.id,
                color=cal.color or "",
                pull=cal.id in pull_ids,
                push=cal.id == push_id,
            )
        )
    session.flush()
    changes.announce(session, coach_id)
    return connection


def owned(session: Session, coach_id: int, connection_id: int) -> CalendarConnection:
    row = session.get(CalendarConnection, connection_id)
    if row is None or row.coach_id != coach_id:
        raise Forbidden()
    return row


def list_connections(
    session: Session, coach_id: int
) -> list[tuple[CalendarConnection, list[SubCalendar]]]:
    rows = session.exec(
        select(CalendarConnection)
        .where(CalendarConnection.coach_id == coach_id)
        .order_by(CalendarConnection.id)
    ).all()
    out = []
    for row in rows:
        subs = session.exec(
            select(SubCalendar)
            .where(SubCalendar.connection_id == row.id)
            .order_by(SubCalendar.name)
        ).all()
        out.append((row, list(subs)))
    return out


def set_switch(
    session: Session, coach_id: int, connection_id: int, switch: str, value: bool
) -> CalendarConnection:
    if switch not in SWITCHES:
        raise UserError("Unknown setting.")
    row = owned(session, coach_id, connection_id)
    # What the pull and push switches set in motion (full resync, catching up
    # the push calendar) is the sync engine's: sync.pull.on_pull_switch and
    # sync.push.on_push_switch, called by the page in this same transaction.
    setattr(row, switch, bool(value))
    session.add(row)
    session.flush()
    changes.announce(session, coach_id)
    return row


def edit_calendars(
    session: Session,
    coach_id: int,
    connection_id: int,
    pull_ids: list[int],
    push_id: int,
) -> None:
    owned(session, coach_id, connection_id)
    subs = session.exec(
        select(SubCalendar).where(SubCalendar.connection_id == connection_id)
    ).all()
    if push_id not in {s.id for s in subs}:
        raise UserError("Please choose the one calendar to push appointments to.")
    for sub in subs:
        newly_pulled = sub.id in pull_ids and not sub.pull
        sub.pull = sub.id in pull_ids
        sub.push = sub.id == push_id
        session.add(sub)
        if newly_pulled:
            session.exec(
                sa.delete(SyncCursor).where(SyncCursor.sub_calendar_id == sub.id)
            )
        if not sub.pull:
            session.exec(
                sa.delete(ExternalEvent).where(ExternalEvent.sub_calendar_id == sub.id)
            )
    session.flush()
    changes.announce(session, coach_id)


def disconnect(session: Session, coach_id: int, connection_id: int) -> None:
    """Forget the account here; events already in the external calendar stay."""
    row = owned(session, coach_id, connection_id)
    sub_ids = select(SubCalendar.id).where(SubCalendar.connection_id == row.id)
    session.exec(
        sa.delete(ExternalEvent).where(ExternalEvent.sub_calendar_id.in_(sub_ids))
    )
    session.exec(sa.delete(SyncCursor).where(SyncCursor.sub_calendar_id.in_(sub_ids)))
    session.exec(sa.delete(PushedEvent).where(PushedEvent.sub_calendar_id.in_(sub_ids)))
    session.exec(sa.delete(PushOutbox).where(PushOutbox.connection_id == row.id))
    session.exec(sa.delete(SubCalendar).where(SubCalendar.connection_id == row.id))
    session.delete(row)
    session.flush()
    changes.announce(session, coach_id)


def notices(session: Session, coach_id: int, limit: int = 10) -> list[CoachNotice]:
    return list(
        session.exec(
            select(CoachNotice)
            .where(CoachNotice.coach_id == coach_id, CoachNotice.read_at.is_(None))  # type: ignore[union-attr]
            .order_by(CoachNotice.id.desc())  # type: ignore[union-attr]
            .limit(limit)
        ).all()
    )


def mark_notices_read(session: Session, coach_id: int) -> None:
    session.exec(
        sa.update(CoachNotice)
        .where(CoachNotice.coach_id == coach_id, CoachNotice.read_at.is_(None))  # type: ignore[union-attr]
        .values(read_at=utcnow())
    )


# -- Google (OAuth 2.0) ----------------------------------------------------------

GOOGLE = "google"
GOOGLE_CALLBACK_PATH = "/oauth/google/callback"
GOOGLE_SIGN_IN_TTL = 600.0  # seconds; Google's authorization codes live 10 minutes
INVALID_LINK_MESSAGE = (
    "This Google sign-in link is not valid any more. Please start again."
)
DENIED_MESSAGE = (
    "You did not allow access to your Google Calendar, so nothing was connected. "
    "To connect Google, start again and choose Allow on Google's page."
)
UNREACHABLE_MESSAGE = (
    "Google could not be reached just now, so nothing was connected. "
    "Please try again in a minute."
)
EXPIRED_CODE_MESSAGE = (
    "Google did not accept this sign-in (it may have expired or been used "
    "already), so nothing was connected. Please start again."
)
SCOPES_MESSAGE = (
    "Coach App needs both permissions on Google's page: to see your calendars "
    "(so busy times block your booking page) and to edit events (so your "
    "appointments appear in your calendar). Nothing was connected; please start "
    "again and leave both ticked."
)


def google_config() -> GoogleConfig:
    return GoogleConfig.from_env()


def google_redirect_uri(browser_origin: str) -> str:
    """The exact redirect URI registered with Google for this app.

    ``COACH_APP_PUBLIC_URL`` (e.g. ``https://coach.example.com``) wins; without
    it, the origin of the page the coach is on, so Google sends the browser
    back to the same origin (where its Reflex session lives). Only
    ``http(s)://host[:port]`` is accepted from the browser: no path, query,
    user info or fragment can be smuggled into the redirect URI.
    """
    public = os.environ.get("COACH_APP_PUBLIC_URL", "").strip()
    base = public.rstrip("/") if public else _plain_origin(browser_origin)
    if not base:
        raise UserError(
            "Google sign-in is not available from this address. Please open "
            "Coach App at its usual address and try again."
        )
    return base + GOOGLE_CALLBACK_PATH


def _plain_origin(origin: str) -> str:
    try:
        parts = urlsplit((origin or "").strip())
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return ""
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        return ""
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class GoogleSignIn:
    """A started Google sign-in; kept server-side only, used at most once."""

    state: str
    code_verifier: str
    redirect_uri: str
    coach_id: int
    expires_at: float  # time.time()

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at


@dataclass(frozen=True)
class GoogleProbe(Probe):
    """A Google account after consent: its email, calendars and tokens.

    ``tokens`` hold the refresh token: never put a GoogleProbe in a
    browser-visible var.
    """

    email: str = ""
    tokens: GoogleTokens | None = field(default=None, repr=False)


async def begin_google(coach_id: int, browser_origin: str) -> tuple[str, GoogleSignIn]:
    """The consent URL to send the browser to, and what to keep until it returns."""
    config = google_config()
    if not config.configured:
        raise UserError("Google Calendar is not available on this server yet.")
    redirect_uri = google_redirect_uri(browser_origin)
    request = await start_authorization(config, redirect_uri)
    return request.url, GoogleSignIn(
        state=request.state,
        code_verifier=request.code_verifier,
        redirect_uri=request.redirect_uri,
        coach_id=coach_id,
        expires_at=time.time() + GOOGLE_SIGN_IN_TTL,
    )


def callback_error(params: Mapping[str, str]) -> str | None:
    """The message for a callback that carries ``error=`` (None if it has none)."""
    error = params.get("error")
    if not error:
        return None
    if error == "access_denied":
        return DENIED_MESSAGE
    return (
        f"Google did not connect your calendar ({error}). Nothing was saved; "
        "please start again."
    )


async def finish_google(
    pending: GoogleSignIn, params: Mapping[str, str]
) -> GoogleProbe:
    """Check the callback, trade its code for tokens, read the calendars.

    Raises ``UserError`` with a plain message; nothing is stored either way.
    """
    denied = callback_error(params)
    if denied:
        raise UserError(denied)
    try:
        code = code_from_callback(params, pending.state)
    except AuthError:
        raise UserError(INVALID_LINK_MESSAGE) from None
    if pending.expired():
        raise UserError(INVALID_LINK_MESSAGE)
    config = google_config()
    try:
        tokens = await exchange_code(
            config,
            code=code,
            redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier,
        )
    except ProviderError as exc:
        log.warning("Google code exchange failed: %s", exc)
        raise UserError(_exchange_message(exc)) from None
    try:
        granted = set(tokens.scope.split())
        if granted and not set(config.scopes) <= granted:
            raise UserError(SCOPES_MESSAGE)
        try:
            async with GoogleProvider(
                StaticToken(tokens.access_token), api_base=config.api_base
            ) as provider:
                account = await provider.discover()
                calendars = await provider.list_calendars()
        except ProviderError as exc:
            log.warning("Google calendar listing failed: %s", exc)
            raise UserError(
                UNREACHABLE_MESSAGE
                if isinstance(exc, Transient)
                else f"{exc.user_message} Nothing was connected."
            ) from None
        if not calendars:
            raise UserError("This Google account has no calendars we can use.")
    except UserError:
        await _forget(config, tokens)
        raise
    email = account.principal_url
    return GoogleProbe(
        base_url="",
        account=account,
        calendars=calendars,
        email=email,
        tokens=tokens,
    )


def _exchange_message(exc: ProviderError) -> str:
    if isinstance(exc, Transient | RateLimited):
        return UNREACHABLE_MESSAGE
    if isinstance(exc, AuthError) and exc.user_message == RECONNECT_MESSAGE:
        # invalid_grant at the code exchange: the code expired or was used.
        return EXPIRED_CODE_MESSAGE
    return exc.user_message


async def _forget(config: GoogleConfig, tokens: GoogleTokens) -> None:
    """Best effort: give back a grant we will not keep."""
    try:
        await revoke_token(config, tokens.refresh_token or tokens.access_token)
    except ProviderError as exc:
        log.info("could not revoke an unused Google grant: %s", exc)


def save_google(
    session: Session,
    coach_id: int,
    found: GoogleProbe,
    pull_ids: list[str],
    push_id: str,
    agreed: bool,
) -> CalendarConnection:
    """Store a Google connection: the tokens (with the refresh token) encrypted."""
    if found.tokens is None or not found.tokens.refresh_token or not found.email:
        raise UserError("Please start again: the Google sign-in was lost.")
    return _insert(
        session,
        coach_id,
        found,
        pull_ids,
        push_id,
        agreed,
        CalendarConnection(
            coach_id=coach_id,
            provider=GOOGLE,
            account_label=found.email,
            server_url="",
            username=found.email,
            secret_encrypted=encrypt(found.tokens.to_json()),
        ),
    )


async def revoke_google(secret_encrypted: str) -> None:
    """Best effort on Disconnect: a grant already revoked, or unreadable,
    needs no revoking, and the account is forgotten here either way."""
    try:
        tokens = GoogleTokens.from_json(decrypt(secret_encrypted))
        token = tokens.refresh_token or tokens.access_token
        if token:
            await revoke_token(google_config(), token)
    except Exception as exc:
        log.warning("revoking a Google grant failed: %s", exc)
