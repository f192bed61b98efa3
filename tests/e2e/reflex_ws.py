"""A booking page held over the app's own websocket, without a browser.

Speaks what the frontend speaks (Reflex 0.10): a Socket.IO connection to
`/_event` with the tab's token in the query string, a `hydrate` event, then
the page's events (`detect`, `load`, `choose_day`, `choose_slot`, `confirm`) with
router data naming `/book/<slug>`; the server answers with `event` messages
whose `delta` holds the changed vars of each state. For tests and
benchmarks that need more open pages than browsers fit on the machine; the
state the server keeps for such a page is the same as for a browser's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import socketio

ROOT_STATE = "reflex___state____state"
BOOK_STATE = f"{ROOT_STATE}.coach_app___pages___book_state____book_state"
_SUFFIX = "_rx_state_"


class BookingPage:
    """One open `/book/<slug>` tab."""

    def __init__(self, base_url: str, slug: str, timezone: str = "UTC") -> None:
        self.base_url = base_url.rstrip("/")
        self.slug = slug
        self.timezone = timezone
        self.token = str(uuid.uuid4())
        self.state: dict[str, Any] = {}
        # (time.time(), changed var names) of every update of the page's state
        self.updates: list[tuple[float, set[str]]] = []
        self._changed = asyncio.Event()
        self._sio = socketio.AsyncClient(reconnection=False)
        self._sio.on("event", self._on_event, namespace="/_event")

    # -- protocol -------------------------------------------------------------
    def _router_data(self) -> dict[str, Any]:
        path = f"/book/{self.slug}"
        return {
            "pathname": "/book/[booking_slug]",
            "asPath": path,
            "query": {"booking_slug": self.slug},
        }

    async def _on_event(self, update: dict[str, Any]) -> None:
        delta = (update or {}).get("delta") or {}
        mine = delta.get(BOOK_STATE)
        if mine:
            names = set()
            for key, value in mine.items():
                name = key.removesuffix(_SUFFIX)
                self.state[name] = value
                names.add(name)
            self.updates.append((time.time(), names))
            self._changed.set()

    async def send(self, handler: str, **payload: Any) -> None:
        await self._sio.emit(
            "event",
            {
                "name": f"{BOOK_STATE}.{handler}",
                "router_data": self._router_data(),
                "payload": payload,
            },
            namespace="/_event",
        )

    # -- what an invitee does -------------------------------------------------
    async def open(self, timeout: float = 30.0) -> None:
        """Connect and load the page as a browser does on arrival."""
        await self._sio.connect(
            f"{self.base_url}?token={self.token}",
            socketio_path="/_event",
            namespaces=["/_event"],
            transports=["websocket"],
            wait_timeout=timeout,
        )
        await self._sio.emit(
            "event",
            {
                "name": f"{ROOT_STATE}.hydrate",
                "router_data": self._router_data(),
                "payload": {},
            },
            namespace="/_event",
        )
        await self.send("detect", found=[self.timezone, "h23"])  # on mount
        await self.send("load")
        await self.wait_for(lambda s: s.get("coach_name") or s.get("found") is False)

    async def choose_day(self, iso: str) -> None:
        await self.send("choose_day", iso=iso)
        await self.wait_for(lambda s: s.get("day") == iso)

    async def choose_slot(self, iso: str) -> None:
        await self.send("choose_slot", iso=iso)
        await self.wait_for(lambda s: s.get("slot") == iso)

    async def confirm(self, name: str, email: str) -> None:
        """Submit the details form; returns once the server answered."""
        before = len(self.updates)
        await self.send("confirm", form={"name": name, "email": email, "note": ""})
        await self.wait_for(
            lambda s: (
                len(self.updates) > before
                and (self.booked or s.get("notice") or s.get("error"))
            )
        )

    @property
    def booked(self) -> bool:
        """The page shows its booking done."""
        return self.state.get("step") == "done"

    # -- reading ----------------------------------------------------------------
    @property
    def slot_labels(self) -> list[str]:
        return [s["label"] for s in self.state.get("slots") or []]

    @property
    def slot_isos(self) -> list[str]:
        return [s["iso"] for s in self.state.get("slots") or []]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], Any], timeout: float = 30.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.state):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"page {self.base_url}/book/{self.slug}: condition not met "
                    f"within {timeout}s; state: "
                    f"{ {k: self.state.get(k) for k in ('day', 'slot', 'step', 'notice', 'error', 'slots')} }"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def close(self) -> None:
        await self._sio.disconnect()
