"""GetFolder and FindFolder ("GetFolder operation", "FindFolder operation").

Calendar folders (``FolderClass`` IPF.Appointment) come back as
``t:CalendarFolder``, other folders as ``t:Folder``. FindFolder honours
``Traversal`` (Shallow, Deep) and ``IndexedPageFolderView`` paging, with
``TotalItemsInView``/``IncludesLastItemInRange`` on ``m:RootFolder`` as in
the reference example.
"""

from __future__ import annotations

from sandbox.ews.errors import EwsError, schema_validation
from sandbox.ews.ewsxml import Element, children, local, mq, sub, tq
from sandbox.ews.shapes import parse_shape, write_folder
from sandbox.ews.soap import Ctx, Responses, required
from sandbox.ews.store import Folder, is_base64

# DistinguishedFolderIdNameType values (the "DistinguishedFolderId" page and
# later schema additions); a value not in the enumeration is a schema error,
# one this mailbox has no folder for is ErrorFolderNotFound.
KNOWN_DISTINGUISHED = frozenset(
    [
        "adminauditlogs",
        "allcategorizeditems",
        "allcontacts",
        "allitems",
        "allpersonmetadata",
        "archivedeleteditems",
        "archiveinbox",
        "archivemsgfolderroot",
        "archiverecoverableitemsdeletions",
        "archiverecoverableitemspurges",
        "archiverecoverableitemsroot",
        "archiverecoverableitemsversions",
        "archiveroot",
        "calendar",
        "companycontacts",
        "conflicts",
        "contacts",
        "conversationhistory",
        "deleteditems",
        "directory",
        "dlppolicyevaluation",
        "drafts",
        "favorites",
        "fromfavoritesenders",
        "imcontactlist",
        "inbox",
        "inference",
        "journal",
        "junkemail",
        "localfailures",
        "msgfolderroot",
        "mycontacts",
        "notes",
        "onenotepagepreviews",
        "outbox",
        "peoplecentricconversationbuddies",
        "peopleconnect",
        "publicfoldersroot",
        "qedcdefaultretention",
        "qedclongretention",
        "qedcmediumretention",
        "qedcshortretention",
        "quarantinedemail",
        "quarantinedemaildefaultcategory",
        "quickcontacts",
        "recipientcache",
        "recoverableitemsdeletions",
        "recoverableitemspurges",
        "recoverableitemsroot",
        "recoverableitemssubstrateholds",
        "recoverableitemsversions",
        "relevantcontacts",
        "root",
        "searchfolders",
        "sentitems",
        "serverfailures",
        "sharepointnotifications",
        "shortnotes",
        "syncissues",
        "tasks",
        "temporarysaves",
        "todosearch",
        "usercuratedcontacts",
        "voicemail",
    ]
)


def resolve_folder(
    ctx: Ctx, node: Element, missing_code: str = "ErrorFolderNotFound"
) -> Folder:
    name = local(node.tag)
    if name == "DistinguishedFolderId":
        distinguished = node.get("Id") or ""
        if distinguished not in KNOWN_DISTINGUISHED:
            raise schema_validation(
                f"'{distinguished}' is not a DistinguishedFolderIdNameType value."
            )
        address = node.find(f"{tq('Mailbox')}/{tq('EmailAddress')}")
        if (
            address is not None
            and (address.text or "").strip().lower() != ctx.mailbox.email.lower()
        ):
            raise EwsError(
                "ErrorNonExistentMailbox",
                "The SMTP address has no mailbox associated with it.",
            )
        folder = ctx.mailbox.distinguished(distinguished)
    elif name == "FolderId":
        folder_id = node.get("Id") or ""
        if not is_base64(folder_id):
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
        folder = ctx.mailbox.folders.get(folder_id)
    else:
        raise schema_validation(f"'{name}' is not a folder id element.")
    if folder is None:
        raise EwsError(
            missing_code, "The specified folder could not be found in the store."
        )
    return folder


def get_folder(ctx: Ctx, op: Element) -> Element:
    shape = parse_shape(required(op.find(mq("FolderShape")), "FolderShape"))
    ids = children(required(op.find(mq("FolderIds")), "FolderIds"))
    responses = Responses("GetFolder")

    def one(message: Element, node: object) -> None:
        folder = resolve_folder(ctx, node)  # type: ignore[arg-type]
        write_folder(sub(message, mq("Folders")), folder, shape, ctx.mailbox)

    responses.each(ids, one, error_tail=lambda m: sub(m, mq("Folders")))
    return responses.root


def find_folder(ctx: Ctx, op: Element) -> Element:
    traversal = op.get("Traversal")
    if traversal not in ("Shallow", "Deep", "SoftDeleted"):
        raise schema_validation("Traversal must be Shallow, Deep or SoftDeleted.")
    shape = parse_shape(required(op.find(mq("FolderShape")), "FolderShape"))
    if op.find(mq("Restriction")) is not None:
        raise EwsError(
            "ErrorUnsupportedQueryFilter", "Folder restrictions are not supported here."
        )
    view = op.find(mq("IndexedPageFolderView"))
    parents = children(required(op.find(mq("ParentFolderIds")), "ParentFolderIds"))
    responses = Responses("FindFolder")

    def one(message: Element, node: object) -> None:
        parent = resolve_folder(ctx, node)  # type: ignore[arg-type]
        found = (
            []
            if traversal == "SoftDeleted"
            else ctx.mailbox.child_folders(parent.id, deep=traversal == "Deep")
        )
        offset, page = 0, found
        if view is not None:
            offset = int(view.get("Offset") or "0")
            limit = int(view.get("MaxEntriesReturned") or len(found) or 1)
            if view.get("BasePoint") == "End":
                offset = max(0, len(found) - offset - limit)
            page = found[offset : offset + limit]
        attrs = {
            "TotalItemsInView": str(len(found)),
            "IncludesLastItemInRange": "true"
            if offset + len(page) >= len(found)
            else "false",
        }
        if view is not None:
            attrs = {"IndexedPagingOffset": str(offset + len(page)), **attrs}
        root = sub(message, mq("RootFolder"), **attrs)
        folders = sub(root, tq("Folders"))
        for folder in page:
            write_folder(folders, folder, shape, ctx.mailbox)

    responses.each(parents, one)
    return responses.root
