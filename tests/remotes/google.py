"""Google Calendar from outside: the sandbox's controls (``google.state``)
stand for the coach using Google's own apps, and its fault injector for
Google's documented error answers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from coach_app.calendars.base import CalendarProvider
from coach_app.calendars.google import GoogleProvider, event_id_for_key, oauth_config
from coach_app.calendars.google.config import RECONNECT_MESSAGE
from coach_app.calendars.oauth import OAuthTokens, TokenSource
from remotes import (
    DROP,
    RATE_LIMIT,
    SERVER_ERROR,
    TIMEOUT,
    AccountExpectations,
    Added,
    ConnectionFields,
    Quirks,
    Remote,
    RequestHook,
    Stored,
)
from sandbox.google import GoogleSandbox, instance_id

GOOGLE = Quirks(
    key="google",
    # events.list with the syncToken: one page, one request.
    incremental_pull_requests=("GET .*/events",),
    # Every list answer carries a fresh nextSyncToken.
    quiet_pull_keeps_cursor=False,
    foreign_uid_suffix="@google.com",  # Google makes the iCalUID of new events
    app_event_uid="{id}@google.com",  # the app sends no iCalUID
    auth_error_detail="invalid_grant",
    # Events are structured JSON: nothing unreadable can be stored.
    refuses_unreadable_entries=True,
    reconnect_message=RECONNECT_MESSAGE,
    reconnect_subject="Please reconnect your Google calendar ({account})",
)
_UTC = ZoneInfo("UTC")
_COLOR = "5"  # what ``touch`` sets: neither time nor title


def sandbox_tokens(google: GoogleSandbox, email: str) -> OAuthTokens:
    issued = google.state.issue_tokens(email)
    return OAuthTokens.from_response(
        {
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        }
    )


def _zoned(moment: dt.datetime) -> dt.datetime:
    """Google needs a zone name for a series: UTC when none is given."""
    return moment if getattr(moment.tzinfo, "key", None) else moment.astimezone(_UTC)


def _moment(value: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))


class GoogleRemote(Remote):
    """A fresh Google account; ``seeded``: Work, family, a read-only holiday
    calendar shared with it, and a boss who shares only free/busy."""

    def __init__(
        self, google: GoogleSandbox, *, seeded: bool = False, timezone: str = "UTC"
    ) -> None:
        super().__init__(GOOGLE)
        self.google = google
        self.state = google.state
        self.email = f"coach-{uuid.uuid4().hex[:10]}@example.com"
        self.state.add_user(self.email, "Kim Coach", time_zone=timezone)
        self.refreshed: list[OAuthTokens] = []
        self.seeded: dict[str, str] = {}
        if seeded:
            self._seed()

    def _seed(self) -> None:
        state = self.state
        self.seeded["Work"] = state.add_calendar(
            self.email, "Work", background_color="#4986e7"
        )
        self.seeded["family"] = state.add_calendar(self.email, "family")
        holidays = f"en.{uuid.uuid4().hex[:6]}#holiday@group.v.calendar.google.com"
        state.add_user("holidays@example.com")
        state.add_calendar("holidays@example.com", "Holidays", calendar_id=holidays)
        state.share_calendar(holidays, self.email, "reader")
        self.seeded["Holidays"] = holidays
        state.add_user("boss@example.com")  # shares only free/busy: not listed
        state.share_calendar("boss@example.com", self.email, "freeBusyReader")

    # -- calendars ---------------------------------------------------------
    def new_calendar(self, name: str) -> str:
        cal = self.state.add_calendar(self.email, name)
        self.created.append(cal)
        return cal

    def drop_calendar(self, cal: str) -> None:
        self.state.remove_calendar(cal)

    # -- changes from outside ---------------------------------------------
    def _added(self, cal: str, event: dict[str, Any]) -> Added:
        made = self.state.add_event(cal, event)
        return Added(str(made["id"]), made.get("etag"), made.get("iCalUID"))

    def add(
        self,
        cal: str,
        summary: str,
        start: dt.datetime,
        minutes: int = 60,
        *,
        transparent: bool = False,
        declined_by: str | None = None,
    ) -> Added:
        event: dict[str, Any] = {
            "summary": summary,
            "start": start,
            "end": start + dt.timedelta(minutes=minutes),
        }
        if transparent:
            event["transparency"] = "transparent"
        if declined_by:
            event["attendees"] = [
                {"email": declined_by, "responseStatus": "declined"},
                {"email": "boss@example.com", "responseStatus": "accepted"},
            ]
        return self._added(cal, event)

    def add_all_day(self, cal: str, summary: str, first: dt.date, days: int) -> Added:
        end = first + dt.timedelta(days=days)
        return self._added(cal, {"summary": summary, "start": first, "end": end})

    def add_series(
        self, cal: str, summary: str, start: dt.datetime, minutes: int, rules: list[str]
    ) -> Added:
        start = _zoned(start)
        end = start + dt.timedelta(minutes=minutes)
        return self._added(
            cal, {"summary": summary, "start": start, "end": end, "recurrence": rules}
        )

    def move_instance(
        self,
        cal: str,
        series_id: str,
        original: dt.datetime,
        start: dt.datetime,
        end: dt.datetime,
        summary: str | None = None,
    ) -> None:
        changes: dict[str, Any] = {"start": _zoned(start), "end": _zoned(end)}
        if summary:
            changes["summary"] = summary
        instance = instance_id(series_id, original)
        moved = self.state.patch_event(cal, instance, changes)
        assert (moved["id"], moved["recurringEventId"]) == (instance, series_id)

    def cancel_instance(self, cal: str, series_id: str, original: dt.datetime) -> None:
        self.state.cancel_instance(cal, series_id, original)

    def edit(self, cal: str, id: str, summary: str) -> str | None:
        return self.state.patch_event(cal, id, {"summary": summary})["etag"]

    def move(self, cal: str, id: str, start: dt.datetime, end: dt.datetime) -> None:
        self.state.move_event(cal, id, start, end)

    def touch(self, cal: str, id: str) -> str | None:
        return self.state.patch_event(cal, id, {"colorId": _COLOR})["etag"]

    def touched(self, cal: str, id: str) -> bool:
        event = self.state.get_event(cal, id)
        return event is not None and event.get("colorId") == _COLOR

    def delete(self, cal: str, id: str) -> None:
        self.state.delete_event(cal, id)

    def ids(self, cal: str) -> list[str]:
        return sorted(str(e["id"]) for e in self.state.events(cal))

    def stored(self, cal: str, id: str) -> Stored:
        event = self.state.get_event(cal, id)
        assert event is not None and event["status"] == "confirmed", event
        private = (event.get("extendedProperties") or {}).get("private") or {}
        return Stored(
            id=str(event["id"]),
            etag=event.get("etag"),
            key=private["coachAppKey"] if set(private) == {"coachAppKey"} else None,
            summary=event.get("summary", ""),
            start=_moment(event["start"]),
            end=_moment(event["end"]),
            description=event.get("description", ""),
        )

    def add_foreign_at(self, cal: str, key: str) -> None:
        start = dt.datetime(2025, 3, 4, 15, tzinfo=dt.UTC)
        self.state.add_event(
            cal,
            {
                "id": event_id_for_key(key),
                "summary": "Not ours",
                "start": start,
                "end": start + dt.timedelta(hours=1),
            },
        )

    def id_for_key(self, cal: str, key: str) -> str:
        return event_id_for_key(key)

    # -- cursors and faults ------------------------------------------------
    def stale_cursor(self, cal: str, cursor: str) -> str:
        self.state.invalidate_sync_tokens(cal)  # as after a server-side expiry
        return cursor

    def fail_next(self, kind: str, *, retry_after: float | None = None) -> None:
        inject = self.state.inject_fault
        if kind == RATE_LIMIT:
            inject(
                "rate_limit",
                status=403,
                reason="rateLimitExceeded",
                retry_after=retry_after,
            )
        elif kind == SERVER_ERROR:
            inject("server_error", status=500)
        elif kind == TIMEOUT:
            inject("slow", delay=1.0)  # beyond the contract's 0.3 s deadline
        else:
            assert kind == DROP, kind
            inject("drop")

    # -- reaching the account ----------------------------------------------
    def expectations(self) -> AccountExpectations:
        cals = self.state.calendars

        def row(name: str, cal: str, can_write: bool) -> tuple:
            return (name, cal, can_write, cals[cal].background_color)

        return AccountExpectations(
            account={
                "provider": "google",
                "principal_url": self.email,
                "home_url": self.google.api_base,
                "display_name": self.email,
                "server": "google",
            },
            # The primary calendar first, then by name; write access from the role.
            calendars=[
                row(self.email, self.email, True),
                row("family", self.seeded["family"], True),
                row("Holidays", self.seeded["Holidays"], False),
                row("Work", self.seeded["Work"], True),
            ],
        )

    def token_source(self) -> TokenSource:
        return TokenSource(
            oauth_config(self.google.env()),
            sandbox_tokens(self.google, self.email),
            on_refresh=self.refreshed.append,
        )

    def connect(
        self, *, on_request: RequestHook | None = None, timeout: float = 30.0
    ) -> CalendarProvider:
        return GoogleProvider(
            self.token_source(),
            api_base=self.google.api_base,
            on_request=on_request,
            timeout=timeout,
        )

    def connect_rejected(self) -> CalendarProvider:
        source = self.token_source()
        # Removed in the Google account settings: the refresh gets invalid_grant.
        assert self.state.revoke(source.tokens.refresh_token) == 1
        self.state.expire_access_tokens(self.email)
        return GoogleProvider(source, api_base=self.google.api_base)

    def connection(self) -> ConnectionFields:
        return ConnectionFields(
            provider="google",
            account_label=self.email,
            server_url="",
            username=self.email,
            secret=sandbox_tokens(self.google, self.email).to_json(),
        )

    def revoke_credentials(self) -> dict[str, str]:
        assert self.state.revoke(email=self.email) == 1
        return {}

    def restore_credentials(self) -> dict[str, str]:
        return {"secret": sandbox_tokens(self.google, self.email).to_json()}
