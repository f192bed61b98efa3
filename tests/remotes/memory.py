"""The in-memory provider's server from outside: its state is changed
directly, as another client of the service would change it."""

from __future__ import annotations

import datetime as dt
import itertools

from memory_provider import (
    KEY,
    RECONNECT,
    MemoryProvider,
    MemoryServer,
)

from coach_app.calendars.base import CalendarProvider
from coach_app.calendars.spec import Credentials
from remotes import (
    AccountExpectations,
    Added,
    ConnectionFields,
    Quirks,
    RequestHook,
    Stored,
)
from remotes import ical_text as ics
from remotes.ical_remote import ICalendarRemote

MEMORY = Quirks(
    key=KEY,
    incremental_pull_requests=("GET .*/events",),
    quiet_pull_keeps_cursor=True,  # the cursor is the calendar's revision
    auth_error_detail="401",
    reconnect_message=RECONNECT,
    reconnect_subject="Please reconnect your in-memory calendar ({account})",
)
_uids = itertools.count(1)


class MemoryRemote(ICalendarRemote):
    """A fresh server; ``seeded``: Family and Work, and a read-only list."""

    def __init__(self, *, seeded: bool = False) -> None:
        super().__init__(MEMORY)
        self.server = MemoryServer()
        if seeded:
            self.server.new_calendar("work", "Work", color="#FF0000FF")
            self.server.new_calendar("family", "Family")
            self.server.new_calendar("holidays", "Holidays", can_write=False)

    def new_calendar(self, name: str) -> str:
        cal = self.server.new_calendar(f"{name.lower()}-{next(_uids)}", name)
        self.created.append(cal)
        return cal

    def drop_calendar(self, cal: str) -> None:
        self.server.calendars.pop(cal, None)

    def close(self) -> None:
        super().close()
        self.server.forget()

    # -- changes from outside ---------------------------------------------
    def _put(self, cal: str, uid: str, text: str) -> Added:
        return Added(uid, self.server.put(cal, uid, text), uid)

    def _uid(self, prefix: str) -> str:
        return f"{prefix}-{next(_uids)}"

    def _text(self, cal: str, id: str) -> str:
        return self.server.calendar(cal).events[id].raw

    def _write(self, cal: str, id: str, text: str) -> str | None:
        return self.server.put(cal, id, text)

    def delete(self, cal: str, id: str) -> None:
        self.server.remove(cal, id)

    def ids(self, cal: str) -> list[str]:
        return sorted(self.server.calendar(cal).events)

    def stored(self, cal: str, id: str) -> Stored:
        event = self.server.calendar(cal).events[id]
        return ics.stored(id, event.etag, event.raw)

    def add_foreign_at(self, cal: str, key: str) -> None:
        start = dt.datetime(2025, 1, 2, 10, tzinfo=dt.UTC)
        self.server.put(cal, key, ics.event("someone-else", "Not ours", start))

    def id_for_key(self, cal: str, key: str) -> str:
        return key

    # -- cursors and faults ------------------------------------------------
    def stale_cursor(self, cal: str, cursor: str) -> str:
        self.server.invalidate_cursors(cal)
        return cursor

    def fail_next(self, kind: str, *, retry_after: float | None = None) -> None:
        self.server.fail(kind, retry_after=retry_after)

    # -- reaching the account ----------------------------------------------
    def expectations(self) -> AccountExpectations:
        server = self.server
        return AccountExpectations(
            account={
                "provider": KEY,
                "principal_url": server.base_url + server.username,
                "home_url": server.base_url,
                "server": KEY,
            },
            calendars=[
                ("Family", f"{server.name}/family", True, None),
                ("Holidays", f"{server.name}/holidays", False, None),
                ("Work", f"{server.name}/work", True, "#FF0000FF"),
            ],
        )

    def _credentials(self, password: str | None = None) -> Credentials:
        return Credentials(
            server_url=self.server.base_url,
            username=self.server.username,
            secret=self.server.password if password is None else password,
        )

    def connect(
        self, *, on_request: RequestHook | None = None, timeout: float = 30.0
    ) -> CalendarProvider:
        return MemoryProvider(self._credentials(), on_request=on_request)

    def connect_rejected(self) -> CalendarProvider:
        return MemoryProvider(self._credentials("not-the-password"))

    def connection(self) -> ConnectionFields:
        return ConnectionFields(
            provider=KEY,
            account_label=self.server.username,
            server_url=self.server.base_url,
            username=self.server.username,
            secret=self.server.password,
        )

    def revoke_credentials(self) -> dict[str, str]:
        self.server.password = "changed-on-the-server"  # the old one is revoked
        return {}

    def restore_credentials(self) -> dict[str, str]:
        return {"secret": self.server.password}
