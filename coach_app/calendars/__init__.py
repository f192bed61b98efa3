"""External calendar providers behind one protocol (see ``base``).

Domain layer: no Reflex and no database imports here.
"""

from coach_app.calendars.base import (
    Account,
    CalendarProvider,
    CalendarRef,
    ChangeSet,
    OutgoingEvent,
    RemoteEvent,
    SubCalendar,
)
from coach_app.calendars.errors import (
    AuthError,
    CursorInvalid,
    InvalidServerAddress,
    MalformedEvent,
    NotCalendarServer,
    NotFound,
    PreconditionFailed,
    ProviderError,
    RateLimited,
    Transient,
    UrlNotAllowed,
)
from coach_app.calendars.sync_helpers import WipeRefused, reconcile

__all__ = [
    "Account",
    "AuthError",
    "CalendarProvider",
    "CalendarRef",
    "ChangeSet",
    "CursorInvalid",
    "InvalidServerAddress",
    "MalformedEvent",
    "NotCalendarServer",
    "NotFound",
    "OutgoingEvent",
    "PreconditionFailed",
    "ProviderError",
    "RateLimited",
    "RemoteEvent",
    "SubCalendar",
    "Transient",
    "UrlNotAllowed",
    "WipeRefused",
    "reconcile",
]
