"""SyncFolderItems ("SyncFolderItems operation").

* No ``SyncState``: every item of the folder comes back as a Create.
* With one: the changes since it, oldest first — Create and Update carry
  the item in the requested ``ItemShape``, Delete carries only the
  ``ItemId``; an item created and deleted in between is not reported.
* ``MaxChangesReturned`` must be 1–512 (the reference page of that
  element); ``IncludesLastItemInRange`` is false while more changes wait,
  and each response's ``SyncState`` continues from its last change.
* A SyncState that is corrupt, issued for another folder, or invalidated
  (``Mailbox.invalidate_sync_states``) gets ``ErrorInvalidSyncStateData``
  with an empty ``SyncState`` and ``IncludesLastItemInRange`` true, as in
  the page's error example.
* Recurring series are reported as their master (occurrences are not
  items of the folder); changing or deleting an occurrence updates the
  master.
"""

from __future__ import annotations

from sandbox.ews.errors import EwsError, schema_validation
from sandbox.ews.ewsxml import Element, children, mq, sub, tq
from sandbox.ews.ops_folders import resolve_folder
from sandbox.ews.shapes import parse_shape, write_item
from sandbox.ews.soap import Ctx, Responses, required
from sandbox.ews.store import SyncStateError


def sync_folder_items(ctx: Ctx, op: Element) -> Element:
    shape = parse_shape(required(op.find(mq("ItemShape")), "ItemShape"))
    folder_ids = children(required(op.find(mq("SyncFolderId")), "SyncFolderId"))
    if len(folder_ids) != 1:
        raise schema_validation("SyncFolderId needs exactly one folder id.")
    state_node = op.find(mq("SyncState"))
    state = (state_node.text or "").strip() if state_node is not None else ""
    ignore = {i.get("Id", "") for i in children(op.find(mq("Ignore")))}
    limit_text = (
        required(op.find(mq("MaxChangesReturned")), "MaxChangesReturned").text or ""
    ).strip()
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 512:
        raise schema_validation(
            f"The value '{limit_text}' of MaxChangesReturned is outside 1-512."
        )
    limit = int(limit_text)
    responses = Responses("SyncFolderItems")
    mailbox = ctx.mailbox

    def invalid_tail(message: Element) -> None:
        sub(message, mq("SyncState"))
        sub(message, mq("IncludesLastItemInRange"), "true")

    def one(message: Element, node: object) -> None:
        folder = resolve_folder(ctx, node, "ErrorSyncFolderNotFound")  # type: ignore[arg-type]
        with mailbox.lock:
            try:
                watermark = mailbox.read_sync_state(folder, state) if state else 0
            except SyncStateError as exc:
                raise EwsError(
                    "ErrorInvalidSyncStateData",
                    "Synchronization state data is corrupt or otherwise invalid.",
                ) from exc
            changes, new_mark, last = mailbox.changes_since(
                folder, watermark, limit, ignore
            )
            sub(message, mq("SyncState"), mailbox.sync_state(folder, new_mark))
            sub(message, mq("IncludesLastItemInRange"), "true" if last else "false")
            node_changes = sub(message, mq("Changes"))
            for change in changes:
                entry = sub(node_changes, tq(change.kind))
                if change.item is None:
                    sub(entry, tq("ItemId"), Id=change.item_id)
                else:
                    write_item(entry, change.item, shape, ctx.version)

    responses.each(folder_ids, one, error_tail=invalid_tail)
    return responses.root
