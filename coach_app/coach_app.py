"""Builds the app; pages register themselves through their decorators."""

import reflex as rx

from coach_app.pages import home, login, settings, signup  # noqa: F401

app = rx.App()
