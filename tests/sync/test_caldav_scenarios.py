"""The engine scenarios on real CalDAV servers, Radicale and Xandikos."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from providers.servers import RunningServer
from remotes.caldav import RADICALE, XANDIKOS, CalDAVRemote

from .scenarios import EngineScenarios


class TestRadicale(EngineScenarios):
    @pytest.fixture
    def new_remote(self, radicale: RunningServer) -> Callable[[str], CalDAVRemote]:
        return lambda _timezone: CalDAVRemote(radicale, RADICALE)


class TestXandikos(EngineScenarios):
    @pytest.fixture
    def new_remote(self, xandikos: RunningServer) -> Callable[[str], CalDAVRemote]:
        return lambda _timezone: CalDAVRemote(xandikos, XANDIKOS)
