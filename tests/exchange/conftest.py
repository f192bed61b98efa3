"""Fixtures for the Exchange provider tests: one EWS sandbox per session,
a fresh mailbox and a provider for it per test."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator, Iterator

import pytest

from coach_app.calendars.exchange import ExchangeProvider
from sandbox.ews import EwsSandbox, Mailbox, start_ews_sandbox

PASSWORD = "Coach-Pass-1"
LOOPBACK = frozenset({"127.0.0.1"})
# A fixed "now", so series and windows are the same on every run.
NOW = dt.datetime(2030, 3, 10, 12, tzinfo=dt.UTC)
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def ews() -> Iterator[EwsSandbox]:
    sandbox = start_ews_sandbox()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def mailbox(ews: EwsSandbox) -> Mailbox:
    return ews.state.add_user(f"coach{next(_counter)}@example.com", PASSWORD, "Coach")


def make_provider(
    ews: EwsSandbox, mailbox: Mailbox, **options: object
) -> ExchangeProvider:
    settings: dict[str, object] = {"allow_hosts": LOOPBACK, "clock": lambda: NOW}
    settings.update(options)
    return ExchangeProvider(mailbox.email, PASSWORD, ews.ews_url, **settings)  # type: ignore[arg-type]


@pytest.fixture
async def provider(
    ews: EwsSandbox, mailbox: Mailbox
) -> AsyncIterator[ExchangeProvider]:
    async with make_provider(ews, mailbox) as p:
        yield p
