"""Authentication of the EWS sandbox, as IIS does it for Exchange's virtual
directories (``/EWS`` and ``/Autodiscover``).

The sandbox offers the schemes it is started with: ``Basic`` (the
default), ``NTLM``, or both. A request without acceptable credentials gets
HTTP 401 with one ``WWW-Authenticate`` header per offered scheme, in the
order given, as IIS lists its enabled authentication providers::

    WWW-Authenticate: NTLM
    WWW-Authenticate: Basic realm="mail.example.com"

* Basic (RFC 7617) is per request: the user name is the SMTP address (or
  ``DOMAIN\\user``, matched on the address's local part) and the password.
* NTLM over HTTP ([MS-NTHT], messages of [MS-NLMP]) is per connection. The
  client sends NEGOTIATE (``Authorization: NTLM <base64>``); the server
  answers 401 with ``WWW-Authenticate: NTLM <base64 CHALLENGE>``; the client
  sends AUTHENTICATE on the same TCP connection, with the response computed
  from the password and the server's challenge. pyspnego's NTLM acceptor
  checks that response against the account's current password (so a wrong
  password is refused) and the MIC when the client sends one. The
  connection is then authenticated: later requests on it need no
  ``Authorization`` header, as with IIS (``authPersistSingleRequest`` off,
  its default). A NEGOTIATE on a connection starts over; a failed
  AUTHENTICATE gets the plain 401 and leaves the connection
  unauthenticated. The state is kept per connection (the client's address
  and port) and dropped when the connection closes.

NTLM user names are the accounts' SMTP addresses in UPN form with no
domain (what a client sends for ``user@example.com``); a down-level
``DOMAIN\\user`` logon is not modelled for NTLM. The acceptor accepts what
a domain controller at the default ``LmCompatibilityLevel`` accepts (NTLMv2,
and NTLMv1 for old clients); channel bindings are not checked (the sandbox
serves plain HTTP). Negotiate (SPNEGO, Kerberos) is never offered.

pyspnego's acceptor reads the accounts from the file named by the
``NTLM_USER_FILE`` environment variable (lines ``DOMAIN:USER:PASSWORD``).
The first NTLM handshake in a process points that variable at a private
temporary file of the process (and points it back if something changed
it); the step that checks an AUTHENTICATE message writes the sandbox's
current accounts there under a process-wide lock, runs, and empties the
file again, so several sandboxes in one process each check their own
users. An account whose address or password holds a colon
or a line break cannot be written in that format and cannot sign in with
NTLM (Basic still works for it).
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import logging
import os
import struct
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import spnego
from spnego.exceptions import SpnegoError

from sandbox.ews.store import Mailbox, MailStore

log = logging.getLogger(__name__)

SCHEMES = ("Basic", "NTLM")
_SIGNATURE = b"NTLMSSP\x00"
_NEGOTIATE, _AUTHENTICATE = 1, 3
_USER_FILE_ENV = "NTLM_USER_FILE"
_file_lock = threading.Lock()
_user_file: str | None = None
T = TypeVar("T")

Client = tuple[str, int]


def offered_schemes(schemes: Iterable[str]) -> tuple[str, ...]:
    """``schemes`` spelt as IIS spells them; ``ValueError`` for any other."""
    names = {s.lower(): s for s in SCHEMES}
    result: list[str] = []
    for scheme in schemes:
        name = names.get(scheme.strip().lower())
        if name is None:
            raise ValueError(f"the EWS sandbox offers Basic and NTLM, not {scheme!r}")
        if name not in result:
            result.append(name)
    if not result:
        raise ValueError("the EWS sandbox needs at least one authentication scheme")
    return tuple(result)


@dataclass(frozen=True)
class Refused:
    """HTTP 401 with these ``WWW-Authenticate`` values."""

    challenges: tuple[str, ...]


@dataclass
class _Connection:
    handshake: spnego.ContextProxy | None = None  # NEGOTIATE answered
    user: str | None = None  # authenticated with NTLM


class Authenticator:
    """Checks each request's credentials for the schemes offered."""

    def __init__(self, store: MailStore, schemes: Sequence[str] = ("Basic",)) -> None:
        self.store = store
        self.schemes = offered_schemes(schemes)
        self._connections: dict[Client, _Connection] = {}
        self.handshakes = 0  # NTLM handshakes completed, all connections together

    @property
    def connections(self) -> int:
        """Connections with an NTLM handshake under way or completed."""
        return len(self._connections)

    def challenges(self, host: str) -> tuple[str, ...]:
        return tuple(
            f'Basic realm="{host}"' if s == "Basic" else s for s in self.schemes
        )

    def check(self, client: Client | None, header: str, host: str) -> Mailbox | Refused:
        """The mailbox a request is for, or how to refuse it."""
        scheme, _, value = header.strip().partition(" ")
        scheme = scheme.lower()
        connection = self._connections.get(client) if client is not None else None
        if not scheme and connection is not None and connection.user is not None:
            mailbox = self.store.user(connection.user)
            if mailbox is not None:
                return mailbox
        if scheme == "basic" and "Basic" in self.schemes:
            mailbox = self._basic(value)
            if mailbox is not None:
                return mailbox
        elif scheme == "ntlm" and "NTLM" in self.schemes and client is not None:
            return self._ntlm(client, value, host)
        return Refused(self.challenges(host))

    def closed(self, client: Client) -> None:
        """The client's connection closed: its NTLM state goes with it."""
        self._connections.pop(client, None)

    def _basic(self, credentials: str) -> Mailbox | None:
        try:
            user, _, password = (
                base64.b64decode(credentials.strip(), validate=True)
                .decode("utf-8")
                .partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return None
        return self.store.check_password(user, password)

    def _ntlm(self, client: Client, value: str, host: str) -> Mailbox | Refused:
        refused = Refused(self.challenges(host))
        connection = self._connections.pop(client, None)
        try:
            token = base64.b64decode(value.strip(), validate=True)
        except binascii.Error:
            return refused
        kind = _message_type(token)
        try:
            if kind == _NEGOTIATE:
                handshake = _with_accounts([], lambda: spnego.server(protocol="ntlm"))
                challenge = handshake.step(token)
                if challenge is None:
                    return refused
                self._connections[client] = _Connection(handshake=handshake)
                return Refused(("NTLM " + base64.b64encode(challenge).decode(),))
            if kind != _AUTHENTICATE or connection is None:
                return refused
            handshake = connection.handshake
            if handshake is None:
                return refused
            _with_accounts(self._account_lines(), lambda: handshake.step(token))
        except (SpnegoError, ValueError, IndexError, struct.error) as exc:
            # a wrong password, an unknown user, or a malformed message
            log.info("NTLM from %s:%s refused: %s", *client, exc)
            return refused
        mailbox = self.store.user(handshake.client_principal or "")
        if not handshake.complete or mailbox is None:
            return refused
        self._connections[client] = _Connection(user=mailbox.email)
        self.handshakes += 1
        return mailbox

    def _account_lines(self) -> list[str]:
        """The accounts in the file's ``DOMAIN:USER:PASSWORD`` form."""
        return [
            f":{email}:{password}\n"
            for email, password in self.store.credentials()
            if not any(c in email + password for c in ":\r\n")
        ]


def _with_accounts(lines: list[str], step: Callable[[], T]) -> T:
    """Run ``step`` with ``lines`` in the ``NTLM_USER_FILE`` (emptied after)."""
    with _file_lock:
        path = _accounts_file()
        try:
            with open(path, "w", encoding="utf-8") as out:
                out.writelines(lines)
            return step()
        finally:
            if lines:
                with open(path, "w", encoding="utf-8"):
                    pass


def _accounts_file() -> str:
    """The process's account file for pyspnego (``_file_lock`` held)."""
    global _user_file
    if _user_file is None:
        descriptor, path = tempfile.mkstemp(prefix="ews-sandbox-ntlm-", suffix=".txt")
        os.close(descriptor)
        atexit.register(_remove, path)
        _user_file = path
    if os.environ.get(_USER_FILE_ENV) != _user_file:
        os.environ[_USER_FILE_ENV] = _user_file
    return _user_file


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _message_type(token: bytes) -> int:
    """The MessageType of an NTLM message (1, 2, 3), or 0 if it is none."""
    if len(token) < 12 or not token.startswith(_SIGNATURE):
        return 0
    return int.from_bytes(token[8:12], "little")
