"""Builds the app; pages register themselves through their decorators."""

import reflex as rx

from coach_app.live import live_updates
from coach_app.notify.delivery import delivery_loop
from coach_app.pages import book, calendar, home, login, settings, signup  # noqa: F401
from coach_app.sync.scheduler import sync_loop

app = rx.App()
app.register_lifespan_task(delivery_loop)
app.register_lifespan_task(live_updates)
app.register_lifespan_task(sync_loop)
