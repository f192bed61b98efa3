import os

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

config = rx.Config(
    app_name="coach_app",
    db_url=os.environ.get("REFLEX_DB_URL", "sqlite:///coach_app.db"),
    telemetry_enabled=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="teal"))],
    disable_plugins=[SitemapPlugin],
)
