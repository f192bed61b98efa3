"""One error hierarchy shared by every calendar provider.

The sync engine only ever catches these classes, so it needs no
provider-specific branches: it decides *what to do* from the class
(reconnect, back off, retry later, re-list, re-read) and *what to show*
from ``user_message``, which is written for a coach, not an engineer.

Each instance keeps the technical detail in ``str(exc)`` (for logs) and the
plain-English text in ``exc.user_message`` (for the Integrations page).
A provider may pass a more specific ``user_message`` (the iCloud preset
does, to talk about app-specific passwords).
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base class of every error a calendar provider raises."""

    default_user_message = "Something went wrong while talking to your calendar."
    # Sign-in form fields (``FormField.name``) the coach should fill in to
    # get past this error, e.g. the server address when it was not found.
    asks_for: tuple[str, ...] = ()

    def __init__(self, detail: str = "", *, user_message: str | None = None) -> None:
        super().__init__(detail or self.default_user_message)
        self.user_message = user_message or self.default_user_message


class AuthError(ProviderError):
    """Credentials were rejected: the coach has to reconnect the account."""

    default_user_message = (
        "Your calendar account rejected the saved sign-in details. "
        "Please reconnect the calendar in My Settings → Integrations."
    )


class RateLimited(ProviderError):
    """The server asked us to slow down; ``retry_after`` is in seconds if known."""

    default_user_message = (
        "Your calendar provider asked us to slow down. Sync will resume shortly."
    )

    def __init__(
        self,
        detail: str = "",
        *,
        retry_after: float | None = None,
        user_message: str | None = None,
    ) -> None:
        super().__init__(detail, user_message=user_message)
        self.retry_after = retry_after


class Transient(ProviderError):
    """Network trouble or a server-side failure: retrying later may work."""

    default_user_message = (
        "The calendar server could not be reached. We will try again shortly."
    )


class NotFound(ProviderError):
    """The calendar or event no longer exists on the server."""

    default_user_message = "The calendar or event was not found on the server."


class PreconditionFailed(ProviderError):
    """Optimistic concurrency failed: the item changed (or exists) on the server."""

    default_user_message = (
        "The event was changed in your calendar at the same time. "
        "We will re-read it and try again."
    )


class CursorInvalid(ProviderError):
    """The incremental-sync cursor was rejected: do a full listing and reconcile."""

    default_user_message = (
        "Your calendar asked for a full refresh. This happens now and then "
        "and needs no action."
    )


class NotCalendarServer(ProviderError):
    """The URL answers, but it is not a CalDAV (or provider API) endpoint."""

    default_user_message = (
        "That address answered, but it is not a calendar server. "
        "Check the server URL you entered."
    )


class UrlNotAllowed(ProviderError):
    """The server URL (or a redirect) points at a private or local network."""

    default_user_message = (
        "That server address points to a private or local network, which is "
        "not allowed. Use the calendar server's public address."
    )


class InvalidServerAddress(UrlNotAllowed):
    """The server URL cannot be used as typed (spaces, odd brackets, an IP
    address in an unusual form, a name that does not resolve…);
    ``user_message`` says what is wrong."""

    default_user_message = "That server address cannot be used. Check it and try again."


class MalformedEvent(ValueError):
    """One event's data could not be read.

    Deliberately *not* a ``ProviderError``: it concerns a single event, so the
    caller reports it and skips that event instead of failing the whole sync.
    """

    user_message = "One event in your calendar could not be read and was skipped."

    def __init__(self, detail: str, *, uid: str | None = None) -> None:
        super().__init__(detail)
        self.uid = uid
