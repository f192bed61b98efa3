"""The Microsoft sandbox's change notifications: the validation handshake,
notifications with clientState, renewal, deletion and lifecycle events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sandbox.microsoft import MicrosoftSandbox
from tests.microsoft.receiver import WebhookReceiver

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    endpoint = WebhookReceiver()
    try:
        yield endpoint
    finally:
        endpoint.close()


@pytest.fixture
def hook(receiver: WebhookReceiver) -> WebhookReceiver:
    receiver.reset()
    return receiver


def subscription(hook: WebhookReceiver, cal: str, **extra: Any) -> dict[str, Any]:
    return {
        "changeType": "created,updated,deleted",
        "notificationUrl": hook.url,
        "resource": f"me/calendars/{cal}/events",
        "expirationDateTime": (NOW + timedelta(days=2)).isoformat(),
        "clientState": "secret-123",
        **extra,
    }


def test_the_handshake_comes_first_then_changes_are_notified_with_client_state(
    microsoft: MicrosoftSandbox, account: str, api: httpx.Client, hook: WebhookReceiver
) -> None:
    cal = microsoft.state.mailboxes_default(account)
    created = api.post("/subscriptions", json=subscription(hook, cal))
    assert created.status_code == 201, created.text
    body = created.json()
    assert (
        body["clientState"] == "secret-123"
        and body["changeType"] == "created,updated,deleted"
    )
    [validation] = hook.calls
    assert validation.validation_token and validation.validation_token.startswith(
        "Validation: "
    )
    assert validation.headers["Content-Type"].startswith("text/plain")

    event = microsoft.state.add_event(
        cal,
        {
            "subject": "New",
            "start": NOW + timedelta(hours=1),
            "end": NOW + timedelta(hours=2),
        },
    )
    [note] = hook.wait_for(lambda items: len(items) == 1)
    assert note["subscriptionId"] == body["id"] and note["clientState"] == "secret-123"
    assert note["changeType"] == "created"
    rest_id = api.get(f"/me/events/{event['id']}").json()["id"]
    assert note["resourceData"]["id"] == rest_id
    assert note["resource"].endswith(f"/Events/{rest_id}")
    assert note["tenantId"]
    microsoft.state.delete_event(event["id"])
    items = hook.wait_for(lambda items: len(items) == 2)
    assert items[1]["changeType"] == "deleted"
    assert all(
        d.ok for d in microsoft.state.delivery_log() if d.subscription_id == body["id"]
    )


@pytest.mark.parametrize("mode", ["encoded", "status", "json"])
def test_a_wrong_handshake_answer_refuses_the_subscription(
    microsoft: MicrosoftSandbox,
    account: str,
    api: httpx.Client,
    hook: WebhookReceiver,
    mode: str,
) -> None:
    hook.mode, hook.status = mode, 202
    cal = microsoft.state.mailboxes_default(account)
    refused = api.post("/subscriptions", json=subscription(hook, cal))
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "ValidationError"
    assert microsoft.state.subscriptions(account) == []


def test_expiry_beyond_the_maximum_is_refused_and_renewal_extends(
    microsoft: MicrosoftSandbox, account: str, api: httpx.Client, hook: WebhookReceiver
) -> None:
    cal = microsoft.state.mailboxes_default(account)
    too_long = (datetime.now(UTC) + timedelta(minutes=4240)).isoformat()
    refused = api.post(
        "/subscriptions", json=subscription(hook, cal, expirationDateTime=too_long)
    )
    assert refused.status_code == 400 and "4230" in refused.json()["error"]["message"]
    past = api.post(
        "/subscriptions",
        json=subscription(
            hook, cal, expirationDateTime=(NOW - timedelta(minutes=1)).isoformat()
        ),
    )
    assert past.status_code == 400
    sub = api.post(
        "/subscriptions",
        json=subscription(
            hook, cal, expirationDateTime=(NOW + timedelta(hours=1)).isoformat()
        ),
    ).json()
    later = datetime.now(UTC) + timedelta(minutes=4200)
    renewed = api.patch(
        f"/subscriptions/{sub['id']}", json={"expirationDateTime": later.isoformat()}
    )
    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"].startswith(
        later.strftime("%Y-%m-%dT%H:%M")
    )
    assert (
        api.patch(
            f"/subscriptions/{sub['id']}", json={"expirationDateTime": too_long}
        ).status_code
        == 400
    )


def test_delete_stops_notifications(
    microsoft: MicrosoftSandbox, account: str, api: httpx.Client, hook: WebhookReceiver
) -> None:
    cal = microsoft.state.mailboxes_default(account)
    sub = api.post("/subscriptions", json=subscription(hook, cal)).json()
    assert api.delete(f"/subscriptions/{sub['id']}").status_code == 204
    assert api.get(f"/subscriptions/{sub['id']}").status_code == 404
    microsoft.state.add_event(
        cal,
        {
            "subject": "Quiet",
            "start": NOW + timedelta(hours=1),
            "end": NOW + timedelta(hours=2),
        },
    )
    assert microsoft.wait_deliveries()
    assert hook.notifications() == []


def test_lifecycle_notifications_go_to_their_own_url(
    microsoft: MicrosoftSandbox, account: str, api: httpx.Client, hook: WebhookReceiver
) -> None:
    cal = microsoft.state.mailboxes_default(account)
    lifecycle = hook.url.replace("/hook", "/lifecycle")
    sub = api.post(
        "/subscriptions",
        json=subscription(hook, cal, lifecycleNotificationUrl=lifecycle),
    ).json()
    assert sub["lifecycleNotificationUrl"] == lifecycle
    assert [c.path for c in hook.calls] == ["/hook", "/lifecycle"]  # both validated
    for event in ("reauthorizationRequired", "missed"):
        assert microsoft.state.send_lifecycle(sub["id"], event)
    items = hook.wait_for(lambda items: len(items) == 2)
    assert [i["lifecycleEvent"] for i in items] == ["reauthorizationRequired", "missed"]
    assert all(i["clientState"] == "secret-123" for i in items)
    assert microsoft.state.subscriptions(account)[0].reauthorization_required
    assert api.post(f"/subscriptions/{sub['id']}/reauthorize").status_code == 204
    assert not microsoft.state.subscriptions(account)[0].reauthorization_required
    microsoft.state.send_lifecycle(sub["id"], "subscriptionRemoved")
    hook.wait_for(lambda items: len(items) == 3)
    assert microsoft.state.subscriptions(account) == []


def test_a_slow_endpoint_is_recorded_as_a_failed_delivery(
    microsoft: MicrosoftSandbox, account: str, api: httpx.Client, hook: WebhookReceiver
) -> None:
    cal = microsoft.state.mailboxes_default(account)
    sub = api.post("/subscriptions", json=subscription(hook, cal)).json()
    hook.mode, hook.delay = "slow", 3.2
    microsoft.state.add_event(
        cal,
        {
            "subject": "Slow",
            "start": NOW + timedelta(hours=1),
            "end": NOW + timedelta(hours=2),
        },
    )
    assert microsoft.wait_deliveries()
    [delivery] = [
        d for d in microsoft.state.delivery_log() if d.subscription_id == sub["id"]
    ]
    assert delivery.status_code == 202 and delivery.elapsed > 3 and not delivery.ok


def test_a_handshake_answered_too_late_refuses_the_subscription(
    microsoft: MicrosoftSandbox, account: str, api: httpx.Client, hook: WebhookReceiver
) -> None:
    microsoft.state.subs.validation_timeout = 0.3  # Graph waits 10 s
    hook.mode, hook.delay = "slow", 1.0
    try:
        cal = microsoft.state.mailboxes_default(account)
        late = api.post("/subscriptions", json=subscription(hook, cal))
    finally:
        microsoft.state.subs.validation_timeout = 10.0
    assert late.status_code == 400
    assert late.json()["error"]["code"] == "ValidationError"
    assert microsoft.state.subscriptions(account) == []
