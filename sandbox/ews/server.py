"""The EWS sandbox's HTTP server: a small ASGI app on uvicorn in a thread.

Paths (case-insensitive, as IIS treats them):

* ``POST /EWS/Exchange.asmx`` — SOAP 1.1 (``text/xml``), with the
  authentication schemes the sandbox was started with (``auth``: Basic by
  default, NTLM, or both; see ``sandbox.ews.auth``); missing or wrong
  credentials get HTTP 401 with one ``WWW-Authenticate`` header per scheme
  (``Basic realm="<host>"``, ``NTLM``).
* ``POST /autodiscover/autodiscover.xml`` — POX Autodiscover, same
  authentication.

Every EWS request is logged with its operation name, so tests and the
benchmark count what a client sent.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from starlette.types import Receive, Scope, Send

from sandbox.common.faults import FaultInjector, FaultKind, drop_connection
from sandbox.common.server import RunningServer, serve
from sandbox.ews import faults
from sandbox.ews.auth import Authenticator, Refused, offered_schemes
from sandbox.ews.autodiscover import (
    AutodiscoverRedirect,
    error_document,
    read_address,
    settings_document,
)
from sandbox.ews.errors import EwsError, SoapFault, invalid_request, server_busy
from sandbox.ews.ops_folders import find_folder, get_folder
from sandbox.ews.ops_items import (
    create_item,
    delete_item,
    find_item,
    get_item,
    update_item,
)
from sandbox.ews.ops_sync import sync_folder_items
from sandbox.ews.soap import Ctx, envelope, fault_envelope, read_request
from sandbox.ews.store import Mailbox, MailStore

log = logging.getLogger(__name__)

EWS_PATH = "/ews/exchange.asmx"
AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml"
MAX_BODY = 4 * 1024 * 1024
XML = "text/xml; charset=utf-8"

OPERATIONS: dict[str, Callable] = {
    "GetFolder": get_folder,
    "FindFolder": find_folder,
    "SyncFolderItems": sync_folder_items,
    "GetItem": get_item,
    "FindItem": find_item,
    "CreateItem": create_item,
    "UpdateItem": update_item,
    "DeleteItem": delete_item,
}


@dataclass(frozen=True)
class RequestRecord:
    path: str
    operation: str  # EWS operation, "Autodiscover", or "" if unreadable
    user: str | None
    status: int
    at: float
    body: bytes = b""  # request and response, kept when ``capture`` is on
    response: bytes = b""


class EwsState:
    """What a running sandbox holds: mailboxes, faults, redirects, the log."""

    def __init__(self, base_url: str, auth: Sequence[str] = ("Basic",)) -> None:
        self.base_url = base_url
        self.store = MailStore()
        # The schemes offered (``auth.schemes``) and the NTLM connections.
        self.auth = Authenticator(self.store, auth)
        self.faults = FaultInjector()
        self.redirects: dict[str, AutodiscoverRedirect] = {}
        self.autodiscover_enabled = True
        self.capture = False  # keep request and response bodies in the log
        self._lock = threading.Lock()
        self.requests: list[RequestRecord] = []

    @property
    def ews_url(self) -> str:
        return self.base_url + "/EWS/Exchange.asmx"

    def inject_fault(
        self,
        kind: FaultKind,
        count: int = 1,
        *,
        operation: str | None = None,
        back_off_ms: int | None = None,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``count`` EWS requests (of ``operation``) fail; see
        ``sandbox.ews.faults`` for what each kind looks like."""
        faults.inject(
            self.faults,
            kind,
            count,
            operation=operation,
            back_off_ms=back_off_ms,
            delay=delay,
        )

    def add_user(self, email: str, password: str, display_name: str = "") -> Mailbox:
        return self.store.add_user(email, password, display_name)

    def mailbox(self, email: str) -> Mailbox:
        return self.store.mailbox(email)

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def request_log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self.requests)

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def operations(self) -> list[str]:
        """Operation names of the EWS requests so far, oldest first."""
        return [r.operation for r in self.request_log() if r.path == EWS_PATH]


class EwsApp:
    """The ASGI application."""

    def __init__(self, state: EwsState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"].lower().rstrip("/")
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope["headers"]
        }
        body = await _read_body(receive)
        if path not in (EWS_PATH, AUTODISCOVER_PATH):
            await _respond(send, 404, b"Not Found", "text/plain")
            return
        if scope["method"] != "POST":
            await _respond(
                send, 405, b"Method Not Allowed", "text/plain", [("allow", "POST")]
            )
            return
        host = headers.get("host", "localhost").split(":")[0]
        client = scope.get("client")
        mailbox = self.state.auth.check(
            (client[0], client[1]) if client else None,
            headers.get("authorization", ""),
            host,
        )
        if isinstance(mailbox, Refused):
            self.state.record(RequestRecord(path, "", None, 401, time.time()))
            await _respond(
                send,
                401,
                b"",
                "text/html",
                [("www-authenticate", c) for c in mailbox.challenges],
            )
            return
        if path == AUTODISCOVER_PATH:
            status, payload = self._autodiscover(body, mailbox)
            self.state.record(
                RequestRecord(path, "Autodiscover", mailbox.email, status, time.time())
            )
            extra = [("location", payload.decode())] if status == 302 else []
            await _respond(send, status, b"" if status == 302 else payload, XML, extra)
            return
        await self._ews(path, body, mailbox, send)

    def _autodiscover(self, body: bytes, mailbox: Mailbox) -> tuple[int, bytes]:
        if not self.state.autodiscover_enabled:
            return 404, b""
        address = read_address(body)
        if address is None:
            return 200, error_document("600", "Invalid Request")
        redirect = self.state.redirects.get(address.lower())
        if redirect is not None and redirect.kind == "http":
            return 302, redirect.target.encode()
        if redirect is None:
            if address.lower() not in self.state.store.mailboxes:
                return 200, error_document("500", "The e-mail address cannot be found.")
            target = self.state.store.mailbox(address)
            name, email = target.display_name, target.email
        else:
            name, email = mailbox.display_name, address
        server = self.state.base_url.split("//", 1)[-1].split(":")[0]
        return 200, settings_document(name, email, self.state.ews_url, server, redirect)

    async def _ews(self, path: str, body: bytes, mailbox: Mailbox, send: Send) -> None:
        operation = ""
        status = 200
        try:
            request = read_request(body)
            operation = request.operation
            fault = faults.take(self.state.faults, operation)
            if fault is not None:
                if fault.kind == "slow":
                    await asyncio.sleep(fault.delay)
                elif fault.kind == "drop":
                    self.state.record(
                        RequestRecord(path, operation, mailbox.email, 0, time.time())
                    )
                    await drop_connection(send, b"<?xml version=")
                    return
                elif fault.kind == "too_many_requests" or fault.status == 503:
                    self.state.record(
                        RequestRecord(path, operation, mailbox.email, 503, time.time())
                    )
                    await _respond(send, 503, b"Service Unavailable", "text/html")
                    return
                elif fault.kind == "rate_limit":
                    back_off = (
                        fault.retry_after if fault.retry_after is not None else 30
                    )
                    raise server_busy(int(back_off * 1000))
                else:
                    raise SoapFault(
                        "ErrorInternalServerError",
                        "An internal server error occurred. The operation failed.",
                    )
            handler = OPERATIONS.get(operation)
            if handler is None:
                raise invalid_request(
                    f"The operation {operation} is not supported by this server."
                )
            ctx = Ctx(mailbox, request.version, request.zone)
            try:
                payload = envelope(handler(ctx, request.body))
            except EwsError as exc:  # a request-wide error before any message
                raise SoapFault(exc.code, exc.text) from exc
        except SoapFault as fault_exc:
            status = fault_exc.status
            payload = fault_envelope(fault_exc)
        except (ValueError, KeyError) as exc:
            log.debug("malformed %s request: %s", operation, exc)
            status = 500
            payload = fault_envelope(
                SoapFault(
                    "ErrorSchemaValidation",
                    f"The request failed schema validation: {exc}",
                )
            )
        keep = self.state.capture
        self.state.record(
            RequestRecord(
                path,
                operation,
                mailbox.email,
                status,
                time.time(),
                body if keep else b"",
                payload if keep else b"",
            )
        )
        await _respond(send, status, payload, XML)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY:
            chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[str, str]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.encode(), v.encode()) for k, v in extra or []]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class EwsSandbox:
    """A running sandbox; ``stop()`` (or ``with``) shuts it down."""

    def __init__(self, state: EwsState, running: RunningServer) -> None:
        self.state = state
        self.base_url = state.base_url
        self._running = running

    @property
    def ews_url(self) -> str:
        return self.state.ews_url

    @property
    def autodiscover_url(self) -> str:
        return self.base_url + "/autodiscover/autodiscover.xml"

    def stop(self) -> None:
        self._running.stop()

    def __enter__(self) -> EwsSandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_ews_sandbox(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    log_level: str = "warning",
    auth: Sequence[str] = ("Basic",),
) -> EwsSandbox:
    """Start a sandbox on ``host:port`` (0 = a free port) offering the
    authentication schemes ``auth`` (``"Basic"``, ``"NTLM"``, in the order
    its 401 lists them); add users through ``handle.state.add_user``."""
    schemes = offered_schemes(auth)  # a wrong name fails before binding
    states: list[EwsState] = []

    def build(base_url: str) -> EwsApp:
        states.append(EwsState(base_url, schemes))
        return EwsApp(states[0])

    def closed(client: tuple[str, int]) -> None:
        states[0].auth.closed(client)

    running = serve(
        build,
        port,
        host=host,
        name="EWS sandbox",
        log_level=log_level,
        on_disconnect=closed,
    )
    return EwsSandbox(states[0], running)
