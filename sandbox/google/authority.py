"""Google's OAuth 2.0 server on the shared authority (``sandbox.common.oauth``).

What is Google's own: the scopes it knows, ``access_type`` (only ``online`` /
``offline``; a refresh token on the first offline consent and whenever
``prompt=consent`` forces one; never a new one on refresh), its token
formats and its error wording, which the base class already uses.
"""

from __future__ import annotations

from collections.abc import Mapping

from sandbox.common.oauth import OAuthAuthority, OAuthResult, PendingAuthorization

SCOPE = "https://www.googleapis.com/auth/"
CALENDAR = SCOPE + "calendar"
CALENDAR_READONLY = SCOPE + "calendar.readonly"
EVENTS = SCOPE + "calendar.events"
EVENTS_READONLY = SCOPE + "calendar.events.readonly"
FREEBUSY = SCOPE + "calendar.freebusy"
EVENTS_FREEBUSY = SCOPE + "calendar.events.freebusy"
CALENDARLIST = SCOPE + "calendar.calendarlist"
CALENDARLIST_READONLY = SCOPE + "calendar.calendarlist.readonly"
CALENDARS = SCOPE + "calendar.calendars"
CALENDARS_READONLY = SCOPE + "calendar.calendars.readonly"
IDENTITY_SCOPES = frozenset(
    {"openid", "email", "profile", SCOPE + "userinfo.email", SCOPE + "userinfo.profile"}
)
CALENDAR_SCOPES = frozenset(
    {
        CALENDAR,
        CALENDAR_READONLY,
        EVENTS,
        EVENTS_READONLY,
        FREEBUSY,
        EVENTS_FREEBUSY,
        CALENDARLIST,
        CALENDARLIST_READONLY,
        CALENDARS,
        CALENDARS_READONLY,
    }
)
KNOWN_SCOPES = CALENDAR_SCOPES | IDENTITY_SCOPES

SCOPE_LABELS = {
    "calendar": "See, edit, share, and permanently delete all the calendars you can access",
    "calendar.readonly": "See and download any calendar you can access",
    "calendar.events": "View and edit events on all your calendars",
    "calendar.events.readonly": "View events on all your calendars",
    "calendar.freebusy": "See your free/busy information",
    "calendar.calendarlist.readonly": "See the list of calendars you are subscribed to",
}


def scope_label(scope: str) -> str:
    return SCOPE_LABELS.get(scope.rsplit("/", 1)[-1], scope)


class GoogleAuthority(OAuthAuthority):
    identity_scopes = IDENTITY_SCOPES

    def known_scope(self, scope: str) -> bool:
        return scope in KNOWN_SCOPES

    def validate_extra(
        self, params: Mapping[str, str], pending: PendingAuthorization
    ) -> OAuthResult | None:
        if pending.access_type not in ("online", "offline"):
            return OAuthResult(
                "error",
                400,
                error="invalid_request",
                message=f"Invalid access_type: {pending.access_type}",
            )
        return None
