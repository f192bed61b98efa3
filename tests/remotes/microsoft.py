"""Office 365 and Outlook.com from outside: the Microsoft sandbox's controls
(``graph.state``) stand for the coach using Outlook, and its fault injector
for Graph's documented error answers (429 ``ApplicationThrottled`` with
``Retry-After``, 503 ``serviceNotAvailable``, slow and dropped answers).

One ``MicrosoftRemote`` is one fresh account of a preset: a work or school
account signing in through ``organizations`` (Office 365), or a personal one
through ``consumers`` (Outlook.com). Both speak the same Graph API, so the
quirks differ only in what the coach is told.

Graph's provider waits out a throttled or failed read by itself and asks
again (Graph's throttling guidance: honour ``Retry-After``, then retry), up
to ``ATTEMPTS`` times, and hands back at once a wait longer than
``MAX_WAIT``. A fault the suites inject therefore lasts for every attempt
the provider makes, as a lasting outage would, so that it reaches the
caller; the waits it asks for between attempts are not slept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from coach_app.calendars import registry
from coach_app.calendars.base import CalendarProvider
from coach_app.calendars.microsoft import (
    OFFICE365,
    OUTLOOK,
    MicrosoftGraphProvider,
    Preset,
    oauth_config,
)
from coach_app.calendars.microsoft.convert import KEY_PROPERTY_ID
from coach_app.calendars.oauth import AccessTokenSource, OAuthTokens, TokenSource
from coach_app.calendars.spec import Credentials
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
from sandbox.microsoft import MicrosoftSandbox

# The provider's attempts per request and the longest Retry-After it waits
# out itself, as the app builds it.
_DEFAULTS = inspect.signature(MicrosoftGraphProvider).parameters
ATTEMPTS: int = _DEFAULTS["attempts"].default
MAX_WAIT: float = _DEFAULTS["max_wait"].default


def _quirks(preset: Preset) -> Quirks:
    return Quirks(
        key=preset.key,
        # calendarView/delta with the deltaLink: one page, one request.
        incremental_pull_requests=("GET .*/calendarView/delta",),
        # Every round ends with a new deltaLink (a new $deltatoken).
        quiet_pull_keeps_cursor=False,
        # The app sends no iCalUId: Graph makes one for every event.
        app_event_uid="{uid}",
        auth_error_detail="invalid_grant",
        reconnect_message=preset.reconnect_message,
        reconnect_subject=f"Please reconnect your {preset.label} calendar ({{account}})",
        # Events are structured JSON: nothing unreadable can be stored.
        refuses_unreadable_entries=True,
        server_assigns_ids=True,
        expands_series=True,
    )


OFFICE365_QUIRKS = _quirks(OFFICE365)
OUTLOOK_QUIRKS = _quirks(OUTLOOK)
QUIRKS = {OFFICE365.key: OFFICE365_QUIRKS, OUTLOOK.key: OUTLOOK_QUIRKS}
_CATEGORY = "Blue category"  # what ``touch`` sets: neither time nor title
_DAYS = {
    "MO": "monday",
    "TU": "tuesday",
    "WE": "wednesday",
    "TH": "thursday",
    "FR": "friday",
    "SA": "saturday",
    "SU": "sunday",
}
_UTC = dt.UTC


def graph_recurrence(
    start: dt.datetime, rules: list[str]
) -> tuple[dict[str, Any], list[dt.datetime]]:
    """RRULE/EXDATE lines as Graph writes them: a ``patternedRecurrence``,
    and the excluded starts (Graph has no EXDATE: those occurrences are
    deleted from the series once it exists)."""
    parts: dict[str, str] = {}
    excluded: list[dt.datetime] = []
    for line in rules:
        head, _, value = line.partition(":")
        name, *params = head.split(";")
        if name == "RRULE":
            parts = dict(p.split("=", 1) for p in value.split(";"))
        elif name == "EXDATE":
            zone = next((p[5:] for p in params if p.startswith("TZID=")), "UTC")
            for stamp in value.split(","):
                moment = dt.datetime.strptime(stamp.rstrip("Z"), "%Y%m%dT%H%M%S")
                excluded.append(moment.replace(tzinfo=ZoneInfo(zone)))
        else:
            raise NotImplementedError(line)
    local = start.astimezone(ZoneInfo(getattr(start.tzinfo, "key", "UTC")))
    pattern: dict[str, Any] = {"interval": int(parts.get("INTERVAL", "1"))}
    if parts["FREQ"] == "DAILY":
        pattern["type"] = "daily"
    elif parts["FREQ"] == "WEEKLY":
        days = parts.get("BYDAY", local.strftime("%a")[:2].upper()).split(",")
        pattern.update(
            type="weekly",
            daysOfWeek=[_DAYS[d] for d in days],
            firstDayOfWeek=_DAYS[parts.get("WKST", "MO")],
        )
    else:
        raise NotImplementedError(parts["FREQ"])
    range_: dict[str, Any] = {"type": "noEnd", "startDate": local.date().isoformat()}
    if "COUNT" in parts:
        range_.update(type="numbered", numberOfOccurrences=int(parts["COUNT"]))
    elif "UNTIL" in parts:
        until = dt.datetime.strptime(parts["UNTIL"][:8], "%Y%m%d").date()
        range_.update(type="endDate", endDate=until.isoformat())
    return {"pattern": pattern, "range": range_}, excluded


def _moment(value: dict[str, Any]) -> dt.datetime:
    """A ``dateTimeTimeZone`` the controls render (in UTC) as an instant."""
    assert value["timeZone"] == "UTC", value
    return dt.datetime.fromisoformat(value["dateTime"][:19]).replace(tzinfo=_UTC)


def _key(event: dict[str, Any]) -> str | None:
    """The app's key if the event carries it, and only it."""
    props = event.get("singleValueExtendedProperties") or []
    if len(props) == 1 and props[0]["id"].lower() == KEY_PROPERTY_ID.lower():
        return str(props[0]["value"])
    return None


class MicrosoftRemote(Remote):
    """A fresh account of ``preset``; ``seeded``: Work (with a colour),
    family, and a calendar shared read-only by someone else. ``clock`` is the
    provider's "now" (it places the sync window)."""

    def __init__(
        self,
        graph: MicrosoftSandbox,
        preset: Preset,
        *,
        clock: Callable[[], dt.datetime],
        seeded: bool = False,
        timezone: str = "UTC",
    ) -> None:
        super().__init__(QUIRKS[preset.key])
        self.graph = graph
        self.state = graph.state
        self.preset = preset
        self.clock = clock
        self.zone = ZoneInfo(timezone)  # the mailbox's: Outlook writes events in it
        kind = "work" if preset is OFFICE365 else "personal"
        self.email = self.state.add_account(
            f"kim-{uuid.uuid4().hex[:10]}@{preset.key}.example",
            "Kim Coach",
            kind=kind,
            time_zone=timezone,
        )
        self.seeded: dict[str, str] = {}
        if seeded:
            state = self.state
            self.seeded["Work"] = state.add_calendar(
                self.email, "Work", hex_color="#4986e7"
            )
            self.seeded["family"] = state.add_calendar(self.email, "family")
            self.seeded["Team rota"] = state.add_calendar(
                self.email,
                "Team rota",
                can_edit=False,
                owner=("Boss", "boss@contoso.example"),
            )

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
        return Added(str(made["id"]), made["@odata.etag"], made["iCalUId"])

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
        start = start.astimezone(self.zone)
        event: dict[str, Any] = {
            "subject": summary,
            "start": start,
            "end": start + dt.timedelta(minutes=minutes),
        }
        if transparent:
            event["showAs"] = "free"
        if declined_by:
            # A meeting someone else organised, declined in the coach's mailbox.
            event.update(
                isOrganizer=False,
                responseStatus={"response": "declined"},
                organizer={"emailAddress": {"address": "boss@example.com"}},
                attendees=[
                    {
                        "emailAddress": {"address": declined_by},
                        "status": {"response": "declined"},
                    }
                ],
            )
        return self._added(cal, event)

    def add_all_day(self, cal: str, summary: str, first: dt.date, days: int) -> Added:
        """Midnight to midnight in the mailbox's zone, as Outlook writes it."""

        def midnight(day: dt.date) -> dict[str, str]:
            return {
                "dateTime": f"{day.isoformat()}T00:00:00",
                "timeZone": self.zone.key,
            }

        end = first + dt.timedelta(days=days)
        event = {"subject": summary, "isAllDay": True}
        return self._added(
            cal, {**event, "start": midnight(first), "end": midnight(end)}
        )

    def add_series(
        self, cal: str, summary: str, start: dt.datetime, minutes: int, rules: list[str]
    ) -> Added:
        recurrence, excluded = graph_recurrence(start, rules)
        added = self._added(
            cal,
            {
                "subject": summary,
                "start": start,
                "end": start + dt.timedelta(minutes=minutes),
                "recurrence": recurrence,
            },
        )
        for original in excluded:
            self.state.cancel_occurrence(added.id, original)
        return added

    def move_instance(
        self,
        cal: str,
        series_id: str,
        original: dt.datetime,
        start: dt.datetime,
        end: dt.datetime,
        summary: str | None = None,
    ) -> None:
        changes: dict[str, Any] = {"start": start, "end": end}
        if summary:
            changes["subject"] = summary
        moved = self.state.update_occurrence(series_id, original, changes)
        assert (moved["type"], moved["seriesMasterId"]) == ("exception", series_id)

    def cancel_instance(self, cal: str, series_id: str, original: dt.datetime) -> None:
        self.state.cancel_occurrence(series_id, original)

    def edit(self, cal: str, id: str, summary: str) -> str | None:
        return self.state.update_event(id, {"subject": summary})["@odata.etag"]

    def move(self, cal: str, id: str, start: dt.datetime, end: dt.datetime) -> None:
        self.state.move_event(id, start, end)

    def touch(self, cal: str, id: str) -> str | None:
        return self.state.update_event(id, {"categories": [_CATEGORY]})["@odata.etag"]

    def touched(self, cal: str, id: str) -> bool:
        event = self.state.get_event(id)
        return event is not None and event["categories"] == [_CATEGORY]

    def delete(self, cal: str, id: str) -> None:
        self.state.delete_event(id)

    def ids(self, cal: str) -> list[str]:
        return sorted(str(e["id"]) for e in self.state.events(cal))

    def stored(self, cal: str, id: str) -> Stored:
        event = self.state.get_event(id)
        assert event is not None, id
        return Stored(
            id=str(event["id"]),
            etag=event["@odata.etag"],
            key=_key(event),
            summary=event["subject"],
            start=_moment(event["start"]),
            end=_moment(event["end"]),
            description=event["body"]["content"],
            uid=event["iCalUId"],
        )

    def add_foreign_at(self, cal: str, key: str) -> None:
        start = dt.datetime(2025, 3, 4, 15, tzinfo=_UTC)
        self.state.add_event(
            cal,
            {
                "subject": "Not ours",
                "start": start,
                "end": start + dt.timedelta(hours=1),
            },
        )

    def id_for_key(self, cal: str, key: str) -> str:
        """Graph chooses the id: the event of ``cal`` carrying the key."""
        [found] = [e["id"] for e in self.state.events(cal) if _key(e) == key]
        return str(found)

    def instance_of(self, cal: str, id: str) -> tuple[str, dt.datetime] | None:
        event = self.state.get_event(id)
        assert event is not None, id
        if event["type"] not in ("occurrence", "exception"):
            return None
        original = dt.datetime.fromisoformat(event["originalStart"])
        return str(event["seriesMasterId"]), original.astimezone(_UTC)

    # -- cursors and faults ------------------------------------------------
    def stale_cursor(self, cal: str, cursor: str) -> str:
        self.state.evict_delta_tokens(cal)  # 410 SyncStateNotFound from now on
        return cursor

    def fail_next(self, kind: str, *, retry_after: float | None = None) -> None:
        handed_back = kind == RATE_LIMIT and (retry_after or 0) > MAX_WAIT
        count = 1 if handed_back else ATTEMPTS
        inject = self.state.inject_fault
        if kind == RATE_LIMIT:
            inject("rate_limit", count, retry_after=retry_after)
        elif kind == SERVER_ERROR:
            inject("server_error", count, status=503)  # no Retry-After
        elif kind == TIMEOUT:
            inject("slow", count, delay=1.0)  # beyond the contract's 0.3 s deadline
        else:
            assert kind == DROP, kind
            inject("drop", count)

    # -- reaching the account ----------------------------------------------
    def expectations(self) -> AccountExpectations:
        with self.state.lock:
            object_id = self.state.store.mailboxes[self.email].object_id
        default = self.state.mailboxes_default(self.email)
        return AccountExpectations(
            account={
                "provider": self.preset.key,
                "principal_url": object_id,
                "home_url": self.graph.graph_base,
                "display_name": "Kim Coach",
                "server": self.preset.key,
                "login": self.email,
            },
            # The default calendar first, then as /me/calendars lists them;
            # write access from canEdit, the colour from hexColor.
            calendars=[
                ("Calendar", default, True, None),
                ("Work", self.seeded["Work"], True, "#4986e7"),
                ("family", self.seeded["family"], True, None),
                ("Team rota", self.seeded["Team rota"], False, None),
            ],
        )

    def tokens(self) -> OAuthTokens:
        issued = self.state.issue_tokens(self.email, tenant=self.preset.tenant)
        return OAuthTokens.from_response(
            {
                "access_token": issued.access_token,
                "refresh_token": issued.refresh_token,
                "expires_in": issued.expires_in,
            }
        )

    @staticmethod
    async def _no_wait(seconds: float) -> None:
        await asyncio.sleep(0)

    def _provider(
        self,
        tokens: AccessTokenSource,
        *,
        on_request: RequestHook | None = None,
        timeout: float = 30.0,
    ) -> MicrosoftGraphProvider:
        return MicrosoftGraphProvider(
            tokens,
            preset=self.preset,
            graph_base=self.graph.graph_base,
            clock=self.clock,
            sleep=self._no_wait,
            timeout=timeout,
            on_request=on_request,
        )

    def connect(
        self, *, on_request: RequestHook | None = None, timeout: float = 30.0
    ) -> CalendarProvider:
        source = TokenSource(oauth_config(self.preset, self.graph.env()), self.tokens())
        return self._provider(source, on_request=on_request, timeout=timeout)

    def connect_rejected(self) -> CalendarProvider:
        tokens = self.tokens()
        # Access removed in the account's settings: the refresh gets invalid_grant.
        assert self.state.revoke(tokens.refresh_token) == 1
        self.state.expire_access_tokens(self.email)
        source = TokenSource(oauth_config(self.preset, self.graph.env()), tokens)
        return self._provider(source)

    def connection(self) -> ConnectionFields:
        return ConnectionFields(
            provider=self.preset.key,
            account_label=self.email,
            server_url="",
            username=self.email,
            secret=self.tokens().to_json(),
        )

    def serve_engine(self) -> None:
        """The engine's providers built as the spec does (its token source
        from the stored grant), at the remote's clock and without real waits."""
        spec = registry.spec_for(self.preset.key)

        def build(
            credentials: Credentials, tokens: AccessTokenSource | None
        ) -> CalendarProvider:
            assert tokens is not None
            return self._provider(tokens)

        registry.register(replace(spec, build=build))

    def revoke_credentials(self) -> dict[str, str]:
        assert self.state.revoke(email=self.email) >= 1
        return {}

    def restore_credentials(self) -> dict[str, str]:
        return {"secret": self.tokens().to_json()}
