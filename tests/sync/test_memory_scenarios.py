"""The engine scenarios on the in-memory plug-in, registered through the
public registry like any provider package."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from memory_provider import registered
from remotes.memory import MemoryRemote

from .scenarios import EngineScenarios


class TestMemory(EngineScenarios):
    @pytest.fixture
    def new_remote(self) -> Iterator[Callable[[str], MemoryRemote]]:
        with registered():
            yield lambda _timezone: MemoryRemote()
