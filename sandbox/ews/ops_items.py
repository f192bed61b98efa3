"""Item operations: GetItem, FindItem (with CalendarView), CreateItem,
UpdateItem, DeleteItem — each as its page in the EWS reference describes.

Occurrences: a CalendarView returns every instance of a recurring master
as its own ``t:CalendarItem`` (``CalendarItemType`` Occurrence or
Exception, its own ``ItemId``, ``UID`` of the series); deleted occurrences
are absent. Such an occurrence id can be read (GetItem), changed
(UpdateItem: it becomes an exception) and deleted (DeleteItem: it joins the
master's ``DeletedOccurrences``), as Outlook does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sandbox.ews.errors import EwsError, schema_validation
from sandbox.ews.ewsxml import (
    Element,
    children,
    local,
    mq,
    parse_datetime,
    sub,
    tq,
)
from sandbox.ews.incoming import DEFAULTS, SIMPLE, ItemValues, read_item, read_property
from sandbox.ews.ops_folders import resolve_folder
from sandbox.ews.shapes import ext_key, parse_shape, write_item
from sandbox.ews.soap import Ctx, Responses, required
from sandbox.ews.store import (
    CALENDAR_CLASS,
    Folder,
    Item,
    Occurrence,
    Override,
    _ext_name,
    is_base64,
    new_item_id,
    parse_occurrence_id,
)

FIND_COUNT_LIMIT = 1000  # EWSFindCountLimit default ("EWS throttling in Exchange")
NOT_FOUND = "The specified object was not found in the store."
Target = Item | Occurrence


# -- ids -----------------------------------------------------------------------


def resolve_item(ctx: Ctx, node: Element) -> Target:
    name = local(node.tag)
    mailbox = ctx.mailbox
    if name == "ItemId":
        item_id = node.get("Id") or ""
        occ = parse_occurrence_id(item_id)
        if occ is not None:
            return _occurrence(ctx, occ[0], occ[1])
        if not is_base64(item_id):
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
        item = mailbox.find_item(item_id)
        if item is None:
            raise EwsError("ErrorItemNotFound", NOT_FOUND)
        return item
    if name == "OccurrenceItemId":
        master = mailbox.find_item(node.get("RecurringMasterId") or "")
        if master is None:
            raise EwsError("ErrorItemNotFound", NOT_FOUND)
        if master.recurrence is None:
            raise EwsError(
                "ErrorCalendarCannotUseIdForRecurringMasterId",
                "The id is not the id of a recurring master.",
            )
        index = int(node.get("InstanceIndex") or "0")
        zone = master.zone
        wall = master.start.astimezone(zone).time()
        for position, original in enumerate(
            master.recurrence.original_starts(wall, zone), 1
        ):
            if position == index:
                if original in master.deleted_occurrences:
                    raise EwsError(
                        "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                        "Occurrence with this index was previously deleted from the recurrence.",
                    )
                return _occurrence(ctx, master.id, original)
        raise EwsError(
            "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
            "Occurrence index is out of recurrence range.",
        )
    if name == "RecurringMasterItemId":
        occ = parse_occurrence_id(node.get("OccurrenceId") or "")
        if occ is None:
            raise EwsError(
                "ErrorCalendarCannotUseIdForOccurrenceId",
                "The id is not the id of an occurrence.",
            )
        master = mailbox.find_item(occ[0])
        if master is None:
            raise EwsError("ErrorItemNotFound", NOT_FOUND)
        return master
    raise schema_validation(f"'{name}' is not an item id element.")


def _occurrence(ctx: Ctx, master_id: str, original: datetime) -> Occurrence:
    master = ctx.mailbox.find_item(master_id)
    if master is None or master.recurrence is None:
        raise EwsError("ErrorItemNotFound", NOT_FOUND)
    for occ in master.occurrences(original + timedelta(seconds=1)):
        if occ.original_start == original:
            return occ
    raise EwsError("ErrorItemNotFound", NOT_FOUND)


# -- GetItem ---------------------------------------------------------------------


def get_item(ctx: Ctx, op: Element) -> Element:
    shape = parse_shape(required(op.find(mq("ItemShape")), "ItemShape"))
    ids = children(required(op.find(mq("ItemIds")), "ItemIds"))
    responses = Responses("GetItem")

    def one(message: Element, node: object) -> None:
        with ctx.mailbox.lock:
            target = resolve_item(ctx, node)  # type: ignore[arg-type]
            write_item(sub(message, mq("Items")), target, shape, ctx.version)

    responses.each(ids, one, error_tail=lambda m: sub(m, mq("Items")))
    return responses.root


# -- FindItem -----------------------------------------------------------------------


def find_item(ctx: Ctx, op: Element) -> Element:
    if op.get("Traversal") not in ("Shallow", "SoftDeleted", "Associated"):
        raise schema_validation("Traversal must be Shallow, SoftDeleted or Associated.")
    shape = parse_shape(required(op.find(mq("ItemShape")), "ItemShape"))
    calendar_view = op.find(mq("CalendarView"))
    paging = op.find(mq("IndexedPageItemView"))
    restriction = op.find(mq("Restriction"))
    parents = children(required(op.find(mq("ParentFolderIds")), "ParentFolderIds"))
    responses = Responses("FindItem")

    def one(message: Element, node: object) -> None:
        folder = resolve_folder(ctx, node)  # type: ignore[arg-type]
        with ctx.mailbox.lock:
            if calendar_view is not None:
                if restriction is not None:
                    raise EwsError(
                        "ErrorInvalidRestriction",
                        "Restrictions cannot be combined with a CalendarView.",
                    )
                found, offset, limit = _calendar_view(folder, calendar_view, ctx)
            else:
                candidates = (
                    []
                    if op.get("Traversal") != "Shallow"
                    else list(folder.items.values())
                )
                if restriction is not None:
                    test = children(restriction)
                    candidates = [
                        i for i in candidates if all(_matches(i, t) for t in test)
                    ]
                found = sorted(candidates, key=lambda i: i.created_seq)
                offset, limit = _paging(paging, len(found))
            page = found[offset : offset + limit]
            attrs = {
                "TotalItemsInView": str(len(found)),
                "IncludesLastItemInRange": "true"
                if offset + len(page) >= len(found)
                else "false",
            }
            if paging is not None and calendar_view is None:
                attrs = {"IndexedPagingOffset": str(offset + len(page)), **attrs}
            items = sub(sub(message, mq("RootFolder"), **attrs), tq("Items"))
            for target in page:
                write_item(items, target, shape, ctx.version, find=True)

    responses.each(parents, one)
    return responses.root


def _paging(view: Element | None, total: int) -> tuple[int, int]:
    if view is None:
        return 0, min(total, FIND_COUNT_LIMIT)
    limit = int(view.get("MaxEntriesReturned") or FIND_COUNT_LIMIT)
    if limit < 1:
        raise EwsError(
            "ErrorInvalidPagingMaxRows", "The maximum number of rows must be positive."
        )
    offset = int(view.get("Offset") or "0")
    if offset < 0:
        raise EwsError(
            "ErrorInvalidIndexedPagingParameters", "The paging offset is negative."
        )
    limit = min(limit, FIND_COUNT_LIMIT)
    if view.get("BasePoint") == "End":
        offset = max(0, total - offset - limit)
    return offset, limit


def _calendar_view(
    folder: Folder, view: Element, ctx: Ctx
) -> tuple[list[Target], int, int]:
    """Singles and occurrences overlapping the window, by start time.

    "CalendarView": items ending before StartDate and items starting on or
    after EndDate are left out. At most ``MaxEntriesReturned`` entries (and
    never more than the EWSFindCountLimit of 1000) are returned; a cut list
    says ``IncludesLastItemInRange="false"`` — CalendarView has no paging,
    so the caller narrows the window.
    """
    if folder.folder_class != CALENDAR_CLASS:
        raise EwsError(
            "ErrorCalendarFolderIsInvalidForCalendarView",
            "The folder is not a calendar folder.",
        )
    try:
        start = parse_datetime(view.get("StartDate"), ctx.zone)
        end = parse_datetime(view.get("EndDate"), ctx.zone)
    except ValueError as exc:
        raise schema_validation(f"CalendarView dates: {exc}") from exc
    if end < start:
        raise EwsError(
            "ErrorCalendarEndDateIsEarlierThanStartDate",
            "The EndDate value must be greater than or equal to the StartDate value.",
        )
    found: list[Target] = []
    for item in folder.items.values():
        if item.recurrence is None:
            if item.end >= start and item.start < end:
                found.append(item)
            continue
        # Exceptions may be moved far from their original start: look a year beyond.
        for occ in item.occurrences(end + timedelta(days=366)):
            if occ.end >= start and occ.start < end:
                found.append(occ)
    found.sort(key=lambda t: (t.start, t.id))
    limit = int(view.get("MaxEntriesReturned") or FIND_COUNT_LIMIT)
    if limit < 1:
        raise EwsError(
            "ErrorInvalidPagingMaxRows", "MaxEntriesReturned must be positive."
        )
    return found, 0, min(limit, FIND_COUNT_LIMIT)


def _matches(item: Item, test: Element) -> bool:
    name = local(test.tag)
    if name == "And":
        return all(_matches(item, t) for t in children(test))
    if name == "Or":
        return any(_matches(item, t) for t in children(test))
    if name == "Not":
        return not all(_matches(item, t) for t in children(test))
    parts = children(test)
    if not parts:
        raise EwsError("ErrorInvalidRestriction", "Empty restriction.")
    value = _property(item, parts[0])
    if name == "Exists":
        return value is not None
    if name in ("IsEqualTo", "IsNotEqualTo"):
        constant = test.find(f"{tq('FieldURIOrConstant')}/{tq('Constant')}")
        if constant is None:
            raise EwsError(
                "ErrorUnsupportedQueryFilter", "Only constants can be compared."
            )
        equal = value is not None and str(value) == constant.get("Value")
        return equal if name == "IsEqualTo" else not equal
    raise EwsError(
        "ErrorUnsupportedQueryFilter", f"{name} restrictions are not supported."
    )


_QUERYABLE = {
    "item:Subject": "subject",
    "calendar:UID": "uid",
    "calendar:Location": "location",
}


def _property(item: Item, path: Element) -> object:
    if local(path.tag) == "ExtendedFieldURI":
        return item.extended.get(ext_key(path))
    attr = _QUERYABLE.get(path.get("FieldURI") or "")
    if attr is None:
        raise EwsError(
            "ErrorUnsupportedPathForQuery",
            "This property cannot be used in a restriction.",
        )
    return getattr(item, attr)


# -- CreateItem ------------------------------------------------------------------------

SEND_INVITATIONS = ("SendToNone", "SendOnlyToAll", "SendToAllAndSaveCopy")


def create_item(ctx: Ctx, op: Element) -> Element:
    send = op.get("SendMeetingInvitations")
    if send is not None and send not in SEND_INVITATIONS:
        raise schema_validation(
            f"'{send}' is not a valid SendMeetingInvitations value."
        )
    target = op.find(mq("SavedItemFolderId"))
    items = children(required(op.find(mq("Items")), "Items"))
    responses = Responses("CreateItem")

    def one(message: Element, node: object) -> None:
        assert isinstance(node, Element)
        if local(node.tag) != "CalendarItem":
            raise EwsError(
                "ErrorInvalidItemForOperationCreateItem",
                "This sandbox stores calendar items only.",
            )
        if send is None:
            raise EwsError(
                "ErrorSendMeetingInvitationsRequired",
                "The SendMeetingInvitations attribute is required for calendar items.",
            )
        tgt = children(target)
        folder = (
            resolve_folder(ctx, tgt[0], "ErrorSavedItemFolderNotFound")
            if tgt
            else ctx.mailbox.calendar
        )
        item = _new_item(ctx, read_item(node, ctx.zone))
        with ctx.mailbox.lock:
            ctx.mailbox.insert(folder, item)
            if item.attendees and send != "SendToNone":
                ctx.mailbox.sent_meeting_messages.append(
                    ("request", item.uid, item.attendees)
                )
        sub(
            sub(sub(message, mq("Items")), tq("CalendarItem")),
            tq("ItemId"),
            Id=item.id,
            ChangeKey=item.change_key,
        )

    responses.each(items, one, error_tail=lambda m: sub(m, mq("Items")))
    return responses.root


def _new_item(ctx: Ctx, values: ItemValues) -> Item:
    data = dict(values.values)
    if "start" not in data or "end" not in data:
        raise EwsError(
            "ErrorInvalidPropertySet", "A calendar item needs a Start and an End."
        )
    item = Item(
        id=new_item_id(),
        folder_id="",
        subject=str(data.pop("subject", "")),
        start=data.pop("start"),  # type: ignore[arg-type]
        end=data.pop("end"),  # type: ignore[arg-type]
        organizer=(ctx.mailbox.display_name, ctx.mailbox.email),
        extended=dict(values.extended),
    )
    if "timezone" not in data and ctx.zone is not None:
        data["timezone"] = ctx.zone.key
    for name, value in data.items():
        setattr(item, name, value)
    _normalise(item)
    return item


def _normalise(item: Item) -> None:
    """Checks and adjustments Exchange applies when an item is saved."""
    if item.end < item.start:
        raise EwsError(
            "ErrorCalendarEndDateIsEarlierThanStartDate",
            "The end date is earlier than the start date.",
        )
    if item.end - item.start > timedelta(days=5 * 365):
        raise EwsError(
            "ErrorCalendarDurationIsTooLong", "The duration is longer than 5 years."
        )
    zone = ZoneInfo(item.timezone)
    if item.is_all_day:
        # "Create all-day events by using EWS": a non-midnight start goes back
        # to the previous midnight, a non-midnight end on to the next one.
        start_local = item.start.astimezone(zone)
        end_local = item.end.astimezone(zone)
        start_day = start_local.date()
        end_day = (
            end_local.date()
            if end_local.time() == datetime.min.time()
            else end_local.date() + timedelta(days=1)
        )
        if end_day <= start_day:
            end_day = start_day + timedelta(days=1)
        item.start = datetime.combine(start_day, datetime.min.time(), zone).astimezone(
            UTC
        )
        item.end = datetime.combine(end_day, datetime.min.time(), zone).astimezone(UTC)
    if item.recurrence is not None:
        # The master's Start/End become those of the first occurrence.
        first = item.first_original_start()
        if first is None:
            raise EwsError(
                "ErrorRecurrenceHasNoOccurrence",
                "The recurrence has no occurrence in the specified range.",
            )
        shift = first - item.start
        item.start, item.end = item.start + shift, item.end + shift


# -- UpdateItem ------------------------------------------------------------------------

CONFLICT_MODES = ("NeverOverwrite", "AutoResolve", "AlwaysOverwrite")
SEND_UPDATES = (
    "SendToNone",
    "SendOnlyToAll",
    "SendOnlyToChanged",
    "SendToAllAndSaveCopy",
    "SendToChangedAndSaveCopy",
)
OCCURRENCE_FIELDS = {"start", "end", "subject", "location", "free_busy"}


def update_item(ctx: Ctx, op: Element) -> Element:
    mode = op.get("ConflictResolution") or "AutoResolve"
    if mode not in CONFLICT_MODES:
        raise schema_validation(f"'{mode}' is not a ConflictResolution value.")
    send = op.get("SendMeetingInvitationsOrCancellations")
    if send is not None and send not in SEND_UPDATES:
        raise schema_validation(
            f"'{send}' is not a SendMeetingInvitationsOrCancellations value."
        )
    changes = children(required(op.find(mq("ItemChanges")), "ItemChanges"))
    responses = Responses("UpdateItem")

    def one(message: Element, node: object) -> None:
        assert isinstance(node, Element)
        parts = children(node)
        if len(parts) != 2 or local(parts[1].tag) != "Updates":
            raise schema_validation("ItemChange needs an item id and Updates.")
        if send is None:
            raise EwsError(
                "ErrorSendMeetingInvitationsOrCancellationsRequired",
                "SendMeetingInvitationsOrCancellations is required for calendar items.",
            )
        with ctx.mailbox.lock:
            target = resolve_item(ctx, parts[0])
            master = target.master if isinstance(target, Occurrence) else target
            wanted = _read_updates(children(parts[1]), target, ctx)
            conflicts = _resolve_conflicts(
                master, parts[0].get("ChangeKey"), mode, wanted
            )
            _apply(ctx, target, wanted)
            if master.attendees and send != "SendToNone":
                ctx.mailbox.sent_meeting_messages.append(
                    ("update", master.uid, master.attendees)
                )
            item_id = target.id if isinstance(target, Occurrence) else master.id
            sub(
                sub(sub(message, mq("Items")), tq("CalendarItem")),
                tq("ItemId"),
                Id=item_id,
                ChangeKey=master.change_key,
            )
            sub(sub(message, mq("ConflictResults")), tq("Count"), str(conflicts))

    responses.each(changes, one, error_tail=lambda m: sub(m, mq("Items")))
    return responses.root


def _read_updates(updates: list[Element], target: Target, ctx: Ctx) -> ItemValues:
    wanted = ItemValues()
    zone = ZoneInfo(
        (target.master if isinstance(target, Occurrence) else target).timezone
    )
    for update in updates:
        kind = local(update.tag)
        parts = children(update)
        if not parts:
            raise schema_validation(f"{kind} needs a property path.")
        path = parts[0]
        if kind == "DeleteItemField":
            if local(path.tag) == "ExtendedFieldURI":
                wanted.removed_extended.append(ext_key(path))
            else:
                attr = _attr_of(path)
                if attr not in DEFAULTS:
                    raise EwsError(
                        "ErrorInvalidPropertyDelete", "This property cannot be deleted."
                    )
                wanted.values[attr] = DEFAULTS[attr]
            continue
        if kind not in ("SetItemField", "AppendToItemField") or len(parts) != 2:
            raise schema_validation(f"{kind} needs a property path and an item.")
        if kind == "AppendToItemField":
            raise EwsError(
                "ErrorInvalidPropertyAppend",
                "This property does not support appending.",
            )
        values = children(parts[1])
        if len(values) != 1:
            raise EwsError(
                "ErrorUpdatePropertyMismatch",
                "SetItemField must carry exactly one property.",
            )
        value = values[0]
        if local(path.tag) == "ExtendedFieldURI":
            if local(value.tag) != "ExtendedProperty" or ext_key(
                required(value.find(tq("ExtendedFieldURI")), "ExtendedFieldURI")
            ) != ext_key(path):
                raise EwsError(
                    "ErrorUpdatePropertyMismatch",
                    "The property path and the value differ.",
                )
        elif (path.get("FieldURI") or "").split(":", 1)[-1] != local(value.tag):
            raise EwsError(
                "ErrorUpdatePropertyMismatch", "The property path and the value differ."
            )
        read_property(value, wanted, ctx.zone or zone)
    if isinstance(target, Occurrence):
        extra = set(wanted.values) - OCCURRENCE_FIELDS
        if extra or wanted.extended or wanted.removed_extended:
            raise EwsError(
                "ErrorInvalidPropertyForOperation",
                "This property cannot be changed on a single occurrence.",
            )
    return wanted


def _attr_of(path: Element) -> str:
    uri = path.get("FieldURI") or ""
    element_name = uri.split(":", 1)[-1]
    return SIMPLE.get(element_name, element_name)


def _resolve_conflicts(
    master: Item, change_key: str | None, mode: str, wanted: ItemValues
) -> int:
    """Apply the ConflictResolution mode; return how many changes lost."""
    if change_key is None or mode == "AlwaysOverwrite":
        return 0
    version = master.version_of_key(change_key)
    if version is None:
        raise EwsError("ErrorInvalidChangeKey", "The change key is invalid.")
    if version >= master.version:
        return 0
    if mode == "NeverOverwrite":
        raise EwsError(
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change "
            "key passed in the request does not match the current change key for the item.",
        )
    # AutoResolve: a change is applied unless the server's copy of that
    # property is newer than the client's key (ConflictResolutionMode).
    lost = 0
    for attr in list(wanted.values):
        if master.field_versions.get(attr, 0) > version:
            del wanted.values[attr]
            lost += 1
    for key in list(wanted.extended):
        if master.field_versions.get(_ext_name(key), 0) > version:
            del wanted.extended[key]
            lost += 1
    return lost


def _apply(ctx: Ctx, target: Target, wanted: ItemValues) -> None:
    mailbox = ctx.mailbox
    if isinstance(target, Occurrence):
        master = target.master
        override = master.overrides.get(target.original_start) or Override(
            target.start, target.end
        )
        for attr, value in wanted.values.items():
            setattr(override, attr, value)
        if override.end < override.start:
            raise EwsError(
                "ErrorCalendarEndDateIsEarlierThanStartDate",
                "The end date is earlier than the start date.",
            )
        master.overrides[target.original_start] = override
        mailbox.touch(master, ("recurrence",))
        return
    item = target
    backup = {
        attr: getattr(item, attr) for attr in wanted.values if hasattr(item, attr)
    }
    for attr, value in wanted.values.items():
        if hasattr(item, attr):
            setattr(item, attr, value)
    try:
        _normalise(item)
    except EwsError:
        for attr, value in backup.items():
            setattr(item, attr, value)
        raise
    if "recurrence" in wanted.values:
        # A new pattern replaces the series: its exceptions go with the old one.
        item.overrides.clear()
        item.deleted_occurrences.clear()
    for key, value in wanted.extended.items():
        item.extended[key] = value
    for key in wanted.removed_extended:
        item.extended.pop(key, None)
    changed = [a for a in wanted.values if hasattr(item, a)]
    changed += [_ext_name(k) for k in (*wanted.extended, *wanted.removed_extended)]
    mailbox.touch(item, changed)


# -- DeleteItem ------------------------------------------------------------------------

DELETE_TYPES = ("HardDelete", "SoftDelete", "MoveToDeletedItems")
SEND_CANCELLATIONS = ("SendToNone", "SendOnlyToAll", "SendToAllAndSaveCopy")


def delete_item(ctx: Ctx, op: Element) -> Element:
    delete_type = op.get("DeleteType")
    if delete_type not in DELETE_TYPES:
        raise schema_validation(
            "DeleteType must be HardDelete, SoftDelete or MoveToDeletedItems."
        )
    send = op.get("SendMeetingCancellations")
    if send is not None and send not in SEND_CANCELLATIONS:
        raise schema_validation(f"'{send}' is not a SendMeetingCancellations value.")
    ids = children(required(op.find(mq("ItemIds")), "ItemIds"))
    responses = Responses("DeleteItem")

    def one(message: Element, node: object) -> None:
        mailbox = ctx.mailbox
        with mailbox.lock:
            target = resolve_item(ctx, node)  # type: ignore[arg-type]
            if send is None:
                raise EwsError(
                    "ErrorSendMeetingCancellationsRequired",
                    "SendMeetingCancellations is required for calendar items.",
                )
            master = target.master if isinstance(target, Occurrence) else target
            if master.attendees and send != "SendToNone":
                mailbox.sent_meeting_messages.append(
                    ("cancel", master.uid, master.attendees)
                )
            if isinstance(target, Occurrence):
                mailbox.delete_occurrence(master.id, target.original_start)
            elif (
                delete_type == "MoveToDeletedItems"
                and mailbox.folders[master.folder_id].distinguished != "deleteditems"
            ):
                deleted = mailbox.distinguished("deleteditems")
                assert deleted is not None
                mailbox.move_to(master, deleted)
            else:
                mailbox.remove(master)

    responses.each(ids, one)
    return responses.root
