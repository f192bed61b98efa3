"""A local Exchange Web Services (EWS) server for tests and local trials.

It follows Microsoft's EWS reference (learn.microsoft.com, source
MicrosoftDocs/office-developer-exchange-docs, ``docs/web-service-reference``);
each module names the pages it implements. ``start_ews_sandbox()`` runs it
on loopback; ``python -m sandbox.ews --port PORT`` seeds a demo mailbox.

What it serves (``server``): SOAP 1.1 at ``/EWS/Exchange.asmx`` with the
authentication schemes it is started with — Basic, NTLM or both, each
listed in its own ``WWW-Authenticate`` header of the 401 (``auth``) —
``ServerVersionInfo`` in every response and
``RequestServerVersion``/``TimeZoneContext`` honoured (``soap``);
GetFolder/FindFolder (``ops_folders``); SyncFolderItems (``ops_sync``);
GetItem, FindItem with CalendarView, CreateItem, UpdateItem with the three
ConflictResolution modes, DeleteItem (``ops_items``); documented error
codes and SOAP faults (``errors``); POX Autodiscover (``autodiscover``);
fault injection in EWS's shapes on ``sandbox.common``'s injector
(``faults``). Tests change mailboxes the way a person in
Outlook would through ``Mailbox`` (``store``).

Deviations from the documentation (deliberate, for a test double):

* Authentication: Basic unless started otherwise, while Exchange's own
  default on ``/EWS`` is Windows authentication (Negotiate and NTLM);
  ``start_ews_sandbox(auth=("NTLM",))`` is such a server without Negotiate.
  NTLM is the real handshake (NEGOTIATE, CHALLENGE, AUTHENTICATE on one
  connection, the response checked against the account's password by
  pyspnego's acceptor), and the connection stays authenticated afterwards.
  Not modelled: Negotiate (SPNEGO/Kerberos) is never offered; NTLM logons
  use the SMTP address as the user name (no ``DOMAIN\\user``); channel
  bindings (Extended Protection) are not checked, as the sandbox serves
  plain HTTP; no TLS, so Basic's password crosses in the clear.
* Only calendar items are stored (CreateItem of a message, task or contact
  gets ``ErrorInvalidItemForOperationCreateItem``); Body is text only;
  attendees are recorded but no meeting messages are delivered — those a
  server would have sent are listed in ``Mailbox.sent_meeting_messages``.
* Recurrence patterns: Daily, Weekly, AbsoluteMonthly, AbsoluteYearly (not
  the relative ones); a series has one time zone for start and end.
* Restrictions in FindItem: IsEqualTo, IsNotEqualTo, Exists, And, Or, Not on
  Subject, Location and extended properties. No sorting or grouping.
  FindItem leaves out Body and UID, as Exchange does; the series identity
  ``CleanGlobalObjectId`` (PSETID_Meeting 0x23) is synthesised from the UID.
* Requests are not validated against the full XSD: unknown or unmodelled
  item properties are ignored rather than rejected; malformed XML, a wrong
  root, an unknown ``RequestServerVersion`` and out-of-range values
  (``MaxChangesReturned``) are schema-validation faults.
* ``DeleteItem``'s ``SoftDelete`` removes the item like ``HardDelete`` (no
  recoverable-items folder); ``MoveToDeletedItems`` moves it to Deleted
  Items.
* Ids, ChangeKeys and SyncStates are opaque base64 strings of the
  sandbox's own making; a SyncState is signed, so a forged one is invalid.
* No notifications (pull, push, streaming) and no SOAP Autodiscover
  (``autodiscover.svc``); POX Autodiscover needs the same credentials.
* Windows time zone ids are mapped to IANA ones with the CLDR
  ``windowsZones`` table as shipped in exchangelib.
"""

from sandbox.ews.recurrence import Recurrence
from sandbox.ews.server import EwsSandbox, EwsState, start_ews_sandbox
from sandbox.ews.store import Item, Mailbox

__all__ = [
    "EwsSandbox",
    "EwsState",
    "Item",
    "Mailbox",
    "Recurrence",
    "start_ews_sandbox",
]
