"""The EWS sandbox driven by exchangelib (the field's EWS client), for every
operation the app uses, and for the state changes tests make "in Outlook"."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from ews_support import NS, PASSWORD, account, post, xpath
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, ExtendedProperty
from exchangelib.errors import (
    ErrorInvalidSyncStateData,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorServerBusy,
    UnauthorizedError,
)
from exchangelib.folders import FolderCollection

from sandbox.ews import EwsSandbox, Mailbox, Recurrence

BERLIN = ZoneInfo("Europe/Berlin")
TZ = EWSTimeZone("Europe/Berlin")


class SandboxTestKey(ExtendedProperty):
    property_set_id = "7c6d3e1a-54a1-4c2e-9f7e-0b1d5a1f9e42"
    property_name = "SandboxTestKey"
    property_type = "String"


if "sandbox_test_key" not in {f.name for f in CalendarItem.FIELDS}:
    CalendarItem.register("sandbox_test_key", SandboxTestKey)


def ews_dt(*args: int) -> EWSDateTime:
    return EWSDateTime(*args, tzinfo=TZ)


def test_calendar_folders_are_listed_by_class(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    mailbox.create_folder("Clients")
    mailbox.create_folder("Family", parent="msgfolderroot")
    mailbox.create_folder("Notes", parent="msgfolderroot", folder_class="IPF.Note")
    acc = account(ews, mailbox)
    found = FolderCollection(account=acc, folders=[acc.msg_folder_root]).find_folders(
        depth="Deep"
    )
    calendars = sorted(f.name for f in found if f.folder_class == "IPF.Appointment")
    assert calendars == ["Calendar", "Clients", "Family"]
    assert acc.calendar.name == "Calendar"


def test_create_with_extended_property_sends_no_invitation(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    acc = account(ews, mailbox)
    item = CalendarItem(
        account=acc,
        folder=acc.calendar,
        subject="Session",
        start=ews_dt(2030, 3, 4, 9),
        end=ews_dt(2030, 3, 4, 10),
        required_attendees=["client@example.com"],
        sandbox_test_key="booking-1",
    )
    item.save(send_meeting_invitations="SendToNone")
    stored = mailbox.find_item(item.id)
    assert stored is not None
    assert list(stored.extended.values()) == ["booking-1"]
    assert stored.start == datetime(2030, 3, 4, 8, tzinfo=UTC)
    assert stored.timezone == "Europe/Berlin"
    assert mailbox.sent_meeting_messages == []
    # read back through a restriction on the extended property
    found = list(
        acc.calendar.filter(sandbox_test_key="booking-1").only(
            "subject", "sandbox_test_key"
        )
    )
    assert [(f.subject, f.sandbox_test_key) for f in found] == [
        ("Session", "booking-1")
    ]


def test_sync_pages_through_more_than_512_changes(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    start = datetime(2030, 1, 1, 8, tzinfo=UTC)
    for n in range(600):
        mailbox.add_item(
            "calendar",
            f"E{n}",
            start + timedelta(hours=n),
            start + timedelta(hours=n, minutes=30),
        )
    acc = account(ews, mailbox)
    folder = acc.calendar
    ews.state.clear_log()
    ews.state.capture = True
    try:
        changes = list(
            folder.sync_items(only_fields=["subject"], max_changes_returned=512)
        )
    finally:
        ews.state.capture = False
    assert [c for c, _ in changes] == ["create"] * 600
    assert len({i.id for _, i in changes}) == 600
    pages = [
        r.response for r in ews.state.request_log() if r.operation == "SyncFolderItems"
    ]
    assert [xpath(p, "//m:IncludesLastItemInRange/text()") for p in pages] == [
        ["false"],
        ["true"],
    ]
    assert [len(xpath(p, "//t:Create")) for p in pages] == [512, 88]


def test_incremental_sync_reports_outlook_changes(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    moved = mailbox.add_item(
        "calendar",
        "Moved",
        datetime(2030, 1, 1, 9, tzinfo=UTC),
        datetime(2030, 1, 1, 10, tzinfo=UTC),
    )
    gone = mailbox.add_item(
        "calendar",
        "Gone",
        datetime(2030, 1, 2, 9, tzinfo=UTC),
        datetime(2030, 1, 2, 10, tzinfo=UTC),
    )
    acc = account(ews, mailbox)
    folder = acc.calendar
    list(folder.sync_items(only_fields=["subject"]))
    state = folder.item_sync_state
    mailbox.move_item(
        moved.id,
        datetime(2030, 1, 1, 14, tzinfo=UTC),
        datetime(2030, 1, 1, 15, tzinfo=UTC),
    )
    mailbox.delete_item(gone.id)
    added = mailbox.add_item(
        "calendar",
        "Busy",
        datetime(2030, 1, 3, 9, tzinfo=UTC),
        datetime(2030, 1, 3, 10, tzinfo=UTC),
    )
    changes = list(
        folder.sync_items(
            sync_state=state,
            only_fields=["subject", "start", "legacy_free_busy_status"],
        )
    )
    kinds = {(kind, getattr(item, "id", None)) for kind, item in changes}
    assert kinds == {("update", moved.id), ("delete", gone.id), ("create", added.id)}
    update = next(i for k, i in changes if k == "update")
    assert update.start == datetime(2030, 1, 1, 14, tzinfo=UTC)
    create = next(i for k, i in changes if k == "create")
    assert create.legacy_free_busy_status == "Busy"
    # nothing new since the last state
    assert list(folder.sync_items(sync_state=folder.item_sync_state)) == []


def test_invalidated_sync_state_is_rejected(ews: EwsSandbox, mailbox: Mailbox) -> None:
    acc = account(ews, mailbox)
    folder = acc.calendar
    list(folder.sync_items(only_fields=["subject"]))
    state = folder.item_sync_state
    mailbox.invalidate_sync_states("calendar")
    with pytest.raises(ErrorInvalidSyncStateData):
        list(folder.sync_items(sync_state=state))


def _weekly_series(mailbox: Mailbox) -> tuple[str, list[datetime]]:
    """Mondays 09:00 Berlin from 2030-03-18, five weeks (DST starts 2030-03-31)."""
    first = datetime(2030, 3, 18, 9, tzinfo=BERLIN)
    item = mailbox.add_item(
        "calendar",
        "Weekly",
        first,
        first + timedelta(hours=1),
        timezone="Europe/Berlin",
        recurrence=Recurrence(
            "WeeklyRecurrence",
            days_of_week=("Monday",),
            start=date(2030, 3, 18),
            count=5,
        ),
    )
    originals = [
        (first + timedelta(weeks=n)).replace(tzinfo=BERLIN).astimezone(UTC)
        for n in range(5)
    ]
    return item.id, originals


def test_calendar_view_expands_a_series_with_a_moved_and_a_deleted_occurrence(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    master_id, originals = _weekly_series(mailbox)
    mailbox.move_occurrence(
        master_id,
        originals[1],
        datetime(2030, 3, 26, 14, tzinfo=UTC),
        datetime(2030, 3, 26, 15, tzinfo=UTC),
    )
    mailbox.move_occurrence(
        master_id,
        originals[3],
        datetime(2030, 4, 8, 12, tzinfo=UTC),
        datetime(2030, 4, 8, 13, tzinfo=UTC),
        subject="Weekly (at noon)",
    )
    mailbox.delete_occurrence(master_id, originals[2])
    acc = account(ews, mailbox)
    view = acc.calendar.view(start=ews_dt(2030, 3, 1), end=ews_dt(2030, 5, 1)).only(
        "subject", "start", "end", "type", "uid", "original_start"
    )
    got = [(i.start, i.type, i.subject, i.original_start) for i in view]
    assert got == [
        (datetime(2030, 3, 18, 8, tzinfo=UTC), "Occurrence", "Weekly", originals[0]),
        (datetime(2030, 3, 26, 14, tzinfo=UTC), "Exception", "Weekly", originals[1]),
        (
            datetime(2030, 4, 8, 12, tzinfo=UTC),
            "Exception",
            "Weekly (at noon)",
            originals[3],
        ),
        # 09:00 Berlin is 07:00 UTC once summer time has started
        (datetime(2030, 4, 15, 7, tzinfo=UTC), "Occurrence", "Weekly", originals[4]),
    ]
    master = mailbox.find_item(master_id)
    assert master is not None
    assert {i.uid for i in view} == {master.uid}


def test_calendar_view_stops_at_max_entries(ews: EwsSandbox, mailbox: Mailbox) -> None:
    _weekly_series(mailbox)
    acc = account(ews, mailbox)
    view = list(
        acc.calendar.view(
            start=ews_dt(2030, 3, 1), end=ews_dt(2030, 5, 1), max_items=2
        ).only("start")
    )
    assert len(view) == 2


def test_deleting_an_occurrence_through_ews(ews: EwsSandbox, mailbox: Mailbox) -> None:
    master_id, originals = _weekly_series(mailbox)
    acc = account(ews, mailbox)
    occurrences = list(
        acc.calendar.view(start=ews_dt(2030, 3, 1), end=ews_dt(2030, 5, 1)).only(
            "start"
        )
    )
    occurrences[0].delete(send_meeting_cancellations="SendToNone")
    master = mailbox.find_item(master_id)
    assert master is not None and master.deleted_occurrences == {originals[0]}
    fetched = acc.calendar.get(id=master_id)
    assert [d.start for d in fetched.deleted_occurrences] == [originals[0]]


def test_get_item_returns_requested_properties(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    item = mailbox.add_item(
        "calendar",
        "Declined",
        datetime(2030, 1, 1, 9, tzinfo=UTC),
        datetime(2030, 1, 1, 10, tzinfo=UTC),
        free_busy="Tentative",
        my_response="Decline",
        is_cancelled=True,
    )
    acc = account(ews, mailbox)
    (fetched,) = acc.fetch(
        ids=[(item.id, item.change_key)],
        only_fields=[
            "subject",
            "legacy_free_busy_status",
            "my_response_type",
            "is_cancelled",
            "type",
        ],
    )
    assert (
        fetched.subject,
        fetched.legacy_free_busy_status,
        fetched.my_response_type,
        fetched.is_cancelled,
        fetched.type,
    ) == (
        "Declined",
        "Tentative",
        "Decline",
        True,
        "Single",
    )
    assert fetched.changekey == item.change_key


def _stale_copy(ews: EwsSandbox, mailbox: Mailbox) -> tuple[CalendarItem, str]:
    """An item read by the client, then moved by the user in Outlook."""
    item = mailbox.add_item(
        "calendar",
        "Original",
        datetime(2030, 1, 1, 9, tzinfo=UTC),
        datetime(2030, 1, 1, 10, tzinfo=UTC),
    )
    acc = account(ews, mailbox)
    copy = acc.calendar.get(id=item.id)
    mailbox.move_item(
        item.id,
        datetime(2030, 1, 1, 15, tzinfo=UTC),
        datetime(2030, 1, 1, 16, tzinfo=UTC),
    )
    return copy, item.id


def test_stale_change_key_with_never_overwrite_is_irresolvable(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    copy, item_id = _stale_copy(ews, mailbox)
    copy.subject = "Client edit"
    with pytest.raises(ErrorIrresolvableConflict):
        copy.save(
            update_fields=["subject"],
            conflict_resolution="NeverOverwrite",
            send_meeting_invitations="SendToNone",
        )
    stored = mailbox.find_item(item_id)
    assert stored is not None and stored.subject == "Original"


def test_stale_change_key_with_always_overwrite_wins(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    copy, item_id = _stale_copy(ews, mailbox)
    copy.subject = "Client edit"
    copy.save(
        update_fields=["subject", "start", "end"],
        conflict_resolution="AlwaysOverwrite",
        send_meeting_invitations="SendToNone",
    )
    stored = mailbox.find_item(item_id)
    assert stored is not None
    assert (stored.subject, stored.start) == (
        "Client edit",
        datetime(2030, 1, 1, 9, tzinfo=UTC),
    )


def test_stale_change_key_with_auto_resolve_keeps_newer_server_values(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    copy, item_id = _stale_copy(ews, mailbox)
    copy.subject = "Client edit"
    copy.save(
        update_fields=["subject", "start", "end"],
        conflict_resolution="AutoResolve",
        send_meeting_invitations="SendToNone",
    )
    stored = mailbox.find_item(item_id)
    assert stored is not None
    # subject was not changed on the server: applied; start/end were: kept
    assert (stored.subject, stored.start) == (
        "Client edit",
        datetime(2030, 1, 1, 15, tzinfo=UTC),
    )


def test_current_change_key_updates(ews: EwsSandbox, mailbox: Mailbox) -> None:
    item = mailbox.add_item(
        "calendar",
        "Original",
        datetime(2030, 1, 1, 9, tzinfo=UTC),
        datetime(2030, 1, 1, 10, tzinfo=UTC),
    )
    acc = account(ews, mailbox)
    copy = acc.calendar.get(id=item.id)
    copy.start, copy.end = ews_dt(2030, 1, 1, 11), ews_dt(2030, 1, 1, 12)
    copy.save(
        update_fields=["start", "end"],
        conflict_resolution="NeverOverwrite",
        send_meeting_invitations="SendToNone",
    )
    stored = mailbox.find_item(item.id)
    assert stored is not None and stored.start == datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert copy.changekey == stored.change_key


def test_deleted_item_is_not_found(ews: EwsSandbox, mailbox: Mailbox) -> None:
    item = mailbox.add_item(
        "calendar",
        "Bye",
        datetime(2030, 1, 1, 9, tzinfo=UTC),
        datetime(2030, 1, 1, 10, tzinfo=UTC),
    )
    acc = account(ews, mailbox)
    acc.calendar.get(id=item.id).delete(send_meeting_cancellations="SendToNone")
    (result,) = acc.fetch(ids=[(item.id, None)])
    assert isinstance(result, ErrorItemNotFound)


def test_server_busy_carries_back_off(ews: EwsSandbox, mailbox: Mailbox) -> None:
    acc = account(ews, mailbox)
    folder = acc.calendar
    ews.state.inject_fault("rate_limit", operation="SyncFolderItems", back_off_ms=1500)
    with pytest.raises(ErrorServerBusy) as raised:
        list(folder.sync_items(only_fields=["subject"]))
    assert raised.value.back_off == 1.5


def test_wrong_password_is_unauthorized(ews: EwsSandbox, mailbox: Mailbox) -> None:
    acc = account(ews, mailbox, password="wrong")
    with pytest.raises(UnauthorizedError):
        acc.calendar  # noqa: B018 - the property issues GetFolder


def test_password_change_locks_out_the_old_one(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    ews.state.store.set_password(mailbox.email, "New-456")
    response = post(ews, mailbox, b"<x/>")
    assert response.status_code == 401


def _get_item_request(item_id: str, version: str | None) -> bytes:
    header = (
        f'<soap:Header><t:RequestServerVersion Version="{version}"/></soap:Header>'
        if version
        else ""
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="{NS["s"]}" xmlns:t="{NS["t"]}" xmlns:m="{NS["m"]}">{header}
<soap:Body><m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>
<m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds></m:GetItem></soap:Body></soap:Envelope>""".encode()


@pytest.mark.parametrize(
    ("version", "has_uid", "has_zone"),
    [
        (None, False, False),
        ("Exchange2007_SP1", True, False),
        ("Exchange2016", True, True),
    ],
)
def test_request_server_version_decides_the_schema(
    ews: EwsSandbox,
    mailbox: Mailbox,
    version: str | None,
    has_uid: bool,
    has_zone: bool,
) -> None:
    item = mailbox.add_item(
        "calendar",
        "V",
        datetime(2030, 1, 1, 9, tzinfo=UTC),
        datetime(2030, 1, 1, 10, tzinfo=UTC),
    )
    body = post(ews, mailbox, _get_item_request(item.id, version)).content
    assert bool(xpath(body, "//t:CalendarItem/t:UID")) is has_uid
    assert bool(xpath(body, "//t:CalendarItem/t:StartTimeZone")) is has_zone
    assert xpath(body, "//t:ServerVersionInfo/@MajorBuildNumber") == ["2507"]


def test_unknown_request_server_version_is_a_schema_fault(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    response = post(ews, mailbox, _get_item_request("AAMkAA==", "Exchange2099"))
    assert response.status_code == 500
    assert xpath(response.content, "//e:ResponseCode/text()") == [
        "ErrorSchemaValidation"
    ]


def test_password_is_checked_before_anything_else(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    response = post(ews, None, b"not even xml")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="127.0.0.1"'
    assert PASSWORD  # the fixture user's password is not what was sent


def test_find_item_ties_occurrences_to_their_master_without_the_uid(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    master_id, _ = _weekly_series(mailbox)
    goid = '<t:ExtendedFieldURI DistinguishedPropertySetId="Meeting" PropertyId="35" PropertyType="Binary"/>'
    fields = (
        f'<t:FieldURI FieldURI="calendar:UID"/><t:FieldURI FieldURI="item:Body"/>{goid}'
    )
    view = (
        f'<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
        f"<t:AdditionalProperties>{fields}</t:AdditionalProperties></m:ItemShape>"
        '<m:CalendarView StartDate="2030-03-01T00:00:00Z" EndDate="2030-05-01T00:00:00Z"/>'
        '<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>'
    )
    get = (
        f"<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>{fields}"
        f'</t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="{master_id}"/></m:ItemIds></m:GetItem>'
    )

    def send(operation: str) -> bytes:
        envelope = (
            f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:m="{NS["m"]}" xmlns:t="{NS["t"]}">'
            f'<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>'
            f"<s:Body>{operation}</s:Body></s:Envelope>"
        )
        return post(ews, mailbox, envelope.encode()).content

    found = send(view)
    # FindItem returns neither the body nor the UID ...
    assert xpath(found, "//t:CalendarItem/t:UID") == []
    assert xpath(found, "//t:CalendarItem/t:Body") == []
    # ... but every occurrence carries the series' CleanGlobalObjectId
    occurrence_ids = set(xpath(found, "//t:ExtendedProperty/t:Value/text()"))
    master = send(get)
    assert xpath(master, "//t:CalendarItem/t:UID/text()")  # GetItem does return it
    assert occurrence_ids == set(xpath(master, "//t:ExtendedProperty/t:Value/text()"))
    assert len(xpath(found, "//t:CalendarItem")) == 5
