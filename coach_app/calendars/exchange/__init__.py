"""Microsoft Exchange (on-premises) through Exchange Web Services."""

from __future__ import annotations

from coach_app.calendars.exchange.provider import ExchangeProvider
from coach_app.calendars.exchange.urls import ews_url_from_input

__all__ = ["ExchangeProvider", "ews_url_from_input"]
