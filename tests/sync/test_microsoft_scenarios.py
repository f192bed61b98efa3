"""The engine scenarios on Microsoft Graph, against the local Microsoft
sandbox, for both presets: Office 365 (a work or school account) and
Outlook.com (a personal one). What only Graph has — subscriptions, the
sliding window, replays — is in ``tests/microsoft``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from remotes.microsoft import MicrosoftRemote

from coach_app.calendars.microsoft import OFFICE365, OUTLOOK, Preset
from sandbox.microsoft import MicrosoftSandbox, start_microsoft_sandbox

from .scenarios import EngineScenarios
from .world import NOW


@pytest.fixture(scope="module")
def graph() -> Iterator[MicrosoftSandbox]:
    sandbox = start_microsoft_sandbox()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.mark.parametrize("preset", [OFFICE365, OUTLOOK], ids=["office365", "outlook"])
class TestMicrosoftGraph(EngineScenarios):
    @pytest.fixture
    def new_remote(
        self, graph: MicrosoftSandbox, preset: Preset, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[Callable[[str], MicrosoftRemote]]:
        """Fresh accounts; ``COACH_APP_MICROSOFT_*`` point the app at the
        sandbox, and the provider's window is placed at the suite's ``NOW``."""
        for name, value in graph.env().items():
            monkeypatch.setenv(name, value)
        graph.state.clear_faults()
        yield lambda timezone: MicrosoftRemote(
            graph, preset, clock=lambda: NOW, timezone=timezone
        )
        assert graph.state.fault_injector.pending() == []
