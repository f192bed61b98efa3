"""My Settings: Profile and Integrations tabs."""

from __future__ import annotations

import reflex as rx

from coach_app.components.forms import error_callout, field, success_callout
from coach_app.components.layout import template
from coach_app.db import session_scope
from coach_app.models import Coach
from coach_app.pages.integrations import IntegrationsState, integrations_tab
from coach_app.pages.settings_hours import HoursState, hours_tab
from coach_app.pages.settings_types import TypesState, types_tab
from coach_app.services.errors import UserError
from coach_app.services.profile import update_profile
from coach_app.services.validation import timezone_names
from coach_app.state import AuthState

_TIMEZONES = timezone_names()
_TABS = ("profile", "hours", "types", "integrations")


class SettingsState(AuthState):
    tab: str = "profile"
    display_name: str = ""
    timezone: str = "UTC"
    slug: str = ""
    profile_error: str = ""
    profile_saved: str = ""

    @rx.event
    def load(self):
        coach_id = self._coach_id()
        if coach_id is None:
            return rx.redirect("/login")
        with session_scope() as s:
            coach = s.get(Coach, coach_id)
            assert coach is not None
            self.display_name = coach.display_name
            self.timezone = coach.timezone
            self.slug = coach.slug
        self.profile_error = ""
        self.profile_saved = ""
        wanted = self.router.url.query_parameters.get("tab", "")
        if wanted in _TABS:
            self.tab = wanted

    @rx.event
    def set_tab(self, tab: str):
        if tab in _TABS:
            self.tab = tab

    @rx.event
    def save_profile(self, form: dict):
        self.profile_saved = ""
        try:
            coach_id = self._require_coach_id()
            with session_scope() as s:
                coach = update_profile(
                    s,
                    coach_id,
                    form.get("display_name", ""),
                    form.get("timezone", ""),
                    form.get("slug", ""),
                )
                self.display_name = coach.display_name
                self.timezone = coach.timezone
                self.slug = coach.slug
        except UserError as exc:
            self.profile_error = str(exc)
            return
        self.coach_name = self.display_name
        self.coach_slug = self.slug
        self.profile_error = ""
        self.profile_saved = "Profile saved."


def profile_tab() -> rx.Component:
    return rx.form(
        rx.vstack(
            error_callout(SettingsState.profile_error),
            success_callout(SettingsState.profile_saved),
            field(
                "Display name",
                "display_name",
                id="profile-name",
                default_value=SettingsState.display_name,
                key=SettingsState.display_name,
            ),
            rx.vstack(
                rx.el.label(
                    "Time zone", html_for="profile-timezone", font_weight="500"
                ),
                rx.el.select(
                    *[rx.el.option(z, value=z) for z in _TIMEZONES],
                    name="timezone",
                    id="profile-timezone",
                    default_value=SettingsState.timezone,
                    key=SettingsState.timezone,
                ),
                spacing="1",
            ),
            field(
                "Booking link (/book/…)",
                "slug",
                id="profile-slug",
                default_value=SettingsState.slug,
                key=SettingsState.slug,
            ),
            rx.button("Save profile", type="submit"),
            spacing="4",
            max_width="480px",
        ),
        on_submit=SettingsState.save_profile,
        reset_on_submit=False,
    )


@template(
    "/settings",
    "My Settings",
    on_load=[
        SettingsState.load,
        HoursState.load,
        TypesState.load,
        IntegrationsState.load,
    ],
)
def settings_page() -> rx.Component:
    return rx.vstack(
        rx.heading("My Settings", size="7", as_="h1"),
        rx.tabs.root(
            rx.tabs.list(
                rx.tabs.trigger("Profile", value="profile"),
                rx.tabs.trigger("Working hours", value="hours"),
                rx.tabs.trigger("Appointment types", value="types"),
                rx.tabs.trigger("Integrations", value="integrations"),
                wrap="wrap",
                style={"flex_wrap": "wrap", "overflow": "visible"},
            ),
            rx.tabs.content(rx.box(profile_tab(), padding_top="1em"), value="profile"),
            rx.tabs.content(rx.box(hours_tab(), padding_top="1em"), value="hours"),
            rx.tabs.content(rx.box(types_tab(), padding_top="1em"), value="types"),
            rx.tabs.content(
                rx.box(integrations_tab(), padding_top="1em"), value="integrations"
            ),
            value=SettingsState.tab,
            on_change=SettingsState.set_tab,
            width="100%",
        ),
        width="100%",
        spacing="4",
    )
