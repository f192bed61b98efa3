"""Settings → Integrations: the connected calendars and what the coach does
with them (switches, calendars, Sync now, Disconnect).

Every handler re-checks the log-in and calls one service; errors are shown
on the card of the connection they concern, beside the button that caused
them. Disconnect asks first, and offers to remove the appointments already
pushed to that calendar.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from zoneinfo import ZoneInfo

import reflex as rx
from pydantic import BaseModel

from coach_app.calendars.registry import service_label
from coach_app.db import session_scope
from coach_app.models import Coach
from coach_app.services import connections
from coach_app.services import notices as notice_service
from coach_app.services.errors import UserError
from coach_app.state import AuthState

log = logging.getLogger(__name__)

FOLLOW_EVERY = 1.0  # seconds between looks at a running first sync
FOLLOW_ROUNDS = 900  # a quarter of an hour at most


class SubView(BaseModel):
    id: int
    name: str
    pull: bool
    push: bool


class ConnectionView(BaseModel):
    id: int
    service: str
    account: str
    status: str
    last_sync: str
    next_sync: str
    last_error: str
    progress: str  # while the first sync runs
    action_error: str  # the failure of the coach's last action on this card
    check_conflicts: bool
    push_enabled: bool
    pull_enabled: bool
    cancellation_notification: bool
    pull_names: str
    push_name: str
    subs: list[SubView]


class NoticeView(BaseModel):
    id: int
    message: str


def _when(value: dt.datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return "not yet"
    return f"{value.astimezone(zone):%d %b %Y %H:%M}"


class IntegrationsState(AuthState):
    connections_list: list[ConnectionView] = []
    notices: list[NoticeView] = []
    success: str = ""
    editing_id: int = 0
    syncing_id: int = 0
    syncs_finished: int = 0  # lets a page (and a test) see that a Sync now ended
    disconnecting_id: int = 0  # the card asking "Disconnect?"
    remove_pushed: bool = False
    _card_errors: dict[int, str] = {}
    _following: bool = False  # follow_first_sync is running for this tab

    def _reload(self, coach_id: int) -> None:
        with session_scope() as s:
            coach = s.get(Coach, coach_id)
            zone = ZoneInfo(coach.timezone if coach else "UTC")
            views = []
            for row, subs in connections.list_connections(s, coach_id):
                assert row.id is not None
                views.append(
                    ConnectionView(
                        id=row.id,
                        service=service_label(row.provider),
                        account=row.account_label,
                        status=row.status,
                        last_sync=_when(row.last_sync_at, zone),
                        next_sync=_when(row.next_sync_at, zone),
                        last_error=row.last_error,
                        progress=connections.first_sync_progress(s, row),
                        action_error=self._card_errors.get(row.id, ""),
                        check_conflicts=row.check_conflicts,
                        push_enabled=row.push_enabled,
                        pull_enabled=row.pull_enabled,
                        cancellation_notification=row.cancellation_notification,
                        pull_names=", ".join(x.name for x in subs if x.pull) or "none",
                        push_name=next((x.name for x in subs if x.push), "none"),
                        subs=[
                            SubView(id=x.id, name=x.name, pull=x.pull, push=x.push)  # type: ignore[arg-type]
                            for x in subs
                        ],
                    )
                )
            self.connections_list = views
            self.notices = [
                NoticeView(id=n.id, message=n.message)  # type: ignore[arg-type]
                for n in notice_service.unread(s, coach_id)
            ]

    def _card_error(self, connection_id: int, message: str) -> None:
        errors = dict(self._card_errors)
        if message:
            errors[connection_id] = message
        else:
            errors.pop(connection_id, None)
        self._card_errors = errors

    @rx.event
    def load(self):
        coach_id = self._coach_id()
        if coach_id is not None:
            self._card_errors = {}
            self._reload(coach_id)
            if self._first_sync_running():
                return IntegrationsState.follow_first_sync

    def _first_sync_running(self) -> bool:
        return any(c.progress for c in self.connections_list)

    @rx.event(background=True)
    async def follow_first_sync(self):
        """Show a first sync's progress until it is done (or a while passed)."""
        async with self:
            if self._following:
                return
            self._following = True
        try:
            for _ in range(FOLLOW_ROUNDS):
                await asyncio.sleep(FOLLOW_EVERY)
                async with self:
                    coach_id = self._coach_id()
                    if coach_id is None:
                        return
                    self._reload(coach_id)
                    if not self._first_sync_running():
                        return
        finally:
            async with self:
                self._following = False

    @rx.event
    def set_switch(self, connection_id: int, switch: str, value: bool):
        connection_id = int(connection_id)
        try:
            coach_id = self._require_coach_id()
            with session_scope() as s:
                connections.set_switch(s, coach_id, connection_id, switch, bool(value))
        except UserError as exc:
            self._card_error(connection_id, str(exc))
        else:
            self._card_error(connection_id, "")
        coach_id = self._coach_id()
        if coach_id is not None:
            self._reload(coach_id)

    @rx.event(background=True)
    async def sync_now(self, connection_id: int):
        connection_id = int(connection_id)
        async with self:
            coach_id = self._coach_id()
            if coach_id is None:
                return
            self.syncing_id = connection_id
            self.success = ""
            self._card_error(connection_id, "")
        try:
            await connections.sync_now(coach_id, connection_id)
        except UserError as exc:
            async with self:
                self._card_error(connection_id, str(exc))
        finally:
            async with self:
                self.syncing_id = 0
                self.syncs_finished += 1
                self._reload(coach_id)

    @rx.event
    def start_edit(self, connection_id: int):
        self.editing_id = int(connection_id)

    @rx.event
    def cancel_edit(self):
        self.editing_id = 0

    @rx.event
    def save_edit(self, form: dict):
        connection_id = self.editing_id
        try:
            coach_id = self._require_coach_id()
            pull = [
                int(k.split("-")[1])
                for k, v in form.items()
                if k.startswith("pull-") and v
            ]
            push = int(form.get("push") or 0)
            with session_scope() as s:
                connections.edit_calendars(s, coach_id, connection_id, pull, push)
        except (UserError, ValueError) as exc:
            self._card_error(connection_id, str(exc))
            self._reload_if_logged_in()
            return
        self._card_error(connection_id, "")
        self.editing_id = 0
        self.success = "Calendars saved."
        self._reload(coach_id)

    @rx.event
    def ask_disconnect(self, connection_id: int):
        self.disconnecting_id = int(connection_id)
        self.remove_pushed = False

    @rx.event
    def set_remove_pushed(self, value: bool):
        self.remove_pushed = bool(value)

    @rx.event
    def cancel_disconnect(self):
        self.disconnecting_id = 0

    @rx.event(background=True)
    async def disconnect(self):
        async with self:
            coach_id = self._coach_id()
            connection_id, remove = self.disconnecting_id, self.remove_pushed
            if coach_id is None or not connection_id:
                return
        try:
            released = await connections.disconnect(
                coach_id, connection_id, remove_pushed=remove
            )
        except UserError as exc:
            async with self:
                self._card_error(connection_id, str(exc))
                self.disconnecting_id = 0
                self._reload(coach_id)
            return
        async with self:
            self.disconnecting_id = 0
            self.success = "Calendar disconnected." + (
                f" {released.not_removed} pushed appointment(s) could not be "
                "removed from it; please delete them there."
                if released.not_removed
                else ""
            )
            self._reload(coach_id)

    @rx.event
    def dismiss_notice(self, notice_id: int):
        coach_id = self._coach_id()
        if coach_id is None:
            return
        with session_scope() as s:
            notice_service.dismiss(s, coach_id, int(notice_id))
        self._reload(coach_id)

    def _reload_if_logged_in(self) -> None:
        coach_id = self._coach_id()
        if coach_id is not None:
            self._reload(coach_id)
