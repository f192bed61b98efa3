"""Where the convergence machine's provider lives, and its faults.

``Backend`` is one provider's server for a run: its ``Remote`` (changes from
outside) and a fault queue. On a real server (Radicale, the Google
sandbox) the faults are raised at the provider's door by ``FaultGate``,
after a write really happened where the fault says so; the in-memory
server queues them itself (``MemoryBackend``). ``fresh_database`` gives
each run a migrated database with a coach in it, cheaply.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from memory_provider import (
    CRASH_AFTER_CALL,
    EMPTY_LISTING,
    LOST_RESPONSE,
    RATE_LIMIT,
    SERVER_ERROR,
    TIMEOUT,
    WorkerCrash,
)
from remotes import Remote

from coach_app import db
from coach_app.calendars import registry
from coach_app.calendars.base import ChangeSet
from coach_app.calendars.errors import RateLimited, Transient
from coach_app.migrations import upgrade

from .world import CoachRow, World, sign_up_coach

# -- backends -----------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    operation: str


class FaultGate:
    """A provider whose calls fail as queued: before the call (rate limit,
    5xx, timeout), after a write succeeded (lost answer, dying worker), or
    with an empty full listing."""

    def __init__(self, faults: list[Fault], inner: Any) -> None:
        self._faults = faults
        self._inner = inner

    def _take(self, operation: str, kinds: tuple[str, ...]) -> Fault | None:
        for fault in self._faults:
            if fault.operation == operation and fault.kind in kinds:
                self._faults.remove(fault)
                return fault
        return None

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)
        if name == "aclose":
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            before = self._take(name, (RATE_LIMIT, SERVER_ERROR, TIMEOUT))
            if before is not None:
                if before.kind == RATE_LIMIT:
                    raise RateLimited(f"{name}: 429 (injected)", retry_after=60)
                raise Transient(f"{name}: {before.kind} (injected)")
            if name == "list_all" and self._take(name, (EMPTY_LISTING,)):
                listing = await method(*args, **kwargs)
                return ChangeSet([], [], listing.cursor, full=True)
            result = await method(*args, **kwargs)
            after = self._take(name, (LOST_RESPONSE, CRASH_AFTER_CALL))
            if after is not None:
                if after.kind == CRASH_AFTER_CALL:
                    raise WorkerCrash(f"{name}: the worker died after the call")
                raise Transient(f"{name}: the answer was lost (injected)")
            return result

        return call


class Backend:
    """A provider's server for the machine: its ``Remote`` and its faults."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.faults: list[Fault] = []

    def install(self) -> None:
        """Serve the engine's providers through ``FaultGate``."""
        key = self.remote.quirks.key
        spec = registry.spec_for(key)
        build = spec.build
        faults = self.faults
        registry.register(
            replace(spec, build=lambda c, t: FaultGate(faults, build(c, t)))
        )

    def inject(self, kind: str, operation: str) -> None:
        self.faults.append(Fault(kind, operation))

    def clear(self) -> None:
        self.faults.clear()

    def invalidate_cursor(self, world: World, sub_id: int, cal: str) -> None:
        world.reject_cursor(sub_id, cal, self.remote)

    def close(self) -> None:
        self.remote.close()


class MemoryBackend(Backend):
    """The in-memory server queues the faults itself (server side)."""

    def install(self) -> None:
        pass

    @property
    def server(self) -> Any:
        return self.remote.server  # type: ignore[attr-defined]

    def inject(self, kind: str, operation: str) -> None:
        self.server.fail(kind, operations=frozenset({operation}))

    def clear(self) -> None:
        self.server.faults.clear()

    def invalidate_cursor(self, world: World, sub_id: int, cal: str) -> None:
        self.server.invalidate_cursors(cal)


# -- the database, prepared once per process ------------------------------------

_template: dict[str, Any] = {}
_runs = itertools.count()


def fresh_database() -> tuple[Path, CoachRow]:
    """A migrated SQLite database with a coach, copied from a prepared file
    (signing up hashes a password; migrating runs every script). Kept in
    shared memory where there is some: the machine commits a lot."""
    if not _template:
        shm = Path("/dev/shm")
        folder = tempfile.TemporaryDirectory(  # removed when the process ends
            prefix="convergence-", dir=shm if shm.is_dir() else None
        )
        path = Path(folder.name) / "template.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        coach = sign_up_coach(url)
        db.get_engine(url).dispose()
        _template.update(folder=folder, path=path, coach=coach)
    target = Path(_template["folder"].name) / f"run-{next(_runs)}.db"
    shutil.copyfile(_template["path"], target)
    return target, _template["coach"]
