"""Settings → Integrations: connected calendars, their switches, the wizard.

Wizard steps: provider → credentials (+ terms) → sub-calendars (pull any
number, push exactly one) → Connect → success. The password travels once from
the form into a backend-only variable and is never sent back to the browser.

Google has no password step: "Continue with Google" keeps the sign-in's
one-time ``state`` and PKCE ``code_verifier`` in ``_google_sign_ins``
(backend-only, keyed by ``state``, one use, ten minutes) and sends the browser
to Google's consent page. Google sends it back to ``/oauth/google/callback``
(``pages/oauth_google.py``), whose State takes that entry out again, trades
the code for tokens in a background event and hands the calendars to this
State (``_show_google_calendars``): the wizard then continues here at
"choose calendars", in this browser's own backend state; the tokens stay in
``_probe`` (backend-only) until Connect encrypts them into the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from zoneinfo import ZoneInfo

import reflex as rx
from pydantic import BaseModel

from coach_app.components.forms import error_callout, success_callout
from coach_app.db import session_scope
from coach_app.models import Coach
from coach_app.services import connections
from coach_app.services.errors import UserError
from coach_app.state import AuthState
from coach_app.sync import stop_channels
from coach_app.sync.engine import sync_connection
from coach_app.sync.pull import on_pull_switch
from coach_app.sync.push import on_push_switch, push_existing_appointments
from coach_app.sync.scheduler import request_sync

log = logging.getLogger(__name__)
_PRESETS = connections.CALDAV_PRESETS


class ProviderOption(BaseModel):
    key: str
    label: str
    available: bool


class CalendarOption(BaseModel):
    id: str
    name: str
    can_write: bool


class SubView(BaseModel):
    id: int
    name: str
    pull: bool
    push: bool


class ConnectionView(BaseModel):
    id: int
    provider: str
    account: str
    status: str
    last_sync: str
    next_sync: str
    last_error: str
    check_conflicts: bool
    push_enabled: bool
    pull_enabled: bool
    cancellation_notification: bool
    pull_names: str
    push_name: str
    subs: list[SubView]


def _when(value: dt.datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return "not yet"
    return f"{value.astimezone(zone):%d %b %Y %H:%M}"


_LABELS = {c.key: c.label for c in connections.PROVIDER_CHOICES}
_MAX_GOOGLE_SIGN_INS = 5  # started sign-ins kept per browser tab


async def _sync_when_free(connection_id: int, patience: float = 120.0) -> None:
    """Sync now, or — if a background sync holds the lease — right after it,
    so the coach's click always ends with a sync that started after it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    delay = 0.05
    while not (await sync_connection(connection_id)).ran and loop.time() < deadline:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


class IntegrationsState(AuthState):
    connections_list: list[ConnectionView] = []
    notices: list[str] = []
    step: str = ""  # "" | provider | credentials | calendars | done
    kind: str = ""
    username: str = ""
    server_url: str = ""
    agreed: bool = False
    checking: bool = False
    found_calendars: list[CalendarOption] = []
    pull_ids: list[str] = []
    push_id: str = ""
    error: str = ""
    success: str = ""
    editing_id: int = 0
    syncing_id: int = 0
    syncs_finished: int = 0  # lets a page (and a test) see that a Sync now ended
    google_account: str = ""  # the Google email being connected (not a secret)
    redirecting: bool = False
    _password: str = ""
    _probe: connections.Probe | None = None
    _probe_coach_id: int = 0
    _google_sign_ins: dict[str, connections.GoogleSignIn] = {}

    def _reload(self, coach_id: int) -> None:
        with session_scope() as s:
            coach = s.get(Coach, coach_id)
            zone = ZoneInfo(coach.timezone if coach else "UTC")
            views = []
            for row, subs in connections.list_connections(s, coach_id):
                views.append(
                    ConnectionView(
                        id=row.id,
                        provider=_LABELS.get(row.provider, row.provider),
                        account=row.account_label,
                        status=row.status,
                        last_sync=_when(row.last_sync_at, zone),
                        next_sync=_when(row.next_sync_at, zone),
                        last_error=row.last_error,
                        check_conflicts=row.check_conflicts,
                        push_enabled=row.push_enabled,
                        pull_enabled=row.pull_enabled,
                        cancellation_notification=row.cancellation_notification,
                        pull_names=", ".join(x.name for x in subs if x.pull) or "none",
                        push_name=next((x.name for x in subs if x.push), "none"),
                        subs=[
                            SubView(id=x.id, name=x.name, pull=x.pull, push=x.push)
                            for x in subs
                        ],
                    )
                )
            self.connections_list = views
            self.notices = [n.message for n in connections.notices(s, coach_id)]

    @rx.event
    def load(self):
        self.redirecting = False  # back from Google's page (e.g. with Back)
        coach_id = self._coach_id()
        if coach_id is not None:
            self._reload(coach_id)

    @rx.var
    def providers(self) -> list[ProviderOption]:
        return [
            ProviderOption(key=c.key, label=c.label, available=c.available)
            for c in connections.provider_choices()
        ]

    @rx.var
    def preset_help(self) -> list[str]:
        preset = _PRESETS.get(self.kind)
        return list(preset.password_help) if preset else []

    @rx.var
    def username_label(self) -> str:
        preset = _PRESETS.get(self.kind)
        return preset.username_label if preset else "Username"

    @rx.var
    def password_label(self) -> str:
        preset = _PRESETS.get(self.kind)
        return preset.password_label if preset else "Password"

    @rx.event
    def start_wizard(self):
        if self._coach_id() is None:
            return rx.redirect("/login")
        self._reset_wizard()
        self.step = "provider"

    def _reset_wizard(self) -> None:
        self.step = self.kind = self.username = self.server_url = self.push_id = ""
        self.error = self.success = self.google_account = ""
        self.agreed = self.checking = self.redirecting = False
        self.found_calendars = []
        self.pull_ids = []
        self._password = ""
        self._probe = None
        self._probe_coach_id = 0

    @rx.event
    def close_wizard(self):
        self._reset_wizard()

    @rx.event
    def choose_provider(self, kind: str):
        available = {c.key for c in connections.provider_choices() if c.available}
        if kind not in available:
            self.error = "That calendar service is coming soon."
            return
        self.kind = kind
        self.error = ""
        self.step = "credentials"

    # -- Google: consent in Google's page, back through /oauth/google/callback --

    @rx.event
    async def continue_with_google(self):
        coach_id = self._coach_id()
        if coach_id is None:
            return rx.redirect("/login")
        if not self.agreed:
            self.error = "Please agree to the Terms of Service and Privacy Policy."
            return
        try:
            url, sign_in = await connections.begin_google(
                coach_id, self.router.url.origin
            )
        except UserError as exc:
            self.error = str(exc)
            return
        now = time.time()
        kept = {k: v for k, v in self._google_sign_ins.items() if not v.expired(now)}
        kept[sign_in.state] = sign_in
        # The newest few only: a tab cannot pile up sign-ins.
        self._google_sign_ins = dict(list(kept.items())[-_MAX_GOOGLE_SIGN_INS:])
        self.error = ""
        self.redirecting = True
        return rx.redirect(url)

    def _take_google_sign_in(
        self, state: str, coach_id: int
    ) -> connections.GoogleSignIn | None:
        """The sign-in this browser started with ``state``, removed (one use).

        None for an unknown (forged), used (replayed) or expired ``state``, or
        one another coach started in this browser.
        """
        if not state:
            return None
        sign_ins = dict(self._google_sign_ins)
        sign_in = sign_ins.pop(state, None)
        self._google_sign_ins = sign_ins
        if sign_in is None or sign_in.expired() or sign_in.coach_id != coach_id:
            return None
        return sign_in

    def _show_google_calendars(
        self, coach_id: int, found: connections.GoogleProbe
    ) -> None:
        """Continue the wizard at "choose calendars" with a consented account."""
        self._reset_wizard()
        self.kind = connections.GOOGLE
        self.agreed = True  # a sign-in starts only after agreeing
        self.google_account = found.email
        self._probe = found
        self._probe_coach_id = coach_id
        self.found_calendars = [
            CalendarOption(id=c.id, name=c.name or c.id, can_write=c.can_write)
            for c in found.calendars
        ]
        writable = [c.id for c in found.calendars if c.can_write]
        self.push_id = writable[0] if len(writable) == 1 else ""
        self.step = "calendars"

    @rx.event
    def set_agreed(self, value: bool):
        self.agreed = bool(value)

    @rx.event
    def submit_credentials(self, form: dict):
        if self._coach_id() is None:
            return rx.redirect("/login")
        self.username = str(form.get("username", "")).strip()
        self.server_url = str(form.get("server_url", "")).strip()
        self._password = str(form.get("password", ""))
        if not self.agreed:
            self.error = "Please agree to the Terms of Service and Privacy Policy."
            return
        self.error = ""
        self.checking = True
        return IntegrationsState.run_probe

    @rx.event(background=True)
    async def run_probe(self):
        async with self:
            kind, url, user, password = (
                self.kind,
                self.server_url,
                self.username,
                self._password,
            )
        try:
            found = await connections.probe(kind, url, user, password)
        except UserError as exc:
            async with self:
                self.error = str(exc)
                self.checking = False
            return
        async with self:
            self._probe = found
            self.found_calendars = [
                CalendarOption(id=c.id, name=c.name or c.id, can_write=c.can_write)
                for c in found.calendars
            ]
            self.pull_ids = []
            writable = [c.id for c in found.calendars if c.can_write]
            self.push_id = writable[0] if len(writable) == 1 else ""
            self.checking = False
            self.step = "calendars"

    @rx.event
    def toggle_pull(self, calendar_id: str, value: bool):
        ids = [i for i in self.pull_ids if i != calendar_id]
        self.pull_ids = [*ids, calendar_id] if value else ids

    @rx.event
    def choose_push(self, calendar_id: str):
        self.push_id = calendar_id

    @rx.event
    def connect(self):
        try:
            coach_id = self._require_coach_id()
            if self._probe is None:
                raise UserError("Please start again: the account details were lost.")
            with session_scope() as s:
                if isinstance(self._probe, connections.GoogleProbe):
                    if self._probe_coach_id != coach_id:
                        raise UserError(
                            "Please start again: the account details were lost."
                        )
                    row = connections.save_google(
                        s,
                        coach_id,
                        self._probe,
                        list(self.pull_ids),
                        self.push_id,
                        self.agreed,
                    )
                else:
                    row = connections.save(
                        s,
                        coach_id,
                        self.kind,
                        self._probe,
                        self.username,
                        self._password,
                        list(self.pull_ids),
                        self.push_id,
                        self.agreed,
                    )
                label = _LABELS.get(row.provider, row.provider)
                connection_id = row.id
                # Appointments booked before connecting go to the push calendar too.
                push_existing_appointments(s, row.id)
        except UserError as exc:
            self.error = str(exc)
            return
        self._reset_wizard()
        self.step = "done"
        self.success = f"Success! Your {label} calendar is now connected."
        request_sync(connection_id)
        self._reload(coach_id)

    @rx.event
    def set_switch(self, connection_id: int, switch: str, value: bool):
        try:
            coach_id = self._require_coach_id()
            with session_scope() as s:
                connections.set_switch(
                    s, coach_id, int(connection_id), switch, bool(value)
                )
                if switch == "pull_enabled":
                    on_pull_switch(s, int(connection_id), bool(value))
                elif switch == "push_enabled":
                    on_push_switch(s, int(connection_id), bool(value))
        except UserError as exc:
            self.error = str(exc)
            return
        self._reload(coach_id)

    @rx.event(background=True)
    async def disconnect(self, connection_id: int):
        connection_id = int(connection_id)
        async with self:
            coach_id = self._coach_id()
            if coach_id is None:
                return
            try:
                with session_scope() as s:
                    row = connections.owned(s, coach_id, connection_id)
                    provider, secret = row.provider, row.secret_encrypted
            except UserError as exc:
                self.error = str(exc)
                return
        # Stop push channels and revoke the grant while the tokens still work;
        # both are best effort: the account is forgotten here either way.
        try:
            await stop_channels(connection_id)
        except Exception as exc:
            log.warning("stopping channels of %s failed: %s", connection_id, exc)
        if provider == "google":
            await connections.revoke_google(secret)
        async with self:
            try:
                with session_scope() as s:
                    connections.disconnect(s, coach_id, connection_id)
            except UserError as exc:
                self.error = str(exc)
                return
            self.success = "Calendar disconnected."
            self._reload(coach_id)

    @rx.event(background=True)
    async def sync_now(self, connection_id: int):
        async with self:
            coach_id = self._coach_id()
            if coach_id is None:
                return
            try:
                with session_scope() as s:
                    connections.owned(s, coach_id, int(connection_id))
            except UserError as exc:
                self.error = str(exc)
                return
            self.syncing_id = int(connection_id)
            self.error = self.success = ""
        try:
            await _sync_when_free(int(connection_id))
        finally:
            async with self:
                self.syncing_id = 0
                self.syncs_finished += 1
                self._reload(coach_id)

    @rx.event
    def start_edit(self, connection_id: int):
        self.editing_id = int(connection_id)

    @rx.event
    def save_edit(self, form: dict):
        try:
            coach_id = self._require_coach_id()
            pull = [
                int(k.split("-")[1])
                for k, v in form.items()
                if k.startswith("pull-") and v
            ]
            push = int(form.get("push") or 0)
            with session_scope() as s:
                connections.edit_calendars(s, coach_id, self.editing_id, pull, push)
        except (UserError, ValueError) as exc:
            self.error = str(exc)
            return
        self.editing_id = 0
        self.success = "Calendars saved."
        self._reload(coach_id)

    @rx.event
    def cancel_edit(self):
        self.editing_id = 0


def _steps_indicator() -> rx.Component:
    return rx.text(
        rx.match(
            IntegrationsState.step,
            ("provider", "Step 1 of 3: choose your calendar service"),
            ("credentials", "Step 2 of 3: sign in"),
            ("calendars", "Step 3 of 3: choose calendars"),
            "",
        ),
        size="2",
        color_scheme="gray",
    )


def _provider_step() -> rx.Component:
    return rx.hstack(
        rx.foreach(
            IntegrationsState.providers,
            lambda p: rx.button(
                rx.cond(p.available, p.label, f"{p.label} (coming soon)"),
                disabled=~p.available,
                variant="outline",
                size="3",
                on_click=IntegrationsState.choose_provider(p.key),
            ),
        ),
        wrap="wrap",
    )


def _terms_checkbox() -> rx.Component:
    return rx.checkbox(
        "I agree to the Terms of Service and Privacy Policy",
        checked=IntegrationsState.agreed,
        on_change=IntegrationsState.set_agreed,
    )


def _back_button() -> rx.Component:
    return rx.button(
        "Back", type="button", variant="soft", on_click=IntegrationsState.start_wizard
    )


def _credentials_step() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.cond(
                IntegrationsState.kind == "icloud",
                rx.callout(
                    rx.vstack(
                        rx.text("You need an app-specific password", weight="bold"),
                        rx.el.ol(
                            rx.foreach(
                                IntegrationsState.preset_help, lambda t: rx.el.li(t)
                            ),
                            padding_left="1.2em",
                        ),
                        rx.link(
                            "Open your Apple Account page",
                            href="https://account.apple.com",
                            is_external=True,
                        ),
                    ),
                    icon="info",
                    id="app-password-help",
                ),
                rx.vstack(
                    rx.foreach(
                        IntegrationsState.preset_help, lambda t: rx.text(t, size="2")
                    ),
                    rx.el.label("Server address", html_for="caldav-url"),
                    rx.input(
                        name="server_url",
                        id="caldav-url",
                        placeholder="https://calendar.example.com/",
                        width="100%",
                    ),
                    width="100%",
                ),
            ),
            rx.el.label(IntegrationsState.username_label, html_for="cal-username"),
            rx.input(name="username", id="cal-username", width="100%"),
            rx.el.label(IntegrationsState.password_label, html_for="cal-password"),
            rx.input(name="password", id="cal-password", type="password", width="100%"),
            _terms_checkbox(),
            rx.hstack(
                rx.button(
                    rx.cond(IntegrationsState.checking, "Checking…", "Continue"),
                    type="submit",
                    loading=IntegrationsState.checking,
                ),
                _back_button(),
            ),
            spacing="2",
            width="100%",
            max_width="520px",
        ),
        on_submit=IntegrationsState.submit_credentials,
        reset_on_submit=False,
    )


def _google_step() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Coach App will send you to Google. Sign in there and choose Allow: "
            "Coach App may then see your calendars (busy times block your "
            "booking page) and add, change and remove the appointments it puts "
            "into the one calendar you choose next. Your Google password is "
            "never shown to Coach App.",
            size="2",
        ),
        _terms_checkbox(),
        rx.hstack(
            rx.button(
                "Continue with Google",
                type="button",
                loading=IntegrationsState.redirecting,
                on_click=IntegrationsState.continue_with_google,
                id="continue-with-google",
            ),
            _back_button(),
        ),
        spacing="2",
        width="100%",
        max_width="520px",
    )


def _calendar_choice(c: CalendarOption) -> rx.Component:
    return rx.table.row(
        rx.table.cell(c.name),
        rx.table.cell(
            rx.checkbox(
                checked=IntegrationsState.pull_ids.contains(c.id),
                on_change=lambda v: IntegrationsState.toggle_pull(c.id, v),
                aria_label=f"Pull from {c.name}",
            )
        ),
        rx.table.cell(
            rx.cond(
                c.can_write,
                rx.el.input(
                    type="radio",
                    name="push-calendar",
                    checked=IntegrationsState.push_id == c.id,
                    on_change=IntegrationsState.choose_push(c.id),
                    aria_label=f"Push to {c.name}",
                ),
                rx.text("read-only", size="1", color_scheme="gray"),
            )
        ),
    )


def _calendars_step() -> rx.Component:
    return rx.vstack(
        rx.cond(
            IntegrationsState.google_account != "",
            rx.text(
                "Google account: ",
                rx.text.strong(IntegrationsState.google_account),
                size="2",
                id="google-account",
            ),
        ),
        rx.text(
            "Pull: busy times from these calendars block your booking page "
            "(tick any number). Push: your appointments are added to this one "
            "calendar (choose exactly one).",
            size="2",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Calendar"),
                    rx.table.column_header_cell("Pull"),
                    rx.table.column_header_cell("Push"),
                )
            ),
            rx.table.body(
                rx.foreach(IntegrationsState.found_calendars, _calendar_choice)
            ),
        ),
        rx.button(
            "Connect",
            on_click=IntegrationsState.connect,
            size="3",
            color_scheme="green",
        ),
        spacing="3",
    )


def _switch(label: str, conn: ConnectionView, key: str, value: rx.Var) -> rx.Component:
    return rx.el.label(
        rx.hstack(
            rx.switch(
                checked=value,
                on_change=lambda v: IntegrationsState.set_switch(conn.id, key, v),
                aria_label=label,
            ),
            rx.text(label, size="2"),
            align="center",
        )
    )


def _edit_calendars(conn: ConnectionView) -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.foreach(
                conn.subs,
                lambda sub: rx.hstack(
                    rx.text(sub.name, width="180px"),
                    rx.el.label(
                        rx.el.input(
                            type="checkbox",
                            name=f"pull-{sub.id}",
                            default_checked=sub.pull,
                        ),
                        " Pull",
                    ),
                    rx.el.label(
                        rx.el.input(
                            type="radio",
                            name="push",
                            value=sub.id.to_string(),
                            default_checked=sub.push,
                        ),
                        " Push",
                    ),
                ),
            ),
            rx.hstack(
                rx.button("Save calendars", type="submit", size="1"),
                rx.button(
                    "Close",
                    type="button",
                    size="1",
                    variant="soft",
                    on_click=IntegrationsState.cancel_edit,
                ),
            ),
        ),
        on_submit=IntegrationsState.save_edit,
    )


def _connection_card(conn: ConnectionView) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(f"{conn.provider}: {conn.account}", size="4"),
                rx.badge(
                    rx.match(
                        conn.status,
                        ("ok", "Connected"),
                        ("reconnect", "Reconnect needed"),
                        "Sync problem",
                    ),
                    color_scheme=rx.match(
                        conn.status, ("ok", "green"), ("reconnect", "red"), "amber"
                    ),
                ),
                align="center",
            ),
            rx.text(
                f"Pulling busy times from: {conn.pull_names}",
                size="2",
                class_name="pull-calendars",
            ),
            rx.text(
                f"Pushing appointments to: {conn.push_name}",
                size="2",
                class_name="push-calendar",
            ),
            rx.text(
                f"Last sync: {conn.last_sync} · Next sync: {conn.next_sync}",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                conn.last_error != "",
                rx.callout(
                    conn.last_error, icon="triangle-alert", color_scheme="red", size="1"
                ),
            ),
            rx.grid(
                _switch(
                    "Check Calendar for Conflicts",
                    conn,
                    "check_conflicts",
                    conn.check_conflicts,
                ),
                _switch(
                    "Push Events to Connected Calendar",
                    conn,
                    "push_enabled",
                    conn.push_enabled,
                ),
                _switch(
                    "Pull Events to Coach Calendar",
                    conn,
                    "pull_enabled",
                    conn.pull_enabled,
                ),
                _switch(
                    "Cancellation Notification",
                    conn,
                    "cancellation_notification",
                    conn.cancellation_notification,
                ),
                columns="2",
                spacing="2",
            ),
            rx.hstack(
                rx.button(
                    rx.cond(
                        IntegrationsState.syncing_id == conn.id, "Syncing…", "Sync now"
                    ),
                    size="1",
                    loading=IntegrationsState.syncing_id == conn.id,
                    class_name="sync-now",
                    on_click=IntegrationsState.sync_now(conn.id),
                ),
                rx.button(
                    "Edit calendars",
                    size="1",
                    variant="soft",
                    on_click=IntegrationsState.start_edit(conn.id),
                ),
                rx.button(
                    "Disconnect",
                    size="1",
                    color_scheme="red",
                    variant="soft",
                    on_click=IntegrationsState.disconnect(conn.id),
                ),
            ),
            rx.cond(IntegrationsState.editing_id == conn.id, _edit_calendars(conn)),
            spacing="2",
        ),
        width="100%",
        class_name="connection",
        data_syncs_finished=IntegrationsState.syncs_finished,
    )


def integrations_tab() -> rx.Component:
    return rx.vstack(
        error_callout(IntegrationsState.error),
        success_callout(IntegrationsState.success),
        rx.foreach(
            IntegrationsState.notices,
            lambda n: rx.callout(
                n, icon="bell", color_scheme="amber", size="1", class_name="notice"
            ),
        ),
        rx.cond(
            IntegrationsState.connections_list.length() > 0,
            rx.vstack(
                rx.foreach(IntegrationsState.connections_list, _connection_card),
                width="100%",
            ),
            rx.text("No calendar is connected yet.", id="no-connections"),
        ),
        rx.heading("Connect to Calendar", size="5"),
        rx.text(
            "Connect iCloud, Google Calendar, Office 365, Exchange or Outlook.com: "
            "busy times keep invitees from booking over them, and every "
            "appointment made here appears in your calendar.",
            color_scheme="gray",
            size="2",
        ),
        rx.cond(
            (IntegrationsState.step == "") | (IntegrationsState.step == "done"),
            rx.button(
                rx.icon("calendar-plus", size=18),
                "Connect to Calendar",
                color_scheme="green",
                size="3",
                id="connect-calendar",
                on_click=IntegrationsState.start_wizard,
            ),
            rx.card(
                rx.vstack(
                    _steps_indicator(),
                    rx.match(
                        IntegrationsState.step,
                        ("provider", _provider_step()),
                        (
                            "credentials",
                            rx.cond(
                                IntegrationsState.kind == "google",
                                _google_step(),
                                _credentials_step(),
                            ),
                        ),
                        ("calendars", _calendars_step()),
                        rx.fragment(),
                    ),
                    rx.button(
                        "Cancel",
                        variant="ghost",
                        size="1",
                        on_click=IntegrationsState.close_wizard,
                    ),
                    spacing="3",
                ),
                width="100%",
            ),
        ),
        spacing="4",
        align="start",
        width="100%",
    )
