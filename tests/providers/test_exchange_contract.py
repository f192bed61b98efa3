"""The provider contract on Exchange (EWS) against the EWS sandbox, with
Basic and with NTLM only (quirks: ``remotes.ews``; EWS-only behaviour is in
``tests/exchange``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from remotes.ews import EwsRemote

from sandbox.ews import EwsSandbox, start_ews_sandbox

from .contract import ProviderContract

# The providers' "now": their window covers the contract's 2025 series.
NOW = dt.datetime(2025, 1, 5, 12, tzinfo=dt.UTC)
SCHEMES = {"basic": ("Basic",), "ntlm": ("NTLM",)}


@pytest.fixture(scope="module", params=sorted(SCHEMES))
def ews(request: pytest.FixtureRequest) -> Iterator[tuple[EwsSandbox, str]]:
    with start_ews_sandbox(auth=SCHEMES[request.param]) as sandbox:
        yield sandbox, request.param


class TestExchange(ProviderContract):
    @pytest.fixture
    def remote(self, ews: tuple[EwsSandbox, str]) -> Iterator[EwsRemote]:
        sandbox, auth = ews
        sandbox.state.faults.clear()
        # ErrorServerBusy back-offs over 5 s (the contract's are 7 s) surface.
        remote = EwsRemote(
            sandbox,
            now=NOW,
            seeded=True,
            timezone="Europe/Berlin",
            max_back_off=5,
            auth=auth,
        )
        yield remote
        remote.close()
