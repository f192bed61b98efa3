"""The provider contract on Microsoft Graph against the Microsoft sandbox,
for Office 365 (tenant ``organizations``) and Outlook.com (``consumers``).
Quirks: ``remotes.microsoft``; Graph-only behaviour is in ``tests/microsoft``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from remotes.microsoft import MicrosoftRemote

from coach_app.calendars.microsoft import OFFICE365, OUTLOOK, Preset
from sandbox.microsoft import MicrosoftSandbox, start_microsoft_sandbox

from .contract import ProviderContract

# The provider's "now": its window covers the contract's 2025 events.
CLOCK = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def graph() -> Iterator[MicrosoftSandbox]:
    with start_microsoft_sandbox() as sandbox:
        yield sandbox


@pytest.mark.parametrize("preset", [OFFICE365, OUTLOOK], ids=["office365", "outlook"])
class TestMicrosoftGraph(ProviderContract):
    @pytest.fixture
    def remote(
        self, graph: MicrosoftSandbox, preset: Preset
    ) -> Iterator[MicrosoftRemote]:
        graph.state.clear_faults()
        remote = MicrosoftRemote(
            graph, preset, clock=lambda: CLOCK, seeded=True, timezone="Europe/Berlin"
        )
        yield remote
        remote.close()
        # Every injected fault was met (the provider's attempts as planned).
        assert graph.state.fault_injector.pending() == []
