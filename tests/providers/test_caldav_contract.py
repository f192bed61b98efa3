"""The provider contract on real CalDAV servers, Radicale and Xandikos
(quirks: ``remotes.caldav``; what only CalDAV has: the protocol-edge,
connection-error and recurrence modules beside this one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from remotes.caldav import RADICALE, XANDIKOS, CalDAVRemote

from .contract import ProviderContract
from .servers import RunningServer


class TestRadicale(ProviderContract):
    @pytest.fixture
    def remote(self, radicale: RunningServer) -> Iterator[CalDAVRemote]:
        remote = CalDAVRemote(radicale, RADICALE)
        yield remote
        remote.close()


class TestXandikos(ProviderContract):
    @pytest.fixture
    def remote(self, xandikos: RunningServer) -> Iterator[CalDAVRemote]:
        remote = CalDAVRemote(xandikos, XANDIKOS)
        yield remote
        remote.close()
