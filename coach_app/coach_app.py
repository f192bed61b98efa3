"""Builds the app; pages register themselves through their decorators."""

import reflex as rx

from coach_app.health import with_health
from coach_app.live import live_updates
from coach_app.notify.delivery import delivery_loop
from coach_app.pages import (  # noqa: F401
    book,
    calendar,
    home,
    login,
    settings,
    signup,
)
from coach_app.pages.integrations import callback  # noqa: F401
from coach_app.sync.scheduler import sync_loop
from coach_app.webhooks import with_webhooks

# POST /webhooks/<provider>, GET /health
app = rx.App(api_transformer=[with_webhooks, with_health])
app.register_lifespan_task(delivery_loop)
app.register_lifespan_task(live_updates)
app.register_lifespan_task(sync_loop)
