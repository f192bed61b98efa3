"""CalDAV server differences, kept as data (after python-caldav's
``compatibility_hints.py``) instead of ``if server == …`` in the client.

Invariant: the GENERIC profile is correct against any RFC-conforming server;
a specific profile only saves requests or work. So a mis-identified server
is slower, never wrong.

Observed on loopback (Radicale 3.9.0, Xandikos 0.4.10), see
``tests/providers``:

==============================  ==========================  ===========================
behaviour                       Radicale                    Xandikos
==============================  ==========================  ===========================
rejected sync token             403 + DAV:valid-sync-token  412 + DAV:valid-sync-token
calendar-data in sync-coll.     returned inline             404 propstat: needs multiget
DAV:limit in sync-collection    ignored                     silently truncates, yet
                                                            returns the *newest* token
                                                            (changes would be lost)
DAV header lists sync-coll.     no (but supports it)        yes
XML body without Content-Type   accepted                    415 Unsupported Media Type
/.well-known/caldav             301 → /                     302 → /
PUT of a UID already stored     409 + C:no-uid-conflict     412 + C:no-uid-conflict
  under another name
MKCALENDAR without a body       201                         400
getctag                         quoted                      unquoted (= sync token)
privilege set                   read, write, write-content  DAV:all
authentication                  htpasswd (Basic)            none by default; htpasswd
                                                            only together with TLS
==============================  ==========================  ===========================

iCloud cannot be reached from here; its entry follows public documentation
and client experience and stays conservative (no inline calendar-data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ServerQuirks:
    name: str
    # Statuses the server uses for a DAV:valid-sync-token error. The error
    # element alone decides (CursorInvalid); another status is only logged,
    # so that this table gets corrected.
    invalid_sync_token_statuses: frozenset[int] = frozenset({400, 403, 409, 412})
    # Ask for calendar-data inside sync-collection (saves the multiget). Even
    # when True, hrefs that come back without data are fetched by multiget.
    calendar_data_in_sync_collection: bool = True
    # Hrefs per calendar-multiget request.
    multiget_batch_size: int = 200
    # DAV:limit is never sent (see Xandikos above); servers that truncate on
    # their own are followed with the new token, at most this many rounds.
    max_sync_rounds: int = 100
    # Identification, used by ``identify``.
    host_suffixes: tuple[str, ...] = ()
    dav_signature: frozenset[str] = field(default_factory=frozenset)
    sync_token_prefix: str | None = None


GENERIC = ServerQuirks(name="generic")

RADICALE = ServerQuirks(
    name="radicale",
    invalid_sync_token_statuses=frozenset({403}),
    calendar_data_in_sync_collection=True,
    multiget_batch_size=1000,
    dav_signature=frozenset(
        {"1", "2", "3", "calendar-access", "addressbook", "extended-mkcol"}
    ),
    sync_token_prefix="http://radicale.org/ns/sync/",
)

XANDIKOS = ServerQuirks(
    name="xandikos",
    invalid_sync_token_statuses=frozenset({412}),
    # It answers 404 for calendar-data in sync-collection, after computing
    # old and new values of every requested property: asking is pure cost.
    calendar_data_in_sync_collection=False,
    multiget_batch_size=1000,
    dav_signature=frozenset(
        {
            "1",
            "2",
            "3",
            "calendar-access",
            "calendar-auto-schedule",
            "addressbook",
            "extended-mkcol",
            "add-member",
            "sync-collection",
            "quota",
        }
    ),
)

ICLOUD = ServerQuirks(
    name="icloud",
    invalid_sync_token_statuses=frozenset({403, 412}),
    calendar_data_in_sync_collection=False,
    multiget_batch_size=100,
    host_suffixes=("icloud.com",),
)

PROFILES: dict[str, ServerQuirks] = {
    q.name: q for q in (GENERIC, RADICALE, XANDIKOS, ICLOUD)
}


def quirks_by_name(name: str | None) -> ServerQuirks:
    """The stored profile name back to its quirks (unknown → GENERIC)."""
    return PROFILES.get(name or "", GENERIC)


def identify(
    url: str, dav_header: str | None = None, sync_token: str | None = None
) -> ServerQuirks:
    """Best guess of the server from its URL, OPTIONS ``DAV`` header or a sync token."""
    host = (urlsplit(url).hostname or "").lower()
    tokens = frozenset(
        t.strip().lower() for t in (dav_header or "").split(",") if t.strip()
    )
    for quirks in PROFILES.values():
        if any(host == s or host.endswith("." + s) for s in quirks.host_suffixes):
            return quirks
        if quirks.dav_signature and tokens == quirks.dav_signature:
            return quirks
        if quirks.sync_token_prefix and (sync_token or "").startswith(
            quirks.sync_token_prefix
        ):
            return quirks
    return GENERIC
