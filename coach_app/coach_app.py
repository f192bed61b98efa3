"""Builds the app; pages register themselves through their decorators."""

import reflex as rx

from coach_app.health import with_health
from coach_app.live import live_updates
from coach_app.notify.delivery import delivery_loop
from coach_app.pages import (  # noqa: F401
    book,
    calendar,
    home,
    legal,
    login,
    manage,
    settings,
    signup,
)
from coach_app.pages.integrations import callback  # noqa: F401
from coach_app.process import settle
from coach_app.session_http import with_session_routes
from coach_app.sync.scheduler import sync_loop
from coach_app.webhooks import with_webhooks

app = rx.App(
    # POST /webhooks/<provider>; POST /auth/session and /auth/logout; GET /health
    api_transformer=[with_webhooks, with_session_routes, with_health],
    html_lang="en",
    stylesheets=["/contrast.css", "/booking.css"],
)
app.register_lifespan_task(delivery_loop)
app.register_lifespan_task(live_updates)
app.register_lifespan_task(sync_loop)
app.register_lifespan_task(settle)
