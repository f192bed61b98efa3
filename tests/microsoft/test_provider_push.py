"""The Graph provider writing to the Microsoft sandbox (creates that cannot
duplicate, writes guarded by etags) and managing change notifications."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from coach_app.calendars import (
    NotFound,
    OutgoingEvent,
    PreconditionFailed,
    ProviderError,
)
from coach_app.calendars.microsoft import (
    is_authentic,
    parse_notifications,
    validation_answer,
)
from sandbox.microsoft import MicrosoftSandbox

from .conftest import ProviderMaker
from .receiver import Call, WebhookReceiver

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def session(
    key: str, hours: float = 5, summary: str = "Coaching with Ann"
) -> OutgoingEvent:
    start = NOW + timedelta(hours=hours)
    return OutgoingEvent(
        key=key,
        summary=summary,
        start=start,
        end=start + timedelta(hours=1),
        description="Managed by Coach App",
        location="Online",
    )


async def test_a_retried_create_makes_one_event_carrying_our_key(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker
) -> None:
    provider = make_provider()
    first = await provider.create(cal, session("coachapp-appt-1"), "coachapp-appt-1")
    again = await provider.create(cal, session("coachapp-appt-1"), "coachapp-appt-1")
    assert first[0] == again[0] and first[1]
    assert len(graph.state.events(cal)) == 1
    fetched = await provider.get(cal, first[0])
    assert fetched is not None and fetched.coach_key == "coachapp-appt-1"
    listing = await provider.list_all(cal)
    [listed] = listing.changed
    assert (listed.id, listed.coach_key, listed.etag) == (
        first[0],
        "coachapp-appt-1",
        first[1],
    )


async def test_a_create_that_met_a_503_is_sent_again_and_still_makes_one(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker
) -> None:
    provider = make_provider()
    graph.state.inject_fault("server_error", status=503, method="POST")
    created = await provider.create(cal, session("coachapp-appt-2"), "coachapp-appt-2")
    assert [e["id"] for e in graph.state.events(cal)] == [created[0]]


async def test_updates_and_deletes_need_the_current_etag(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker
) -> None:
    provider = make_provider()
    event_id, etag = await provider.create(
        cal, session("coachapp-appt-3"), "coachapp-appt-3"
    )
    assert etag
    new_etag = await provider.update(
        cal, event_id, session("coachapp-appt-3", hours=8), etag
    )
    assert new_etag and new_etag != etag
    moved = graph.state.get_event(event_id)
    assert moved is not None and moved["start"]["dateTime"].startswith(
        (NOW + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")
    )
    with pytest.raises(PreconditionFailed):
        await provider.update(cal, event_id, session("coachapp-appt-3", hours=9), etag)
    graph.state.update_event(event_id, {"subject": "Edited in Outlook"})
    with pytest.raises(PreconditionFailed):
        await provider.delete(cal, event_id, new_etag)
    await provider.delete(cal, event_id, None)
    assert await provider.get(cal, event_id) is None
    with pytest.raises(NotFound):
        await provider.delete(cal, event_id, None)


async def test_a_read_only_calendar_refuses_writes_in_plain_words(
    graph: MicrosoftSandbox, email: str, make_provider: ProviderMaker
) -> None:
    shared = graph.state.add_calendar(email, "Team rota", can_edit=False)
    with pytest.raises(ProviderError) as caught:
        await make_provider().create(
            shared, session("coachapp-appt-4"), "coachapp-appt-4"
        )
    assert "only view this calendar" in caught.value.user_message


async def test_subscriptions_are_validated_notify_with_our_secret_renew_and_stop(
    graph: MicrosoftSandbox, email: str, cal: str, make_provider: ProviderMaker
) -> None:
    provider = make_provider()
    hook = _AnsweringHook()
    try:
        subscription = await provider.watch(
            cal, hook.url, "our-secret", timedelta(days=7)
        )
        assert subscription.id == subscription.resource_id
        assert subscription.expiration is not None
        assert subscription.expiration <= datetime.now(UTC) + timedelta(minutes=4230)
        [live] = graph.state.subscriptions(email)
        assert live.client_state == "our-secret" and live.calendar_id == cal

        graph.state.add_event(
            cal,
            {
                "subject": "New",
                "start": NOW + timedelta(hours=2),
                "end": NOW + timedelta(hours=3),
            },
        )
        hook.wait_for(lambda items: len(items) == 1)
        [note] = parse_notifications(hook.last_body()) or []
        assert is_authentic(note, subscription) and note.change_type == "created"
        forged = parse_notifications(
            hook.last_body().replace(b"our-secret", b"guessed")
        )
        assert forged is not None and not is_authentic(forged[0], subscription)

        graph.state.send_lifecycle(subscription.id, "reauthorizationRequired")
        hook.wait_for(lambda items: len(items) == 2)
        [lifecycle] = parse_notifications(hook.last_body()) or []
        assert lifecycle.lifecycle_event == "reauthorizationRequired"
        renewed = await provider.renew(subscription.id, timedelta(days=2))
        assert renewed is not None and renewed > datetime.now(UTC) + timedelta(days=1)
        assert not graph.state.subscriptions(email)[0].reauthorization_required

        await provider.stop_channel("ours", subscription.id)
        assert graph.state.subscriptions(email) == []
        await provider.stop_channel("ours", subscription.id)  # already gone: fine
    finally:
        hook.close()


def test_the_validation_answer_is_the_decoded_token_as_plain_text() -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 1"
    assert validation_answer({"validationToken": token}) == (
        200,
        "text/plain; charset=utf-8",
        token,
    )
    assert validation_answer({}) is None
    assert parse_notifications(b"not json") is None
    assert parse_notifications(b'{"value": [{"no": "subscription"}]}') is None


class _AnsweringHook(WebhookReceiver):
    """A webhook endpoint that answers the handshake with the provider's own
    helper, as the app's route does."""

    def answer(self, call: Call, raw_query: str) -> tuple[int, str, str]:
        found = validation_answer(call.query)
        return found if found is not None else (202, "text/plain", "")

    def last_body(self) -> bytes:
        return json.dumps(self.calls[-1].body).encode()


async def test_an_event_the_coach_deleted_is_put_back_when_its_transaction_id_is_refused(
    graph: MicrosoftSandbox, cal: str, make_provider: ProviderMaker
) -> None:
    """Outlook may keep a transactionId used once the event it made is
    deleted, and answer ``ErrorDuplicateTransactionId``: the app's event is
    then made with a fresh one, still carrying the app's key."""
    graph.state.store.remember_deleted_transactions = True
    provider = make_provider()
    first_id, _ = await provider.create(
        cal, session("coachapp-appt-9"), "coachapp-appt-9"
    )
    graph.state.delete_event(first_id)  # deleted in Outlook

    again_id, etag = await provider.create(
        cal, session("coachapp-appt-9"), "coachapp-appt-9"
    )

    assert again_id != first_id and etag
    [stored] = graph.state.events(cal)
    assert stored["id"] == again_id
    assert stored["transactionId"] == "coachapp:coachapp-appt-9:2"
    fetched = await provider.get(cal, again_id)
    assert fetched is not None and fetched.coach_key == "coachapp-appt-9"
    # Retried (an answer lost), that create finds the same event; deleted
    # again, the next one is put back under the next transactionId.
    retried, _ = await provider.create(
        cal, session("coachapp-appt-9"), "coachapp-appt-9"
    )
    assert retried == again_id and len(graph.state.events(cal)) == 1
    graph.state.delete_event(again_id)
    third_id, _ = await provider.create(
        cal, session("coachapp-appt-9"), "coachapp-appt-9"
    )
    [stored] = graph.state.events(cal)
    assert (stored["id"], stored["transactionId"]) == (
        third_id,
        "coachapp:coachapp-appt-9:3",
    )
