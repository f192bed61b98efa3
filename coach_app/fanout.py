"""Per-coach change messages between processes and hosts, over Redis pub/sub.

Every write announces its change, heard after commit (`coach_app.changes`:
`announce` in the transaction, or `coach_changed`); the listeners in that process
drop the coach's cached offer, refresh the open pages it holds and wake the
sync loop. With several workers or hosts, the other processes must hear of
it too. When `REFLEX_REDIS_URL` is set (the same Redis Reflex uses for its
state), `relay` runs in every process:

- a listener on `changes` publishes each local change on the channel
  `<prefix>:coach-changed` as `{"origin": <this process>, "coach": <id>}`
  (from any thread: the message is queued to the event loop, which publishes
  it; the listener itself never waits on the network);
- a subscriber receives every process's messages, ignores its own, and
  replays the others through `changes.coach_changed` locally, marked so they
  are not published again. Every process therefore invalidates and refreshes
  the pages it holds, computing the coach's slots once per change.

Pub/sub delivers to whoever listens at that moment. If the subscription
drops, messages sent meanwhile are lost, so after every (re)subscription
`on_resync` runs: the live layer forgets every cached offer and refreshes
every page it holds. The prefix (`COACH_APP_REDIS_PREFIX`, default
`coach_app`) keeps several deployments, or test runs, on one Redis apart.

Without `REFLEX_REDIS_URL`, `relay` only idles: the embedded default stays
one process with no server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator

from coach_app import changes

log = logging.getLogger(__name__)

REDIS_ENV = "REFLEX_REDIS_URL"
PREFIX_ENV = "COACH_APP_REDIS_PREFIX"
RETRY_SECONDS = 1.0

_inbound = threading.local()
_origin: tuple[int, str] = (0, "")
# For tests and health: what this process has sent and received.
stats = {"published": 0, "received": 0, "subscribed": 0}
connected = False


def origin() -> str:
    """This process's name on the channel.

    Made per process id, never at import: production workers are forked from
    a supervisor that imported the app, and a name made there would be every
    worker's, so each would take the others' messages for its own.
    """
    global _origin
    pid = os.getpid()
    if _origin[0] != pid:
        _origin = (pid, f"{socket.gethostname()[:40]}:{pid}:{uuid.uuid4().hex[:12]}")
    return _origin[1]


def redis_url() -> str:
    return os.environ.get(REDIS_ENV, "").strip()


def channel() -> str:
    prefix = os.environ.get(PREFIX_ENV, "").strip() or "coach_app"
    return f"{prefix}:coach-changed"


@contextlib.contextmanager
def _replaying() -> Iterator[None]:
    _inbound.active = True
    try:
        yield
    finally:
        _inbound.active = False


def encode(coach_id: int) -> str:
    return json.dumps({"origin": origin(), "coach": int(coach_id)})


def decode(data: bytes | str) -> tuple[str, int] | None:
    """(origin, coach id) of a message, or None if it is not one of ours."""
    try:
        message = json.loads(data)
        return str(message["origin"]), int(message["coach"])
    except (ValueError, TypeError, KeyError):
        return None


def replay(data: bytes | str) -> bool:
    """Apply one received message; True if it came from another process."""
    decoded = decode(data)
    if decoded is None:
        log.warning("ignored a malformed coach-change message")
        return False
    sender, coach_id = decoded
    if sender == origin():
        return False
    stats["received"] += 1
    with _replaying():
        changes.coach_changed(coach_id)
    return True


async def relay(
    on_resync: Callable[[], None] | None = None, url: str | None = None
) -> None:
    """Lifespan work: relay coach changes through Redis until cancelled.

    Idles forever when no Redis is configured.
    """
    url = url if url is not None else redis_url()
    if not url:
        await asyncio.Event().wait()
        return
    from redis import asyncio as aioredis

    loop = asyncio.get_running_loop()
    outbox: asyncio.Queue[int] = asyncio.Queue()

    def publish_later(coach_id: int) -> None:
        if getattr(_inbound, "active", False):
            return  # a change we received: the others have it already
        with contextlib.suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(outbox.put_nowait, coach_id)

    client = aioredis.from_url(url)
    changes.on_coach_change(publish_later)
    tasks = [
        asyncio.create_task(_publish(client, outbox)),
        asyncio.create_task(_subscribe(client, on_resync)),
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        changes.remove_listener(publish_later)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await client.aclose()


async def _publish(client, outbox: asyncio.Queue[int]) -> None:
    name = channel()
    while True:
        coach_id = await outbox.get()
        try:
            await client.publish(name, encode(coach_id))
            stats["published"] += 1
        except Exception as exc:  # Redis down: the others miss this change
            log.warning("could not publish a change of coach %s: %s", coach_id, exc)


async def _subscribe(client, on_resync: Callable[[], None] | None) -> None:
    global connected
    name = channel()
    first = True
    while True:
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(name)
                connected = True
                stats["subscribed"] += 1
                if not first and on_resync is not None:
                    # What happened while we were away is unknown.
                    on_resync()
                first = False
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        replay(message["data"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if connected:
                log.warning("lost the Redis subscription (%s); retrying", exc)
            else:
                log.warning("cannot subscribe on Redis (%s); retrying", exc)
            first = False
        finally:
            connected = False
        await asyncio.sleep(RETRY_SECONDS)
