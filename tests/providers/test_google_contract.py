"""The provider contract on Google Calendar, against the local sandbox
(quirks: ``remotes.google``; what only Google has — OAuth refresh, its error
shapes, paging, push channels — is in ``test_google_provider.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from remotes.google import GoogleRemote

from sandbox.google import GoogleSandbox

from .contract import ProviderContract


class TestGoogle(ProviderContract):
    @pytest.fixture
    def remote(self, google: GoogleSandbox) -> Iterator[GoogleRemote]:
        google.state.clear_faults()
        remote = GoogleRemote(google, seeded=True, timezone="Europe/Berlin")
        yield remote
        remote.close()
