"""The Connect to Calendar wizard, driven by the provider specs.

Steps: service → sign in (the spec's form and help, or its OAuth consent,
with the terms box) → calendars (pull any number, push exactly one) →
Connect → success. A password travels once from the form into the backend
and is never sent back to the browser; the found account (with its secret)
stays in ``_found`` (backend only) until Connect stores it encrypted.
OAuth consent is ``oauth_state.OAuthState``'s part.
"""

from __future__ import annotations

import json

import reflex as rx
from pydantic import BaseModel

from coach_app.calendars import registry
from coach_app.calendars.spec import FoundAccount
from coach_app.db import session_scope
from coach_app.pages.integrations.state import IntegrationsState
from coach_app.services import signin
from coach_app.services.errors import AsksFor, UserError


def _focus_field(name: str) -> rx.event.EventSpec:
    field_id = json.dumps(f"field-{name}")
    return rx.call_script(
        f"setTimeout(() => document.getElementById({field_id})?.focus(), 50)"
    )


class ServiceOption(BaseModel):
    key: str
    label: str
    available: bool


class FieldView(BaseModel):
    name: str
    label: str
    type: str
    placeholder: str
    autocomplete: str
    hint: str
    ask_when_needed: bool = False
    open_label: str = ""


class SignInView(BaseModel):
    service: str = ""
    oauth: bool = False
    consent_text: str = ""
    fields: list[FieldView] = []
    help_title: str = ""
    help_steps: list[str] = []
    help_link_label: str = ""
    help_link_url: str = ""


class CalendarOption(BaseModel):
    id: str
    name: str
    can_write: bool


class WizardState(IntegrationsState):
    step: str = ""  # "" | provider | credentials | calendars | done
    kind: str = ""
    agreed: bool = False
    checking: bool = False
    redirecting: bool = False
    wizard_error: str = ""
    opened_fields: list[str] = []  # fields shown only when needed, now shown
    account_label: str = ""  # the account being connected (not a secret)
    found_calendars: list[CalendarOption] = []
    pull_ids: list[str] = []
    push_id: str = ""
    _found: FoundAccount | None = None
    _found_coach_id: int = 0
    _form: dict[str, str] = {}  # the submitted sign-in form, until checked

    # -- what the chosen service asks for ----------------------------------------

    @rx.var
    def services(self) -> list[ServiceOption]:
        return [
            ServiceOption(key=c.key, label=c.label, available=c.available)
            for c in signin.choices()
        ]

    @rx.var
    def sign_in(self) -> SignInView:
        """What the chosen service's sign-in step shows."""
        try:
            spec = registry.spec_for(self.kind) if self.kind else None
        except registry.UnknownProvider:
            spec = None
        if spec is None:
            return SignInView()
        form, oauth = spec.password, spec.oauth
        link = form.help_link if form else None
        return SignInView(
            service=spec.service_name,
            oauth=oauth is not None,
            consent_text=oauth.consent_text if oauth else "",
            fields=[
                FieldView(
                    name=f.name,
                    label=f.label,
                    type=f.type,
                    placeholder=f.placeholder,
                    autocomplete=f.autocomplete,
                    hint=f.hint,
                    ask_when_needed=f.ask_when_needed,
                    open_label=f.open_label,
                )
                for f in (form.fields if form else ())
            ],
            help_title=form.help_title if form else "",
            help_steps=list(form.help_steps) if form else [],
            help_link_label=link.label if link else "",
            help_link_url=link.url if link else "",
        )

    # -- steps ---------------------------------------------------------------------

    def _reset_wizard(self) -> None:
        self.step = self.kind = self.push_id = self.wizard_error = ""
        self.account_label = ""
        self.agreed = self.checking = self.redirecting = False
        self.opened_fields = []
        self.found_calendars = []
        self.pull_ids = []
        self._found = None
        self._found_coach_id = 0

    @rx.event
    def start_wizard(self):
        if self._coach_id() is None:
            return rx.redirect("/login")
        self._reset_wizard()
        self.success = ""
        self.step = "provider"

    @rx.event
    def close_wizard(self):
        self._reset_wizard()

    @rx.event
    def choose_provider(self, kind: str):
        try:
            signin.offered(kind)
        except UserError as exc:
            self.wizard_error = str(exc)
            return
        self.kind = kind
        self.wizard_error = ""
        self.opened_fields = []
        self.step = "credentials"

    @rx.event
    def open_field(self, name: str):
        """The coach opens a field that is otherwise shown only when needed."""
        if name not in self.opened_fields:
            self.opened_fields = [*self.opened_fields, name]
        return _focus_field(name)

    @rx.event
    def set_agreed(self, value: bool):
        self.agreed = bool(value)

    @rx.event
    def submit_credentials(self, form: dict):
        if self._coach_id() is None:
            return rx.redirect("/login")
        if not self.agreed:
            self.wizard_error = signin.TERMS_MESSAGE
            return
        self._form = {str(k): str(v) for k, v in form.items()}
        self.wizard_error = ""
        self.checking = True
        return WizardState.run_check

    @rx.event(background=True)
    async def run_check(self):
        async with self:
            coach_id = self._coach_id()
            kind, form = self.kind, dict(self._form)
            self._form = {}  # the password is not kept beyond this check
        try:
            found = await signin.check_password(kind, form)
        except AsksFor as exc:
            async with self:
                self.wizard_error = str(exc)
                self.checking = False
                new = [f for f in exc.fields if f not in self.opened_fields]
                self.opened_fields = [*self.opened_fields, *new]
            if new:
                yield _focus_field(new[0])
            return
        except UserError as exc:
            async with self:
                self.wizard_error = str(exc)
                self.checking = False
            return
        async with self:
            self._show_calendars(coach_id or 0, found)

    def _show_calendars(self, coach_id: int, found: FoundAccount) -> None:
        self.checking = False
        self.wizard_error = ""
        self._found = found
        self._found_coach_id = coach_id
        self.account_label = found.label
        self.found_calendars = [
            CalendarOption(id=c.id, name=c.name or c.id, can_write=c.can_write)
            for c in found.calendars
        ]
        self.pull_ids = []
        writable = [c.id for c in found.calendars if c.can_write]
        self.push_id = writable[0] if len(writable) == 1 else ""
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
            if self._found is None or self._found_coach_id != coach_id:
                raise UserError("Please start again: the account details were lost.")
            with session_scope() as s:
                row = signin.connect(
                    s,
                    coach_id,
                    self.kind,
                    self._found,
                    list(self.pull_ids),
                    self.push_id,
                    self.agreed,
                )
                service = registry.service_label(row.provider)
        except UserError as exc:
            self.wizard_error = str(exc)
            return
        self._reset_wizard()
        self.step = "done"
        self.success = (
            f"Success! Your {service} calendar is now connected. "
            "The first sync has started."
        )
        self._reload(coach_id)
        return IntegrationsState.follow_first_sync
