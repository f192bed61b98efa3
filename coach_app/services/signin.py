"""Connecting a calendar account: which services, check the sign-in, Connect.

Nothing is saved until the coach presses Connect: ``check_password`` (and
``oauth_signin.finish`` for OAuth services) only talk to the server — a wrong
password, an unreachable server, a website that is no calendar server → a
plain message and nothing stored. ``connect`` stores the account with its
secret encrypted, queues the coach's upcoming appointments for the push
calendar and asks for the first sync once the transaction commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel import Session

from coach_app import changes
from coach_app.calendars import registry
from coach_app.calendars.errors import ProviderError
from coach_app.calendars.spec import FoundAccount, ProviderSpec, SignInError
from coach_app.models import CalendarConnection, SubCalendar
from coach_app.security.secrets import encrypt
from coach_app.services.errors import AsksFor, UserError
from coach_app.sync.switches import push_existing_appointments, sync_after_commit

TERMS_MESSAGE = "Please agree to the Terms of Service and Privacy Policy."
COMING_SOON_MESSAGE = "That calendar service is coming soon."


@dataclass(frozen=True)
class ServiceChoice:
    key: str
    label: str
    available: bool


def choices() -> list[ServiceChoice]:
    """The wizard's services, in order; unavailable ones say "coming soon"."""
    return [
        ServiceChoice(key, label, spec is not None and spec.is_available())
        for key, label, spec in registry.menu()
    ]


def offered(key: str) -> ProviderSpec:
    """The spec of a service the coach may connect now."""
    try:
        spec = registry.spec_for(key)
    except registry.UnknownProvider:
        raise UserError(COMING_SOON_MESSAGE) from None
    if not spec.is_available():
        raise UserError(COMING_SOON_MESSAGE)
    return spec


async def check_password(key: str, form: Mapping[str, str]) -> FoundAccount:
    """Sign in with the form of a password service and list its calendars."""
    spec = offered(key)
    sign_in = spec.password
    if sign_in is None:
        raise UserError(COMING_SOON_MESSAGE)
    missing = [
        f.label
        for f in sign_in.fields
        if f.required and not str(form.get(f.name, "")).strip()
    ]
    if missing:
        raise UserError(f"Please enter your {_and(missing).lower()}.")
    try:
        credentials = sign_in.credentials(form)
        found = await spec.check(spec, credentials, None)
    except SignInError as exc:
        raise UserError(str(exc)) from None
    except ProviderError as exc:
        if exc.asks_for:
            raise AsksFor(exc.user_message, exc.asks_for) from None
        raise UserError(exc.user_message) from None
    except ValueError as exc:  # a malformed address
        raise UserError(f"That server address cannot be used: {exc}") from None
    return usable(found)


def usable(found: FoundAccount) -> FoundAccount:
    if not found.calendars:
        raise UserError("This account has no calendars we can use for events.")
    return found


def connect(
    session: Session,
    coach_id: int,
    key: str,
    found: FoundAccount,
    pull_ids: list[str],
    push_id: str,
    agreed: bool,
) -> CalendarConnection:
    """Store the account and the coach's choice of calendars."""
    spec = registry.spec_for(key)
    if not agreed:
        raise UserError(TERMS_MESSAGE)
    by_id = {c.id: c for c in found.calendars}
    if push_id not in by_id:
        raise UserError("Please choose the one calendar to push appointments to.")
    if not by_id[push_id].can_write:
        raise UserError("That calendar is read-only; choose another to push to.")
    if any(p not in by_id for p in pull_ids):
        raise UserError("Please choose calendars from this account only.")
    credentials = found.credentials
    connection = CalendarConnection(
        coach_id=coach_id,
        provider=spec.key,
        account_label=found.label[:320],
        server_url=credentials.server_url,
        username=credentials.username or found.label,
        secret_encrypted=encrypt(credentials.secret),
        server_profile=credentials.server_profile,
    )
    session.add(connection)
    session.flush()
    assert connection.id is not None
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
    push_existing_appointments(session, connection.id)
    sync_after_commit(session, connection.id)
    changes.announce(session, coach_id)
    return connection


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
