"""Response shapes: which properties of an item or folder a response carries.

``ItemShape``/``FolderShape`` hold a ``BaseShape`` (IdOnly, Default,
AllProperties) plus ``AdditionalProperties`` (``FieldURI`` and
``ExtendedFieldURI``), as on the reference pages "ItemShape", "BaseShape"
and "AdditionalProperties". Properties are written in the order of the
``CalendarItemType`` schema sequence (ItemType's elements first), the order
of the "GetItem operation (calendar item)" AllProperties example.

Extended properties are returned only when asked for by
``ExtendedFieldURI``, never by a base shape, as the "ExtendedProperty"
reference describes. Fields newer than the request's
``RequestServerVersion`` are left out (``StartTimeZone``/``EndTimeZone``
need Exchange2010; ``UID`` needs Exchange2007_SP1).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP

from sandbox.ews.ewsxml import (
    Element,
    children,
    fmt_bool,
    fmt_datetime,
    local,
    sub,
    tq,
)
from sandbox.ews.store import ExtKey, Folder, Item, Mailbox, Occurrence

VERSION_ORDER = (
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
)


def at_least(version: str, minimum: str) -> bool:
    return VERSION_ORDER.index(version) >= VERSION_ORDER.index(minimum)


@dataclass
class Shape:
    base: str = "IdOnly"
    fields: set[str] = field(default_factory=set)
    extended: list[ExtKey] = field(default_factory=list)


_DISTINGUISHED = {
    name.lower(): name
    for name in (
        "Meeting",
        "Appointment",
        "Common",
        "PublicStrings",
        "Address",
        "InternetHeaders",
        "CalendarAssistant",
        "UnifiedMessaging",
        "Task",
        "Sharing",
    )
}


def ext_key(node: Element) -> ExtKey:
    """The identity of an ``ExtendedFieldURI`` element."""
    set_id = node.get("PropertySetId") or node.get("DistinguishedPropertySetId") or ""
    name = (
        node.get("PropertyName")
        or node.get("PropertyId")
        or node.get("PropertyTag")
        or ""
    )
    return (set_id.strip("{}").lower(), name, node.get("PropertyType") or "")


def parse_shape(node: Element | None) -> Shape:
    if node is None:
        raise ValueError("a shape element is required")
    base = node.find(tq("BaseShape"))
    if base is None or (base.text or "").strip() not in (
        "IdOnly",
        "Default",
        "AllProperties",
    ):
        raise ValueError("BaseShape must be IdOnly, Default or AllProperties")
    shape = Shape(base=base.text.strip())
    for prop in children(node.find(tq("AdditionalProperties"))):
        if local(prop.tag) == "FieldURI":
            shape.fields.add(prop.get("FieldURI", ""))
        elif local(prop.tag) == "ExtendedFieldURI":
            shape.extended.append(ext_key(prop))
        elif local(prop.tag) == "IndexedFieldURI":
            continue  # contact/message indexed fields: nothing on calendar items
        else:
            raise ValueError(f"unknown property path {local(prop.tag)}")
    return shape


# -- calendar items --------------------------------------------------------------

Target = Item | Occurrence
Writer = Callable[[Element, Target, str], None]

DEFAULT_ITEM = {
    "item:Subject",
    "calendar:Start",
    "calendar:End",
    "calendar:LegacyFreeBusyStatus",
    "calendar:Location",
    "calendar:CalendarItemType",
    "calendar:Organizer",
}


def _master(target: Target) -> Item:
    return target.master if isinstance(target, Occurrence) else target


def _value(target: Target, name: str) -> object:
    return (
        target.value(name) if isinstance(target, Occurrence) else getattr(target, name)
    )


def _text(tag: str, get: Callable[[Target], str | None]) -> Writer:
    def write(parent: Element, target: Target, version: str) -> None:
        value = get(target)
        if value is not None:
            sub(parent, tq(tag), value)

    return write


def _zone_id(target: Target) -> str:
    name = _master(target).timezone
    if name in ("UTC", "Etc/UTC"):
        return "UTC"
    return IANA_TO_MS_TIMEZONE_MAP.get(name, ("UTC", ""))[0]


def _tz(tag: str) -> Writer:
    def write(parent: Element, target: Target, version: str) -> None:
        if at_least(version, "Exchange2010"):
            sub(parent, tq(tag), Id=_zone_id(target))

    return write


def _uid(parent: Element, target: Target, version: str) -> None:
    if at_least(version, "Exchange2007_SP1"):
        sub(parent, tq("UID"), _master(target).uid)


def _body(parent: Element, target: Target, version: str) -> None:
    body = _master(target).body
    sub(parent, tq("Body"), body or "", BodyType="Text")


def _organizer(parent: Element, target: Target, version: str) -> None:
    name, email = _master(target).organizer
    if not email:
        return
    mailbox = sub(sub(parent, tq("Organizer")), tq("Mailbox"))
    sub(mailbox, tq("Name"), name or email)
    sub(mailbox, tq("EmailAddress"), email)
    sub(mailbox, tq("RoutingType"), "SMTP")


def _original_start(parent: Element, target: Target, version: str) -> None:
    if isinstance(target, Occurrence):
        sub(parent, tq("OriginalStart"), fmt_datetime(target.original_start))


def _is_recurring(target: Target) -> str:
    return fmt_bool(isinstance(target, Occurrence) or target.recurrence is not None)


def _duration(target: Target) -> str:
    seconds = int((target.end - target.start).total_seconds())
    return (
        f"PT{seconds // 3600}H{seconds % 3600 // 60}M"
        if seconds % 60 == 0
        else f"PT{seconds}S"
    )


def _recurrence(parent: Element, target: Target, version: str) -> None:
    if isinstance(target, Item) and target.recurrence is not None:
        target.recurrence.to_xml(parent)


def _first_last(tag: str, last: bool) -> Writer:
    def write(parent: Element, target: Target, version: str) -> None:
        if not isinstance(target, Item) or target.recurrence is None:
            return
        if target.recurrence.end is None and target.recurrence.count is None and last:
            return
        occurrences = target.occurrences()
        if not occurrences:
            return
        occ = occurrences[-1] if last else occurrences[0]
        _occurrence_info(sub(parent, tq(tag)), occ)

    return write


def _occurrence_info(node: Element, occ: Occurrence) -> None:
    sub(node, tq("ItemId"), Id=occ.id, ChangeKey=occ.master.change_key)
    sub(node, tq("Start"), fmt_datetime(occ.start))
    sub(node, tq("End"), fmt_datetime(occ.end))
    sub(node, tq("OriginalStart"), fmt_datetime(occ.original_start))


def _modified(parent: Element, target: Target, version: str) -> None:
    if not isinstance(target, Item) or not target.overrides:
        return
    node = sub(parent, tq("ModifiedOccurrences"))
    for occ in target.occurrences():
        if occ.override is not None:
            _occurrence_info(sub(node, tq("Occurrence")), occ)


def _deleted(parent: Element, target: Target, version: str) -> None:
    if not isinstance(target, Item) or not target.deleted_occurrences:
        return
    node = sub(parent, tq("DeletedOccurrences"))
    for original in sorted(target.deleted_occurrences):
        sub(sub(node, tq("DeletedOccurrence")), tq("Start"), fmt_datetime(original))


def _categories(parent: Element, target: Target, version: str) -> None:
    cats = _master(target).categories
    if cats:
        node = sub(parent, tq("Categories"))
        for cat in cats:
            sub(node, tq("String"), cat)


# (FieldURI, writer) in CalendarItemType schema order; "ext" marks where
# ExtendedProperty elements go.
ITEM_FIELDS: list[tuple[str, Writer]] = [
    (
        "item:ParentFolderId",
        lambda p, t, v: sub(p, tq("ParentFolderId"), Id=_master(t).folder_id),
    ),
    ("item:ItemClass", _text("ItemClass", lambda t: "IPM.Appointment")),
    ("item:Subject", _text("Subject", lambda t: str(_value(t, "subject") or ""))),
    ("item:Sensitivity", _text("Sensitivity", lambda t: "Normal")),
    ("item:Body", _body),
    ("item:Categories", _categories),
    ("item:Importance", _text("Importance", lambda t: "Normal")),
    (
        "item:DateTimeCreated",
        _text("DateTimeCreated", lambda t: fmt_datetime(_master(t).created_at)),
    ),
    ("item:HasAttachments", _text("HasAttachments", lambda t: "false")),
    ("ext", lambda p, t, v: None),
    (
        "item:LastModifiedTime",
        _text("LastModifiedTime", lambda t: fmt_datetime(_master(t).modified_at)),
    ),
    ("calendar:UID", _uid),
    ("calendar:Start", _text("Start", lambda t: fmt_datetime(t.start))),
    ("calendar:End", _text("End", lambda t: fmt_datetime(t.end))),
    ("calendar:OriginalStart", _original_start),
    (
        "calendar:IsAllDayEvent",
        _text("IsAllDayEvent", lambda t: fmt_bool(_master(t).is_all_day)),
    ),
    (
        "calendar:LegacyFreeBusyStatus",
        _text("LegacyFreeBusyStatus", lambda t: str(_value(t, "free_busy"))),
    ),
    ("calendar:Location", _text("Location", lambda t: _value(t, "location"))),  # type: ignore[arg-type, return-value]
    (
        "calendar:IsMeeting",
        _text("IsMeeting", lambda t: fmt_bool(bool(_master(t).attendees))),
    ),
    (
        "calendar:IsCancelled",
        _text("IsCancelled", lambda t: fmt_bool(_master(t).is_cancelled)),
    ),
    ("calendar:IsRecurring", _text("IsRecurring", _is_recurring)),
    (
        "calendar:MeetingRequestWasSent",
        _text("MeetingRequestWasSent", lambda t: "false"),
    ),
    ("calendar:CalendarItemType", _text("CalendarItemType", lambda t: t.item_type)),
    (
        "calendar:MyResponseType",
        _text("MyResponseType", lambda t: _master(t).my_response),
    ),
    ("calendar:Organizer", _organizer),
    ("calendar:Duration", _text("Duration", _duration)),
    ("calendar:TimeZone", _text("TimeZone", _zone_id)),
    (
        "calendar:AppointmentSequenceNumber",
        _text("AppointmentSequenceNumber", lambda t: "0"),
    ),
    (
        "calendar:AppointmentState",
        _text("AppointmentState", lambda t: "1" if _master(t).attendees else "0"),
    ),
    ("calendar:Recurrence", _recurrence),
    ("calendar:FirstOccurrence", _first_last("FirstOccurrence", False)),
    ("calendar:LastOccurrence", _first_last("LastOccurrence", True)),
    ("calendar:ModifiedOccurrences", _modified),
    ("calendar:DeletedOccurrences", _deleted),
    ("calendar:StartTimeZone", _tz("StartTimeZone")),
    ("calendar:EndTimeZone", _tz("EndTimeZone")),
]
ITEM_FIELD_URIS = {uri for uri, _ in ITEM_FIELDS if uri != "ext"} | {"item:ItemId"}


# FindItem "does not return any of the message body formats"; the iCalendar
# UID is not returned by FindItem either (EWS clients report it: php-ews
# issue 314, the EWS Managed API refuses ICalUid in FindItem requests):
# series are matched through CleanGlobalObjectId instead.
NOT_IN_FIND = {"item:Body", "calendar:UID"}

# PidLidCleanGlobalObjectId (MS-OXOCAL 2.2.1.28): PSETID_Meeting, id 0x23,
# binary; the same for a series' master and all its occurrences. The
# CalendarView reference lists CleanGlobalObjectId among the properties
# calendar queries serve quickly.
CLEAN_GLOBAL_OBJECT_ID: ExtKey = ("meeting", "35", "Binary")
_GOID_CLASS = bytes.fromhex("040000008200E00074C5B7101A82E008")


def clean_global_object_id(item: Item) -> str:
    """The series identity: the class id, a zero instance date and creation
    time, then the UID (the layout MS-OXOCAL gives; synthesised here)."""
    data = item.uid.encode()
    raw = (
        _GOID_CLASS
        + bytes(4)
        + bytes(8)
        + bytes(8)
        + len(data).to_bytes(4, "little")
        + data
    )
    return base64.b64encode(raw).decode("ascii")


def write_item(
    parent: Element, target: Target, shape: Shape, version: str, *, find: bool = False
) -> Element:
    node = sub(parent, tq("CalendarItem"))
    if isinstance(target, Occurrence):
        sub(node, tq("ItemId"), Id=target.id, ChangeKey=target.master.change_key)
    else:
        sub(node, tq("ItemId"), Id=target.id, ChangeKey=target.change_key)
    if shape.base == "AllProperties":
        wanted = ITEM_FIELD_URIS
    elif shape.base == "Default":
        wanted = DEFAULT_ITEM | shape.fields
    else:
        wanted = shape.fields
    if find:
        wanted = wanted - NOT_IN_FIND
    for uri, writer in ITEM_FIELDS:
        if uri == "ext":
            _extended(node, _master(target), shape.extended)
        elif uri in wanted:
            writer(node, target, version)
    return node


def _extended(node: Element, item: Item, wanted: list[ExtKey]) -> None:
    for key in wanted:
        value = item.extended.get(key)
        if key == CLEAN_GLOBAL_OBJECT_ID:
            value = clean_global_object_id(item)
        if value is None:
            continue
        prop = sub(node, tq("ExtendedProperty"))
        set_id, name, prop_type = key
        attrs = {"PropertyType": prop_type}
        if name.startswith("0x"):
            attrs["PropertyTag"] = name
        else:
            # Exchange returns the GUID bare (no braces), as a string.
            set_attr = (
                "PropertySetId" if len(set_id) == 36 else "DistinguishedPropertySetId"
            )
            attrs[set_attr] = (
                set_id if len(set_id) == 36 else _DISTINGUISHED.get(set_id, set_id)
            )
            attrs["PropertyId" if name.isdigit() else "PropertyName"] = name
        sub(prop, tq("ExtendedFieldURI"), **attrs)
        sub(prop, tq("Value"), value)


# -- folders ---------------------------------------------------------------------


def write_folder(
    parent: Element, folder: Folder, shape: Shape, mailbox: Mailbox
) -> Element:
    tag = "CalendarFolder" if folder.folder_class == "IPF.Appointment" else "Folder"
    node = sub(parent, tq(tag))
    sub(node, tq("FolderId"), Id=folder.id, ChangeKey=folder.change_key)
    wanted = set(shape.fields)
    if shape.base in ("Default", "AllProperties"):
        wanted |= {"folder:DisplayName", "folder:TotalCount", "folder:ChildFolderCount"}
        if tag == "Folder":
            wanted.add("folder:UnreadCount")
    if shape.base == "AllProperties":
        wanted |= {"folder:ParentFolderId", "folder:FolderClass"}
    if "folder:ParentFolderId" in wanted and folder.parent_id:
        parent_folder = mailbox.folders.get(folder.parent_id)
        sub(
            node,
            tq("ParentFolderId"),
            Id=folder.parent_id,
            ChangeKey=parent_folder.change_key if parent_folder else None,
        )
    if "folder:FolderClass" in wanted and folder.folder_class:
        sub(node, tq("FolderClass"), folder.folder_class)
    if "folder:DisplayName" in wanted:
        sub(node, tq("DisplayName"), folder.name)
    if "folder:TotalCount" in wanted:
        sub(node, tq("TotalCount"), str(len(folder.items)))
    if "folder:ChildFolderCount" in wanted:
        count = len(mailbox.child_folders(folder.id, deep=False))
        sub(node, tq("ChildFolderCount"), str(count))
    if "folder:UnreadCount" in wanted and tag == "Folder":
        sub(node, tq("UnreadCount"), "0")
    return node
