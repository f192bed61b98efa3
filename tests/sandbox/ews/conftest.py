"""Fixtures of the EWS sandbox tests: one sandbox per session, a fresh
mailbox per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from ews_support import PASSWORD

from sandbox.ews import EwsSandbox, Mailbox, start_ews_sandbox

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def ews() -> Iterator[EwsSandbox]:
    sandbox = start_ews_sandbox()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def mailbox(ews: EwsSandbox) -> Mailbox:
    """A fresh user's mailbox (sandboxes are shared per session)."""
    return ews.state.add_user(
        f"user{next(_counter)}@example.com", PASSWORD, "Test User"
    )
