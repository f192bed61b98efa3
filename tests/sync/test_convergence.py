"""Sync converges under faults: the state machine of ``convergence.py``,
at least 1,000 steps on the in-memory provider and a smaller run on
Radicale and the Google sandbox.

The CI runs are derandomized (the same examples every time, no example
database). To explore further, run with
``COACH_APP_CONVERGENCE_EXPLORE=<examples>``: random examples, failures
remembered in ``.hypothesis/`` and shrunk; keep each shrunk failure as a
named test in ``test_convergence_regressions.py``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from memory_provider import registered
from providers.servers import RunningServer
from remotes.caldav import RADICALE, CalDAVRemote
from remotes.google import GoogleRemote
from remotes.memory import MemoryRemote

from sandbox.google import GoogleSandbox

from .convergence import SyncMachine
from .convergence_backends import Backend, MemoryBackend

EXPLORE = int(os.environ.get("COACH_APP_CONVERGENCE_EXPLORE", "0") or 0)


async def _inline(function, /, *args, **kwargs):  # type: ignore[no-untyped-def]
    return function(*args, **kwargs)


@pytest.fixture(autouse=True)
def no_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's database steps run inline instead of in worker threads:
    the machine is sequential, and a thread hop per step was most of its time."""
    monkeypatch.setattr(asyncio, "to_thread", _inline)


def run(make_backend: Callable[[], Backend], examples: int, steps: int) -> int:
    """Run the machine; returns how many steps it took."""
    machine = type(
        "Machine", (SyncMachine,), {"make_backend": staticmethod(make_backend)}
    )
    machine.steps = 0
    began = time.perf_counter()
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXPLORE or examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=not EXPLORE,
            database=settings.default.database if EXPLORE else None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    took = time.perf_counter() - began
    backend = make_backend.__name__
    print(f"\nconvergence: {machine.steps} steps in {took:.1f} s ({backend})")
    return machine.steps


@pytest.fixture
def memory() -> Iterator[None]:
    with registered():
        yield


def test_sync_converges_under_faults_on_the_memory_provider(memory: None) -> None:
    def memory_provider() -> Backend:
        return MemoryBackend(MemoryRemote())

    assert run(memory_provider, examples=50, steps=30) >= 1000


def test_sync_converges_under_faults_on_radicale(radicale: RunningServer) -> None:
    def radicale_server() -> Backend:
        return Backend(CalDAVRemote(radicale, RADICALE))

    assert run(radicale_server, examples=8, steps=25) >= 100


def test_sync_converges_under_faults_on_the_google_sandbox(
    google_env: GoogleSandbox,
) -> None:
    def google_sandbox() -> Backend:
        return Backend(GoogleRemote(google_env))

    assert run(google_sandbox, examples=8, steps=25) >= 100
