"""The engine scenarios on Exchange (EWS), against the EWS sandbox (what
only Exchange has is in ``tests/exchange``); ``TestExchangeOverNtlm`` runs
them on a server with Basic turned off, the connection stored with NTLM."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from remotes.ews import EwsRemote

from sandbox.ews import EwsSandbox, start_ews_sandbox

from .scenarios import EngineScenarios
from .world import NOW


@pytest.fixture(scope="module")
def ews() -> Iterator[EwsSandbox]:
    sandbox = start_ews_sandbox()
    yield sandbox
    sandbox.stop()


class TestExchange(EngineScenarios):
    @pytest.fixture
    def new_remote(self, ews: EwsSandbox) -> Callable[[str], EwsRemote]:
        ews.state.faults.clear()
        # The engine's providers read occurrences around the scenarios' now.
        return lambda timezone: EwsRemote(ews, now=NOW, timezone=timezone)


@pytest.fixture(scope="module")
def ntlm_ews() -> Iterator[EwsSandbox]:
    with start_ews_sandbox(auth=("NTLM",)) as sandbox:
        yield sandbox


class TestExchangeOverNtlm(EngineScenarios):
    @pytest.fixture
    def new_remote(self, ntlm_ews: EwsSandbox) -> Callable[[str], EwsRemote]:
        ntlm_ews.state.faults.clear()
        return lambda timezone: EwsRemote(
            ntlm_ews, now=NOW, timezone=timezone, auth="ntlm"
        )
