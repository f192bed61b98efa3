"""The provider contract on Exchange (EWS), against the EWS sandbox
(quirks: ``remotes.ews``; what only EWS has — ErrorServerBusy back-off,
SyncFolderItems paging, CalendarView splitting, ChangeKeys on delete — is
in ``tests/exchange``). ``TestExchangeOverNtlm``: the same contract on a
server with Basic turned off, every request NTLM-authenticated."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from remotes.ews import EwsRemote

from sandbox.ews import EwsSandbox, start_ews_sandbox

from .contract import ProviderContract

# The providers' "now": their CalendarView window (two days back, 400 ahead)
# covers the contract's series, January to March 2025.
NOW = dt.datetime(2025, 1, 5, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ews() -> Iterator[EwsSandbox]:
    sandbox = start_ews_sandbox()
    yield sandbox
    sandbox.stop()


class TestExchange(ProviderContract):
    @pytest.fixture
    def remote(self, ews: EwsSandbox) -> Iterator[EwsRemote]:
        ews.state.faults.clear()
        # The provider waits out ErrorServerBusy back-offs up to its limit
        # itself (``exchange.ews``); below the contract's 7 s, it reports them.
        remote = EwsRemote(
            ews, now=NOW, seeded=True, timezone="Europe/Berlin", max_back_off=5
        )
        yield remote
        remote.close()


@pytest.fixture(scope="module")
def ntlm_ews() -> Iterator[EwsSandbox]:
    with start_ews_sandbox(auth=("NTLM",)) as sandbox:
        yield sandbox


class TestExchangeOverNtlm(ProviderContract):
    @pytest.fixture
    def remote(self, ntlm_ews: EwsSandbox) -> Iterator[EwsRemote]:
        ntlm_ews.state.faults.clear()
        remote = EwsRemote(
            ntlm_ews,
            now=NOW,
            seeded=True,
            timezone="Europe/Berlin",
            max_back_off=5,
            auth="ntlm",
        )
        yield remote
        remote.close()
