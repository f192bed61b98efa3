"""The provider contract on Microsoft Graph, against the local Microsoft
sandbox, for both presets: Office 365 (a work or school account, tenant
``organizations``) and Outlook.com (a personal account, ``consumers``).
Quirks: ``remotes.microsoft``; what only Graph has — paging, replays,
token refresh, subscriptions — is in ``tests/microsoft``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from remotes.microsoft import MicrosoftRemote

from coach_app.calendars.microsoft import OFFICE365, OUTLOOK, Preset
from sandbox.microsoft import MicrosoftSandbox, start_microsoft_sandbox

from .contract import ProviderContract

# The provider's "now": its window (two days back) covers the contract's
# events, which start on 6 January 2025.
CLOCK = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def graph() -> Iterator[MicrosoftSandbox]:
    sandbox = start_microsoft_sandbox()
    try:
        yield sandbox
    finally:
        sandbox.stop()


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
        # Every fault injected was met: the provider made as many attempts
        # as the remote planned for.
        assert graph.state.fault_injector.pending() == []
