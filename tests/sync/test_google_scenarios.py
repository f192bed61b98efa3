"""The engine scenarios on Google Calendar, against the local sandbox (what
only Google has — token refresh, grants — is in ``test_google_engine.py``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from remotes.google import GoogleRemote

from sandbox.google import GoogleSandbox

from .scenarios import EngineScenarios


class TestGoogle(EngineScenarios):
    @pytest.fixture
    def new_remote(self, google_env: GoogleSandbox) -> Callable[[str], GoogleRemote]:
        return lambda timezone: GoogleRemote(google_env, timezone=timezone)
