"""The provider contract on the in-memory plug-in, built the way the engine
builds every provider: through the spec registered in the public registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from memory_provider import MemoryProvider, registered
from remotes.memory import MemoryRemote

from coach_app.calendars import registry
from coach_app.calendars.spec import Credentials

from .contract import ProviderContract


class TestMemory(ProviderContract):
    @pytest.fixture
    def remote(self) -> Iterator[MemoryRemote]:
        with registered():
            remote = MemoryRemote(seeded=True)
            yield remote
            remote.close()

    def test_the_registry_builds_it_from_stored_credentials(
        self, remote: MemoryRemote
    ) -> None:
        fields = remote.connection()
        spec = registry.spec_for(fields.provider)
        built = spec.build(
            Credentials(fields.server_url, fields.username, fields.secret),
            None,
        )
        assert isinstance(built, MemoryProvider)
