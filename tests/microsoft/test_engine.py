"""The sync engine on Office 365 and Outlook.com, against the Microsoft sandbox.

Each test gets a fresh account with a "Work" calendar (pulled) and a
"Coach App" calendar (pushed to), and a connection row exactly as the
Connect wizard stores it (the preset's key, the account's email, the OAuth
tokens encrypted). The engine runs at the sync suite's fixed ``NOW``; the
provider's window is placed at the same moment.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sync.conftest import (  # the sync suite's world and its autouse fixtures
    NOW,
    _environment,
    _restore_provider_registry,
    at,
    use_factory,
)

from coach_app.calendars.microsoft import (
    OFFICE365,
    OUTLOOK,
    MicrosoftGraphProvider,
    Preset,
)
from coach_app.calendars.oauth import AccessTokenSource
from coach_app.calendars.spec import Credentials
from sandbox.microsoft import MicrosoftSandbox

from .shapes import weekly_series
from .world import GraphWorld, new_world

__all__ = ["_environment", "_restore_provider_registry"]

TUESDAY = (at(8, 0), at(9, 0))


@pytest.fixture(params=[OFFICE365, OUTLOOK], ids=["office365", "outlook"])
def world(
    request: pytest.FixtureRequest,
    sqlite_url: str,
    graph: MicrosoftSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> GraphWorld:
    preset: Preset = request.param
    for name, value in graph.env().items():
        monkeypatch.setenv(name, value)
    graph.state.clear_faults()

    def build(
        credentials: Credentials, tokens: AccessTokenSource | None
    ) -> MicrosoftGraphProvider:
        assert tokens is not None
        return MicrosoftGraphProvider(
            tokens, preset=preset, graph_base=graph.graph_base, clock=lambda: NOW
        )

    use_factory(preset.key, build)
    return new_world(sqlite_url, graph, preset)


async def test_a_busy_event_blocks_its_slot_and_a_free_one_does_not(
    world: GraphWorld,
) -> None:
    world.add("Dentist", at(8, 10))
    world.add("Focus (free)", at(8, 13), showAs="free")
    world.add(
        "Town hall (declined)",
        at(8, 15),
        responseStatus={"response": "declined"},
        isOrganizer=False,
    )
    assert (await world.sync()).status == "ok"
    open_slots = world.slots(*TUESDAY)
    assert at(8, 10) not in open_slots
    assert at(8, 13) in open_slots and at(8, 15) in open_slots
    assert sorted(e.summary for e in world.external()) == [
        "Dentist",
        "Focus (free)",
        "Town hall (declined)",
    ]


async def test_an_occurrence_deleted_from_a_weekly_series_frees_exactly_that_slot(
    world: GraphWorld,
) -> None:
    series = world.graph.state.add_event(
        world.pull_cal, weekly_series("Weekly review", at(8, 10), 3)
    )
    assert (await world.sync()).status == "ok"
    weeks = [(at(8 + 7 * n, 0), at(9 + 7 * n, 0)) for n in range(3)]
    assert all(at(8 + 7 * n, 10) not in world.slots(*weeks[n]) for n in range(3))
    world.graph.state.cancel_occurrence(series["id"], at(15, 10))
    assert (await world.sync(now=NOW + dt.timedelta(minutes=10))).status == "ok"
    assert at(15, 10) in world.slots(*weeks[1])
    assert at(8, 10) not in world.slots(*weeks[0])
    assert at(22, 10) not in world.slots(*weeks[2])


async def test_a_booked_appointment_is_pushed_once_carrying_our_key(
    world: GraphWorld,
) -> None:
    appointment_id = world.book(at(8, 11))
    assert (await world.sync()).status == "ok"
    assert (await world.sync(now=NOW + dt.timedelta(minutes=10))).status == "ok"
    [event] = world.graph.state.events(world.push_cal)
    assert event["transactionId"] == f"coachapp:coachapp-appt-{appointment_id}"
    pushed = world.pushed(appointment_id)
    assert pushed is not None and pushed.remote_id == event["id"]


async def test_a_revoked_grant_asks_to_reconnect_and_keeps_busy_times(
    world: GraphWorld,
) -> None:
    world.add("Dentist", at(8, 10))
    assert (await world.sync()).status == "ok"
    world.graph.state.revoke(email=world.email, reason="password_changed")
    result = await world.sync(now=NOW + dt.timedelta(minutes=1))
    assert result.status == "reconnect"
    assert "Please reconnect" in world.connection().last_error
    assert [e.summary for e in world.external()] == ["Dentist"]


async def test_an_appointment_deleted_in_outlook_is_put_back_though_its_transaction_id_is_taken(
    world: GraphWorld,
) -> None:
    """Cancellation Notification off: the coach deletes our event in Outlook,
    and Outlook refuses to reuse its transactionId. The next sync still puts
    the appointment back, once, as a new event the app then follows."""
    world.graph.state.store.remember_deleted_transactions = True
    world.update_connection(cancellation_notification=False)
    appointment_id = world.book(at(8, 11))
    assert (await world.sync()).status == "ok"
    [first] = world.graph.state.events(world.push_cal)
    world.graph.state.delete_event(first["id"])

    result = await world.sync(now=NOW + dt.timedelta(minutes=10))

    assert result.status == "ok"
    assert world.appointment(appointment_id).status == "confirmed"
    [again] = world.graph.state.events(world.push_cal)
    assert again["id"] != first["id"]
    assert again["transactionId"] == f"coachapp:coachapp-appt-{appointment_id}:2"
    pushed = world.pushed(appointment_id)
    assert pushed is not None and pushed.remote_id == again["id"]
    assert world.pending_pushes() == []
