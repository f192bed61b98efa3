"""Graph change notifications through the app's real ``POST /webhooks/<key>``.

The sandbox validates the webhook address and then POSTs its notifications
to ``COACH_APP_WEBHOOK_BASE_URL`` + ``/webhooks/office365``; the sync engine
creates, renews and deletes the subscriptions. Real clock, events a few days
ahead (subscriptions live in real time).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import httpx
import pytest
from sync.conftest import _environment, _restore_provider_registry
from webhooks.conftest import channels, eventually, next_weekday_at_ten, webhook_server

from coach_app.calendars.microsoft import OFFICE365
from coach_app.models import utcnow
from coach_app.sync import scheduler
from coach_app.webhooks import PATH
from sandbox.microsoft import MicrosoftSandbox

from .world import GraphWorld, new_world

__all__ = ["_environment", "_restore_provider_registry", "webhook_server"]

HOOK_PATH = PATH.format(provider="office365")


@pytest.fixture
def world(
    sqlite_url: str,
    graph: MicrosoftSandbox,
    webhook_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> GraphWorld:
    for name, value in graph.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COACH_APP_WEBHOOK_BASE_URL", webhook_server)
    graph.state.clear_faults()
    return new_world(sqlite_url, graph, OFFICE365)


async def subscribed(world: GraphWorld) -> dict[int, str]:
    """One sync now; returns the subscription id per sub-calendar."""
    assert (await world.sync(now=utcnow())).status == "ok"
    ids = {sub: row.resource_id for sub, row in channels(world).items()}  # type: ignore[arg-type]
    assert set(ids) == {world.pull_sub_id, world.push_sub_id} and all(ids.values())
    return ids


def notification(subscription_id: str, client_state: str, **extra: str) -> bytes:
    item = {
        "subscriptionId": subscription_id,
        "clientState": client_state,
        "changeType": "created",
        "resource": "Users/x/Events/y",
        "resourceData": {"id": "y"},
        **extra,
    }
    return json.dumps({"value": [item]}).encode()


async def test_a_notification_syncs_a_new_busy_event_with_an_hour_between_polls(
    world: GraphWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACH_APP_SYNC_INTERVAL", "3600")
    now = utcnow()
    when = next_weekday_at_ten(now)
    window = (when - dt.timedelta(hours=1), when + dt.timedelta(hours=2))
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduler.sync_loop(stop, interval=3600, url=world.url))
    try:

        def first_sync_done() -> bool:
            opened = {s: bool(r.resource_id) for s, r in channels(world).items()}  # type: ignore[arg-type]
            return world.connection().last_sync_at is not None and opened == {
                world.pull_sub_id: True,
                world.push_sub_id: True,
            }

        await eventually(
            first_sync_done, "the first sync to subscribe to both calendars"
        )
        assert when in world.slots(*window, now=now)
        last_sync = world.connection().last_sync_at
        assert last_sync is not None
        assert (
            scheduler.due_connections(world.url) == []
        )  # the next poll is an hour away

        world.add("Dentist", when)

        def synced_again() -> bool:
            at = world.connection().last_sync_at
            return at is not None and at > last_sync

        await eventually(synced_again, "the sync the notification asked for")
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=10)

    assert when not in world.slots(*window, now=now)
    changes = [d for d in world.graph.state.delivery_log() if d.kind == "change"]
    assert changes and all(d.status_code == 202 and d.ok for d in changes)
    validations = [
        d for d in world.graph.state.delivery_log() if d.kind == "validation"
    ]
    assert validations and all(d.status_code == 200 for d in validations)


async def test_a_wrong_client_state_or_unknown_subscription_is_refused(
    world: GraphWorld, webhook_server: str
) -> None:
    ids = await subscribed(world)
    row = channels(world)[world.pull_sub_id]  # type: ignore[arg-type]
    before = {s: r.model_dump() for s, r in channels(world).items()}  # type: ignore[arg-type]
    scheduler._take_requested()
    url = webhook_server + HOOK_PATH
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        wrong_secret = await client.post(
            url, content=notification(row.resource_id, "guessed")
        )
        unknown = await client.post(
            url, content=notification("no-such-subscription", "guessed")
        )
        garbage = await client.post(url, content=b"<xml/>")
        assert [wrong_secret.status_code, unknown.status_code, garbage.status_code] == [
            403,
            404,
            400,
        ]
        assert scheduler._take_requested() == []
        assert {s: r.model_dump() for s, r in channels(world).items()} == before  # type: ignore[arg-type]

        genuine = await client.post(
            url, content=notification(row.resource_id, row.token)
        )
        handshake = await client.post(
            url, params={"validationToken": "Validation: check me"}
        )
    assert genuine.status_code == 202
    assert scheduler._take_requested() == [world.connection_id]
    assert (handshake.status_code, handshake.text) == (200, "Validation: check me")
    assert handshake.headers["content-type"].startswith("text/plain")
    assert set(ids.values()) == {
        s.id for s in world.graph.state.subscriptions(world.email)
    }


async def test_reauthorization_required_renews_the_subscription(
    world: GraphWorld,
) -> None:
    ids = await subscribed(world)
    old = ids[world.pull_sub_id]
    scheduler._take_requested()
    assert world.graph.state.send_lifecycle(old, "reauthorizationRequired")

    await eventually(
        lambda: world.connection_id in scheduler._requested,  # type: ignore[attr-defined]
        "the sync the lifecycle notification asked for",
    )
    assert (await world.sync(now=utcnow())).status == "ok"
    renewed = {sub: row.resource_id for sub, row in channels(world).items()}  # type: ignore[arg-type]
    assert renewed[world.pull_sub_id] != old
    fresh = [
        s
        for s in world.graph.state.subscriptions(world.email)
        if s.id == renewed[world.pull_sub_id]
    ]
    assert [s.reauthorization_required for s in fresh] == [False]
    # The old subscription was deleted at Graph, not left to run out.
    live = {s.id for s in world.graph.state.subscriptions(world.email)}
    assert old not in live
