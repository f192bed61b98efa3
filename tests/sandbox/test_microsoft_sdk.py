"""Microsoft's own Python SDK (msgraph-sdk) drives the sandbox: if its
models parse every answer without leftovers, the sandbox speaks Graph's
shapes; if its request builders' URLs work, it serves Graph's paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.event import Event
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.calendars.item.calendar_view.delta.delta_request_builder import (
    DeltaRequestBuilder,
)

from sandbox.microsoft import MicrosoftSandbox
from tests.microsoft.receiver import WebhookReceiver
from tests.microsoft.shapes import weekly_series

NOW = datetime.now(UTC).replace(microsecond=0)
# What may be left in a parsed model's additional_data: OData annotations
# the v1.0 models have no property for.
ANNOTATIONS = {"@odata.etag", "@odata.context", "@removed"}


class _Token(AccessTokenProvider):
    def __init__(self, token: str) -> None:
        self.token = token

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        return self.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator(["127.0.0.1"])


@pytest.fixture
def client(microsoft: MicrosoftSandbox, account: str) -> GraphServiceClient:
    token = microsoft.state.issue_tokens(account).access_token
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(_Token(token)))
    adapter.base_url = microsoft.graph_base
    return GraphServiceClient(request_adapter=adapter)


def leftovers(model: Any) -> set[str]:
    return set(model.additional_data or {}) - ANNOTATIONS


def delta_config(**query: str) -> RequestConfiguration:
    config = RequestConfiguration(
        query_parameters=DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            **query
        )
        if query
        else None
    )
    config.headers.add("Prefer", "odata.maxpagesize=2")
    return config


async def test_the_sdk_lists_calendars_and_pages_a_delta_round_to_a_removal(
    microsoft: MicrosoftSandbox, account: str, client: GraphServiceClient
) -> None:
    read_only = microsoft.state.add_calendar(account, "Team rota", can_edit=False)
    cal = microsoft.state.mailboxes_default(account)
    for n in range(3):
        microsoft.state.add_event(
            cal,
            {
                "subject": f"e{n}",
                "start": NOW + timedelta(hours=n + 1),
                "end": NOW + timedelta(hours=n + 2),
            },
        )
    series_start = NOW + timedelta(days=1)
    series = microsoft.state.add_event(cal, weekly_series("Weekly", series_start, 2))

    calendars = await client.me.calendars.get()
    assert calendars is not None and calendars.value
    assert [(c.id, c.can_edit) for c in calendars.value] == [
        (cal, True),
        (read_only, False),
    ]
    assert all(not leftovers(c) for c in calendars.value)

    builder = client.me.calendars.by_calendar_id(cal).calendar_view.delta
    page = await builder.get(
        request_configuration=delta_config(
            start_date_time=(NOW - timedelta(days=1)).isoformat(),
            end_date_time=(NOW + timedelta(days=30)).isoformat(),
        )
    )
    events: list[Event] = []
    while True:
        assert page is not None and page.value is not None
        assert not (page.odata_next_link and page.odata_delta_link)
        events.extend(page.value)
        if page.odata_delta_link:
            break
        page = await builder.with_url(page.odata_next_link).get(
            request_configuration=delta_config()
        )
    assert len(events) == 5
    assert sorted(str(e.type.value) for e in events if e.type) == [
        "occurrence",
        "occurrence",
        "singleInstance",
        "singleInstance",
        "singleInstance",
    ]
    assert all(not leftovers(e) for e in events)
    assert all(e.start and e.start.time_zone == "UTC" for e in events)

    microsoft.state.cancel_occurrence(series["id"], series_start)
    round_two = await builder.with_url(page.odata_delta_link).get(
        request_configuration=delta_config()
    )
    assert round_two is not None and round_two.value is not None
    [gone] = round_two.value
    assert (gone.additional_data or {}).get("@removed") == {"reason": "deleted"}
    assert round_two.odata_delta_link


async def test_the_sdk_creates_once_updates_with_if_match_and_deletes(
    microsoft: MicrosoftSandbox, account: str, client: GraphServiceClient
) -> None:
    cal = microsoft.state.mailboxes_default(account)

    def session() -> Event:
        return Event(
            subject="Coaching session",
            start=DateTimeTimeZone(date_time="2030-01-07T10:00:00", time_zone="UTC"),
            end=DateTimeTimeZone(date_time="2030-01-07T11:00:00", time_zone="UTC"),
            transaction_id="coachapp-appt-7",
        )

    events = client.me.calendars.by_calendar_id(cal).events
    first = await events.post(session())
    second = await events.post(session())
    assert first is not None and second is not None and first.id == second.id
    assert len(microsoft.state.events(cal)) == 1
    assert first.transaction_id == "coachapp-appt-7" and not leftovers(first)
    etag = (first.additional_data or {})["@odata.etag"]

    def if_match(value: str) -> RequestConfiguration:
        config = RequestConfiguration()
        config.headers.add("If-Match", value)
        return config

    item = client.me.events.by_event_id(str(first.id))
    updated = await item.patch(
        Event(subject="Moved session"), request_configuration=if_match(etag)
    )
    assert updated is not None and updated.subject == "Moved session"
    with pytest.raises(ODataError) as stale:
        await item.patch(
            Event(subject="Lost update"), request_configuration=if_match(etag)
        )
    assert stale.value.response_status_code == 412
    assert (
        stale.value.error is not None
        and stale.value.error.code == "ErrorIrresolvableConflict"
    )
    await item.delete(
        request_configuration=if_match((updated.additional_data or {})["@odata.etag"])
    )
    with pytest.raises(ODataError) as missing:
        await item.get()
    assert missing.value.response_status_code == 404


async def test_the_sdk_creates_and_deletes_a_subscription(
    microsoft: MicrosoftSandbox, account: str, client: GraphServiceClient
) -> None:
    cal = microsoft.state.mailboxes_default(account)
    hook = WebhookReceiver()
    try:
        created = await client.subscriptions.post(
            Subscription(
                change_type="created,updated,deleted",
                notification_url=hook.url,
                resource=f"me/calendars/{cal}/events",
                expiration_date_time=NOW + timedelta(days=2),
                client_state="sdk-secret",
            )
        )
        assert created is not None and created.id and not leftovers(created)
        assert created.client_state == "sdk-secret"
        assert hook.calls[0].validation_token
        await client.subscriptions.by_subscription_id(created.id).delete()
        assert microsoft.state.subscriptions(account) == []
    finally:
        hook.close()
