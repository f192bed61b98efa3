"""The mailbox store behind the EWS sandbox: folders, calendar items,
change keys and the change log that ``SyncFolderItems`` reads.

Everything is in memory and guarded by one lock, because the server thread
and the tests touch it at the same time. Tests change a mailbox the way a
person in Outlook would (``move_item``, ``delete_occurrence``, ``add_item``
with ``free_busy="Busy"``…) and every such change is seen by the next
``SyncFolderItems`` exactly as an EWS client would see it.

Ids and keys are opaque base64 strings, like Exchange's: an item's
``ChangeKey`` changes on every write, which is what ``UpdateItem`` with
``ConflictResolution`` checks. Per-property write versions make the three
conflict modes behave as the ``ConflictResolutionMode`` reference says:
``NeverOverwrite`` refuses a stale key, ``AlwaysOverwrite`` applies every
change, ``AutoResolve`` applies a change unless the server copy of that
property is newer than the client's key.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sandbox.ews.recurrence import Recurrence

CALENDAR_CLASS = "IPF.Appointment"
NOTE_CLASS = "IPF.Note"
FREE_BUSY = ("Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData")
RESPONSES = (
    "Unknown",
    "Organizer",
    "Tentative",
    "Accept",
    "Decline",
    "NoResponseReceived",
)
ExtKey = tuple[
    str, str, str
]  # (PropertySetId or DistinguishedPropertySetId, name/tag/id, type)

# Properties whose write version is tracked for conflict resolution.
TRACKED = (
    "subject",
    "body",
    "location",
    "start",
    "end",
    "is_all_day",
    "free_busy",
    "is_cancelled",
    "my_response",
    "recurrence",
    "timezone",
    "categories",
)


def _token(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _untoken(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def is_base64(text: str) -> bool:
    """Exchange ids are base64: anything else is "malformed", not "missing"."""
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return bool(text)


def new_item_id() -> str:
    return _token(b"\x00\x03\x24\x00" + secrets.token_bytes(44))  # "AAMkA…"


def new_folder_id() -> str:
    return _token(b"\x01\x03\x24\x00" + secrets.token_bytes(41))  # "AQMkA…"


_OCC_MARK = b"\x00\x03\x2e\x00"  # occurrence ids read "AAMuA…"


def occurrence_id(master_id: str, original_start: datetime) -> str:
    stamp = int(original_start.astimezone(UTC).timestamp())
    return _token(_OCC_MARK + f"{master_id}|{stamp}".encode())


def parse_occurrence_id(item_id: str) -> tuple[str, datetime] | None:
    try:
        raw = _untoken(item_id)
    except ValueError:
        return None
    if not raw.startswith(_OCC_MARK):
        return None
    try:
        master, stamp = raw[len(_OCC_MARK) :].decode().split("|")
        return master, datetime.fromtimestamp(int(stamp), UTC)
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class Override:
    """A modified occurrence (an exception) of a recurring master."""

    start: datetime
    end: datetime
    subject: str | None = None
    location: str | None = None
    free_busy: str | None = None


@dataclass
class Item:
    id: str
    folder_id: str
    subject: str
    start: datetime
    end: datetime
    timezone: str = "UTC"  # IANA name of the item's StartTimeZone
    body: str | None = None
    location: str | None = None
    is_all_day: bool = False
    free_busy: str = "Busy"
    is_cancelled: bool = False
    my_response: str = "Organizer"
    organizer: tuple[str, str] = ("", "")  # (name, email)
    attendees: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    uid: str = ""
    recurrence: Recurrence | None = None
    overrides: dict[datetime, Override] = field(default_factory=dict)
    deleted_occurrences: set[datetime] = field(default_factory=set)
    extended: dict[ExtKey, str] = field(default_factory=dict)
    version: int = 1
    field_versions: dict[str, int] = field(default_factory=dict)
    created_seq: int = 0
    changed_seq: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    modified_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def change_key(self) -> str:
        return "DwAAABYA" + _token(f"{self.id[-8:]}:{self.version}".encode())

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def item_type(self) -> str:
        return "RecurringMaster" if self.recurrence is not None else "Single"

    def version_of_key(self, change_key: str) -> int | None:
        """The item version a ChangeKey names; None if it is not this item's."""
        try:
            owner, version = (
                _untoken(change_key.removeprefix("DwAAABYA")).decode().split(":")
            )
        except (ValueError, UnicodeDecodeError):
            return None
        return int(version) if owner == self.id[-8:] and version.isdigit() else None

    def occurrences(self, until: datetime | None = None) -> list[Occurrence]:
        """Instances of a recurring master (all, or those with an original
        start before ``until``), deleted ones left out, exceptions applied."""
        if self.recurrence is None:
            return []
        zone = self.zone
        wall = self.start.astimezone(zone).time()
        duration = self.end - self.start
        found = []
        for original in self.recurrence.original_starts(wall, zone, until):
            if original in self.deleted_occurrences:
                continue
            override = self.overrides.get(original)
            if override is None:
                found.append(
                    Occurrence(self, original, original, original + duration, None)
                )
            else:
                found.append(
                    Occurrence(self, original, override.start, override.end, override)
                )
        return found

    def first_original_start(self) -> datetime | None:
        if self.recurrence is None:
            return None
        zone = self.zone
        wall = self.start.astimezone(zone).time()
        return next(self.recurrence.original_starts(wall, zone), None)


@dataclass(frozen=True)
class Occurrence:
    """One instance of a recurring master, as CalendarView returns it."""

    master: Item
    original_start: datetime
    start: datetime
    end: datetime
    override: Override | None

    @property
    def id(self) -> str:
        return occurrence_id(self.master.id, self.original_start)

    @property
    def item_type(self) -> str:
        return "Exception" if self.override is not None else "Occurrence"

    def value(self, name: str) -> object:
        if self.override is not None and getattr(self.override, name, None) is not None:
            return getattr(self.override, name)
        return getattr(self.master, name)


@dataclass
class Folder:
    id: str
    name: str
    folder_class: str
    parent_id: str | None
    distinguished: str | None = None
    version: int = 1
    items: dict[str, Item] = field(default_factory=dict)
    # item id → (created_seq, deleted_seq) for items that left this folder
    tombstones: dict[str, tuple[int, int]] = field(default_factory=dict)
    sync_generation: int = 1

    @property
    def change_key(self) -> str:
        return "AQAAABYA" + _token(f"{self.id[-8:]}:{self.version}".encode())


class SyncStateError(ValueError):
    """The SyncState is corrupt, forged, for another folder, or invalidated."""


@dataclass(frozen=True)
class Change:
    kind: str  # "Create", "Update", "Delete"
    item_id: str
    item: Item | None


class Mailbox:
    """One user's mailbox: a folder tree and the items in it."""

    def __init__(self, email: str, display_name: str, lock: threading.RLock) -> None:
        self.email = email
        self.display_name = display_name
        self.lock = lock
        self.seq = 0
        self._secret = secrets.token_bytes(16)
        self.folders: dict[str, Folder] = {}
        root = self._add_folder("Top of Information Store", "", None, "root")
        top = self._add_folder(
            "Top of Information Store", NOTE_CLASS, root.id, "msgfolderroot"
        )
        self._add_folder("Inbox", NOTE_CLASS, top.id, "inbox")
        self._add_folder("Deleted Items", NOTE_CLASS, top.id, "deleteditems")
        self._add_folder("Sent Items", NOTE_CLASS, top.id, "sentitems")
        self._add_folder("Calendar", CALENDAR_CLASS, top.id, "calendar")
        # Meeting messages the server would have sent (CreateItem/UpdateItem/
        # DeleteItem with SendTo…): tests check that none were sent.
        self.sent_meeting_messages: list[tuple[str, str, tuple[str, ...]]] = []

    # -- folders ------------------------------------------------------------

    def _add_folder(
        self,
        name: str,
        folder_class: str,
        parent_id: str | None,
        distinguished: str | None,
    ) -> Folder:
        folder = Folder(new_folder_id(), name, folder_class, parent_id, distinguished)
        self.folders[folder.id] = folder
        return folder

    def distinguished(self, name: str) -> Folder | None:
        return next((f for f in self.folders.values() if f.distinguished == name), None)

    @property
    def calendar(self) -> Folder:
        folder = self.distinguished("calendar")
        assert folder is not None
        return folder

    def create_folder(
        self, name: str, *, parent: str = "calendar", folder_class: str = CALENDAR_CLASS
    ) -> Folder:
        """A new folder under a distinguished folder name or a folder id."""
        with self.lock:
            parent_folder = self.distinguished(parent) or self.folders[parent]
            return self._add_folder(name, folder_class, parent_folder.id, None)

    def folder(self, name_or_id: str) -> Folder:
        with self.lock:
            found = self.distinguished(name_or_id) or self.folders.get(name_or_id)
            if found is None:
                found = next(
                    (f for f in self.folders.values() if f.name == name_or_id), None
                )
            if found is None:
                raise KeyError(name_or_id)
            return found

    def child_folders(self, parent_id: str, deep: bool) -> list[Folder]:
        direct = [f for f in self.folders.values() if f.parent_id == parent_id]
        if not deep:
            return direct
        result: list[Folder] = []
        for child in direct:
            result.append(child)
            result.extend(self.child_folders(child.id, True))
        return result

    # -- items ----------------------------------------------------------------

    def find_item(self, item_id: str) -> Item | None:
        for folder in self.folders.values():
            item = folder.items.get(item_id)
            if item is not None:
                return item
        return None

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def insert(self, folder: Folder, item: Item) -> Item:
        """Store a new item (the id and sequence numbers are assigned here)."""
        with self.lock:
            item.folder_id = folder.id
            item.created_seq = item.changed_seq = self._next_seq()
            item.field_versions = {name: item.version for name in TRACKED}
            item.field_versions.update(
                {_ext_name(k): item.version for k in item.extended}
            )
            if not item.uid:
                item.uid = secrets.token_hex(16).upper()
            folder.items[item.id] = item
            folder.version += 1
            return item

    def touch(self, item: Item, changed: Iterable[str]) -> None:
        """Record a write to ``item`` (new ChangeKey, one Update for sync)."""
        with self.lock:
            item.version += 1
            for name in changed:
                item.field_versions[name] = item.version
            item.changed_seq = self._next_seq()
            item.modified_at = datetime.now(UTC)

    def remove(self, item: Item) -> None:
        with self.lock:
            folder = self.folders[item.folder_id]
            folder.items.pop(item.id, None)
            folder.tombstones[item.id] = (item.created_seq, self._next_seq())
            folder.version += 1

    def move_to(self, item: Item, target: Folder) -> None:
        with self.lock:
            self.remove(item)
            moved = copy.deepcopy(item)
            moved.id = new_item_id()
            moved.version = 1
            self.insert(target, moved)

    # -- what a person does in Outlook (for tests) ------------------------------

    def add_item(
        self,
        folder: str,
        subject: str,
        start: datetime,
        end: datetime,
        *,
        free_busy: str = "Busy",
        timezone: str = "UTC",
        recurrence: Recurrence | None = None,
        is_all_day: bool = False,
        is_cancelled: bool = False,
        my_response: str = "Organizer",
        location: str | None = None,
        extended: dict[ExtKey, str] | None = None,
    ) -> Item:
        """Create an item as Outlook would (e.g. "added a busy event")."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        item = Item(
            id=new_item_id(),
            folder_id="",
            subject=subject,
            start=start.astimezone(UTC),
            end=end.astimezone(UTC),
            timezone=timezone,
            free_busy=free_busy,
            recurrence=recurrence,
            is_all_day=is_all_day,
            is_cancelled=is_cancelled,
            my_response=my_response,
            location=location,
            organizer=(self.display_name, self.email),
            extended=dict(extended or {}),
        )
        return self.insert(self.folder(folder), item)

    def move_item(self, item_id: str, start: datetime, end: datetime) -> Item:
        """ "Moved in Outlook": a new start and end (a new ChangeKey)."""
        with self.lock:
            item = self._existing(item_id)
            item.start, item.end = start.astimezone(UTC), end.astimezone(UTC)
            self.touch(item, ("start", "end"))
            return item

    def edit_item(self, item_id: str, **values: object) -> Item:
        """Set any tracked properties (subject, free_busy, is_cancelled…)."""
        with self.lock:
            item = self._existing(item_id)
            for name, value in values.items():
                if name not in TRACKED:
                    raise ValueError(f"not an editable property: {name}")
                setattr(item, name, value)
            self.touch(item, values)
            return item

    def delete_item(self, item_id: str) -> None:
        """ "Deleted in Outlook" (a hard delete)."""
        with self.lock:
            self.remove(self._existing(item_id))

    def delete_occurrence(self, master_id: str, original_start: datetime) -> None:
        """ "Deleted one occurrence": it joins the master's DeletedOccurrences."""
        with self.lock:
            item, original = self._instance(master_id, original_start)
            item.overrides.pop(original, None)
            item.deleted_occurrences.add(original)
            self.touch(item, ("recurrence",))

    def move_occurrence(
        self,
        master_id: str,
        original_start: datetime,
        start: datetime,
        end: datetime,
        *,
        subject: str | None = None,
    ) -> None:
        """ "Moved one occurrence" (and renamed it, given a ``subject``): it
        becomes an exception of the master."""
        with self.lock:
            item, original = self._instance(master_id, original_start)
            override = item.overrides.get(original) or Override(start, end)
            override.start, override.end = start.astimezone(UTC), end.astimezone(UTC)
            if subject is not None:
                override.subject = subject
            item.overrides[original] = override
            self.touch(item, ("recurrence",))

    def _instance(
        self, master_id: str, original_start: datetime
    ) -> tuple[Item, datetime]:
        """The master and the UTC original start of one of its live instances."""
        item = self._existing(master_id)
        original = original_start.astimezone(UTC)
        until = original + timedelta(seconds=1)
        if original not in {o.original_start for o in item.occurrences(until)}:
            raise KeyError(f"no occurrence at {original}")
        return item, original

    def _existing(self, item_id: str) -> Item:
        item = self.find_item(item_id)
        if item is None:
            raise KeyError(item_id)
        return item

    # -- SyncFolderItems ------------------------------------------------------------

    def sync_state(self, folder: Folder, watermark: int) -> str:
        payload = json.dumps(
            {"f": folder.id, "w": watermark, "g": folder.sync_generation},
            separators=(",", ":"),
        ).encode()
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:12]
        return base64.b64encode(mac + payload).decode("ascii")

    def read_sync_state(self, folder: Folder, state: str) -> int:
        """The watermark a SyncState names, or ``SyncStateError``."""
        try:
            raw = base64.b64decode(state.strip(), validate=True)
        except ValueError as exc:
            raise SyncStateError("not base64") from exc
        mac, payload = raw[:12], raw[12:]
        expected = hmac.new(self._secret, payload, hashlib.sha256).digest()[:12]
        if not hmac.compare_digest(mac, expected):
            raise SyncStateError("corrupt")
        data = json.loads(payload)
        if data.get("f") != folder.id:
            raise SyncStateError("issued for another folder")
        if data.get("g") != folder.sync_generation:
            raise SyncStateError("invalidated")
        return int(data["w"])

    def invalidate_sync_states(self, folder: str) -> None:
        """Make every SyncState issued for ``folder`` invalid (as after a
        mailbox move or a store repair)."""
        with self.lock:
            self.folder(folder).sync_generation += 1

    def changes_since(
        self, folder: Folder, watermark: int, limit: int, ignore: set[str]
    ) -> tuple[list[Change], int, bool]:
        """Up to ``limit`` changes after ``watermark``, oldest first.

        Returns the changes, the new watermark and whether the last change
        in range was included. An item created and deleted since the
        watermark is not reported; one created and changed is one Create.
        """
        with self.lock:
            # Items are serialised while the caller holds the lock: no copies.
            entries: list[tuple[int, Change]] = []
            for item in folder.items.values():
                if item.changed_seq > watermark and item.id not in ignore:
                    kind = "Create" if item.created_seq > watermark else "Update"
                    entries.append((item.changed_seq, Change(kind, item.id, item)))
            for item_id, (created, deleted) in folder.tombstones.items():
                if (
                    deleted > watermark
                    and created <= watermark
                    and item_id not in ignore
                ):
                    entries.append((deleted, Change("Delete", item_id, None)))
            entries.sort(key=lambda e: e[0])
            page = entries[:limit]
            if len(entries) <= limit:
                return [c for _, c in page], max(self.seq, watermark), True
            return [c for _, c in page], page[-1][0], False


def _ext_name(key: ExtKey) -> str:
    return "ext:" + "|".join(key)


class MailStore:
    """Every mailbox of the sandbox, with the users' passwords."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}
        self.passwords: dict[str, str] = {}

    def add_user(self, email: str, password: str, display_name: str = "") -> Mailbox:
        with self.lock:
            key = email.lower()
            mailbox = Mailbox(
                email, display_name or email.split("@")[0].title(), self.lock
            )
            self.mailboxes[key] = mailbox
            self.passwords[key] = password
            return mailbox

    def set_password(self, email: str, password: str) -> None:
        """The user changed the password (the old one stops working)."""
        with self.lock:
            self.passwords[email.lower()] = password

    def mailbox(self, email: str) -> Mailbox:
        return self.mailboxes[email.lower()]

    def check_password(self, username: str, password: str) -> Mailbox | None:
        """The mailbox of a user name (SMTP address or ``DOMAIN\\user``)."""
        with self.lock:
            key = self._key(username)
            expected = self.passwords.get(key)
            if expected is None or not hmac.compare_digest(expected, password):
                return None
            return self.mailboxes[key]

    def user(self, username: str) -> Mailbox | None:
        """The mailbox of a user name already authenticated (no password)."""
        with self.lock:
            return self.mailboxes.get(self._key(username))

    def credentials(self) -> list[tuple[str, str]]:
        """Every account's (SMTP address, password): what NTLM checks against."""
        with self.lock:
            return [(m.email, self.passwords[k]) for k, m in self.mailboxes.items()]

    def _key(self, username: str) -> str:
        key = username.lower()
        if "\\" in key:  # down-level logon name: match the local part
            local = key.split("\\", 1)[1]
            key = next((k for k in self.mailboxes if k.split("@")[0] == local), key)
        return key
