"""Google push notifications through the real ``POST /webhooks/google``.

The Google sandbox really POSTs to ``COACH_APP_WEBHOOK_BASE_URL`` +
``/webhooks/google``; the sync engine creates, renews and stops the
channels. These tests use the real clock (channels expire in real time),
so their events are placed a few days from today.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from sync.google_world import GoogleWorld

from coach_app.db import session_scope
from coach_app.models import WatchChannel, utcnow
from coach_app.services import connections
from coach_app.sync import channels as sync_channels
from coach_app.sync import scheduler
from coach_app.sync.switches import on_pull_switch
from coach_app.webhooks import PATH

from .conftest import channels, eventually, next_weekday_at_ten

GOOGLE_PATH = PATH.format(provider="google")

ROOT = Path(__file__).resolve().parents[2]


def headers(
    channel_id: str, token: str, resource_id: str, state: str = "exists"
) -> dict[str, str]:
    return {
        "X-Goog-Channel-ID": channel_id,
        "X-Goog-Channel-Token": token,
        "X-Goog-Resource-ID": resource_id,
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/x/events",
        "X-Goog-Resource-State": state,
        "X-Goog-Message-Number": "2",
    }


def deliveries(world: GoogleWorld, channel_id: str) -> list[tuple[str, int | None]]:
    return [
        (d.resource_state, d.status_code)
        for d in world.google.state.delivery_log()
        if d.channel_id == channel_id
    ]


def active(world: GoogleWorld, cal: str) -> list[str]:
    return [c.id for c in world.google.state.active_channels(cal)]


async def synced_with_channels(world: GoogleWorld) -> dict[int, str]:
    """One sync now (real clock); returns the channel id per sub-calendar
    once Google's first ("sync") message of each reached the webhook."""
    result = await world.sync(now=utcnow())
    assert result.status == "ok"
    ids = {sub: row.channel_id for sub, row in channels(world).items()}
    assert set(ids) == {world.pull_sub_id, world.push_sub_id}
    await eventually(
        lambda: all(deliveries(world, c) == [("sync", 200)] for c in ids.values()),
        "the channels' sync messages",
    )
    return ids


async def test_a_notification_syncs_a_new_busy_event_without_waiting_for_the_poll(
    world: GoogleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACH_APP_SYNC_INTERVAL", "3600")
    now = utcnow()
    when = next_weekday_at_ten(now)
    window = (when - dt.timedelta(hours=1), when + dt.timedelta(hours=2))
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduler.sync_loop(stop, interval=3600, url=world.url))
    try:
        # The loop's first round syncs the new connection and opens channels.
        def first_sync_done() -> bool:
            opened = {s: bool(r.resource_id) for s, r in channels(world).items()}
            return world.connection().last_sync_at is not None and opened == {
                world.pull_sub_id: True,
                world.push_sub_id: True,
            }

        await eventually(first_sync_done, "the first sync to open both channels")
        pull_channel = channels(world)[world.pull_sub_id].channel_id
        assert active(world, world.pull_cal) == [pull_channel]
        assert when in world.slots(*window, now=now)
        last_sync = world.connection().last_sync_at
        assert last_sync is not None
        # Nothing is due for an hour: only a notification can bring the event.
        assert scheduler.due_connections(world.url) == []

        world.add("Dentist", when)

        def synced_again() -> bool:
            at = world.connection().last_sync_at
            return at is not None and at > last_sync

        await eventually(synced_again, "the sync the notification asked for")
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=10)

    assert when not in world.slots(*window, now=now)
    assert [(r.summary, r.busy, r.start) for r in world.external()] == [
        ("Dentist", True, when)
    ]
    assert deliveries(world, pull_channel) == [("sync", 200), ("exists", 200)]
    connection = world.connection()
    assert connection.last_sync_at is not None and connection.next_sync_at is not None
    assert connection.next_sync_at - connection.last_sync_at == dt.timedelta(hours=1)


async def test_forged_notifications_are_refused_and_change_nothing(
    world: GoogleWorld, webhook_server: str
) -> None:
    ids = await synced_with_channels(world)
    row = channels(world)[world.pull_sub_id]
    rows_before = {sub: r.model_dump() for sub, r in channels(world).items()}
    connection_before = world.connection().model_dump()
    scheduler._take_requested()
    url = webhook_server + GOOGLE_PATH

    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        wrong_token = await client.post(
            url, headers=headers(row.channel_id, "not-the-secret", row.resource_id)
        )
        unknown_channel = await client.post(
            url, headers=headers("c0ffee" * 5, row.token, row.resource_id)
        )
        wrong_resource = await client.post(
            url, headers=headers(row.channel_id, row.token, "another-resource")
        )
        no_token = await client.post(
            url,
            headers={
                k: v
                for k, v in headers(row.channel_id, "", row.resource_id).items()
                if k != "X-Goog-Channel-Token"
            },
        )
        not_a_notification = await client.post(url)
        refused = [
            wrong_token.status_code,
            unknown_channel.status_code,
            wrong_resource.status_code,
            no_token.status_code,
            not_a_notification.status_code,
        ]
        assert refused == [403, 404, 403, 403, 400]
        assert scheduler._take_requested() == []
        assert {s: r.model_dump() for s, r in channels(world).items()} == rows_before
        assert world.connection().model_dump() == connection_before

        # The genuine headers of the same channel are accepted.
        genuine = await client.post(
            url, headers=headers(row.channel_id, row.token, row.resource_id)
        )
    assert genuine.status_code == 200
    assert scheduler._take_requested() == [world.connection_id]
    assert set(ids.values()) == {r.channel_id for r in channels(world).values()}


async def test_channel_renewal_before_expiry_creates_a_new_one_and_stops_the_old(
    world: GoogleWorld, webhook_server: str
) -> None:
    old = await synced_with_channels(world)
    old_rows = channels(world)
    expires = old_rows[world.pull_sub_id].expires_at
    assert dt.timedelta(days=6) < expires - utcnow() <= dt.timedelta(days=7)

    # Well before expiry: a cheap check, no call to Google.
    sent = len(world.google.state.request_log())
    await world.sync(now=expires - dt.timedelta(hours=7))
    assert {s: r.channel_id for s, r in channels(world).items()} == old
    assert not any(
        r.path.endswith("/watch") or r.path.endswith("/stop")
        for r in world.google.state.request_log()[sent:]
    )

    result = await world.sync(now=expires - dt.timedelta(hours=5))

    assert result.status == "ok"
    new = {s: r.channel_id for s, r in channels(world).items()}
    assert set(new) == set(old) and set(new.values()).isdisjoint(old.values())
    assert active(world, world.pull_cal) == [new[world.pull_sub_id]]
    assert active(world, world.push_cal) == [new[world.push_sub_id]]
    await eventually(
        lambda: deliveries(world, new[world.pull_sub_id]) == [("sync", 200)],
        "the new channel's sync message",
    )
    # The old channel is forgotten here too: its messages are refused.
    stale = old_rows[world.pull_sub_id]
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        answer = await client.post(
            webhook_server + GOOGLE_PATH,
            headers=headers(stale.channel_id, stale.token, stale.resource_id),
        )
    assert answer.status_code == 404


async def test_a_calendar_no_longer_pulled_loses_its_channel(
    world: GoogleWorld,
) -> None:
    ids = await synced_with_channels(world)
    with session_scope(world.url) as s:
        on_pull_switch(s, world.connection_id, False)

    await world.sync(now=utcnow())

    assert {s: r.channel_id for s, r in channels(world).items()} == {
        world.push_sub_id: ids[world.push_sub_id]
    }
    assert active(world, world.pull_cal) == []
    assert active(world, world.push_cal) == [ids[world.push_sub_id]]


async def test_stop_channels_on_disconnect_stops_every_channel_at_google(
    world: GoogleWorld,
) -> None:
    await synced_with_channels(world)

    stopped = await sync_channels.stop_channels(world.connection_id, url=world.url)

    assert stopped == 2
    assert channels(world) == {}
    assert active(world, world.pull_cal) == []
    assert active(world, world.push_cal) == []


PROBE = """
import asyncio, json, httpx
from coach_app.coach_app import app
from coach_app.webhooks import PATH, with_webhooks
GOOGLE_PATH = PATH.format(provider="google")

async def main():
    backend = app._api  # what Reflex serves on its port, as Reflex composes it
    for transform in app.api_transformer:
        backend = transform(backend)
    transport = httpx.ASGITransport(app=backend)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
        bare = await c.post(GOOGLE_PATH)
        unknown = await c.post(GOOGLE_PATH, headers=json.loads(HEADERS))
        ping = await c.get("/ping")
        cross_site = await c.post("/auth/session")  # the session routes, beside
    print(json.dumps([with_webhooks in app.api_transformer, bare.status_code,
                      unknown.status_code, ping.status_code, cross_site.status_code]))

asyncio.run(main())
"""


def test_the_reflex_app_routes_webhooks_to_the_endpoint_and_the_rest_to_reflex(
    sqlite_url: str,
) -> None:
    """In a child process: importing the Reflex app here would make the
    browser tests' AppHarness reload it."""
    probe = PROBE.replace("HEADERS", repr(json.dumps(headers("nope", "x", "y"))))
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "REFLEX_TELEMETRY_ENABLED": "false"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [
        True,
        400,
        404,
        200,
        403,
    ]


async def test_disconnect_that_did_not_stop_channels_still_removes_their_rows(
    world: GoogleWorld,
) -> None:
    """Rows go with their connection (ON DELETE CASCADE); the channels left
    at Google then find no channel here and are answered 404."""
    await synced_with_channels(world)

    with session_scope(world.url) as s:
        connections.forget(s, world.coach_id, world.connection_id)

    with session_scope(world.url) as s:
        assert s.exec(select(WatchChannel)).all() == []
