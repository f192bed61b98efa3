"""The engine scenarios on Exchange (EWS), against the EWS sandbox (what
only Exchange has is in ``tests/exchange``)."""

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
