"""The SOAP 1.1 layer of ``/EWS/Exchange.asmx``: envelopes, headers,
versions and response messages.

* Request headers: ``RequestServerVersion`` (reference page of that name:
  Exchange2007 … Exchange2013_SP1, plus Exchange2015/Exchange2016 that
  Exchange 2016 accepts) and ``TimeZoneContext``. An unknown version is a
  schema violation (the attribute is an enumeration); a missing header
  means Exchange2007, the oldest schema, whose responses lack newer fields.
* Every response carries ``t:ServerVersionInfo`` in the SOAP header
  ("ServerVersionInfo": MajorVersion, MinorVersion, MajorBuildNumber,
  MinorBuildNumber, Version), here Exchange Server 2016 build 15.1.2507.6.
* A response is ``m:<Operation>Response/m:ResponseMessages`` with one
  ``m:<Operation>ResponseMessage`` per request item, each with
  ``ResponseClass`` and ``m:ResponseCode`` — the layout of every operation
  page's examples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sandbox.ews.errors import EwsError, SoapFault, invalid_request, schema_validation
from sandbox.ews.ewsxml import (
    SOAP,
    Element,
    M,
    MalformedXml,
    T,
    children,
    element,
    local,
    mq,
    parse,
    q,
    sub,
    to_bytes,
    tq,
)
from sandbox.ews.incoming import zone_from_ms_id
from sandbox.ews.shapes import VERSION_ORDER
from sandbox.ews.store import Mailbox

SERVER_BUILD = (15, 1, 2507, 6)  # Exchange Server 2016 CU23
SERVER_SCHEMA = "V2017_07_11"
DEFAULT_VERSION = "Exchange2007"


@dataclass
class Ctx:
    mailbox: Mailbox
    version: str
    zone: ZoneInfo | None  # TimeZoneContext


@dataclass(frozen=True)
class Request:
    operation: str
    body: Element
    version: str
    zone: ZoneInfo | None


def read_request(raw: bytes) -> Request:
    """Parse and check an envelope; raise ``SoapFault`` when it is unusable."""
    try:
        root = parse(raw)
    except MalformedXml as exc:
        raise schema_validation(str(exc), exc.line, exc.column) from exc
    if root.tag != q(SOAP, "Envelope"):
        raise schema_validation(
            f"The root element must be soap:Envelope, not {local(root.tag)}.", 1, 1
        )
    header = root.find(q(SOAP, "Header"))
    body = root.find(q(SOAP, "Body"))
    operations = children(body)
    if body is None or len(operations) != 1:
        raise invalid_request()
    operation = operations[0]
    if not operation.tag.startswith("{" + M + "}"):
        raise invalid_request()
    version = DEFAULT_VERSION
    zone = None
    for part in children(header):
        name = local(part.tag)
        if part.tag == tq("RequestServerVersion"):
            version = part.get("Version") or ""
            if version not in VERSION_ORDER:
                raise schema_validation(
                    f"The 'Version' attribute is invalid - The value '{version}' is "
                    "invalid according to its datatype "
                    "'http://schemas.microsoft.com/exchange/services/2006/types:ExchangeVersionType'."
                )
        elif part.tag == tq("TimeZoneContext"):
            definition = part.find(tq("TimeZoneDefinition"))
            if definition is None:
                raise schema_validation("TimeZoneContext needs a TimeZoneDefinition.")
            try:
                zone = ZoneInfo(zone_from_ms_id(definition.get("Id")))
            except EwsError as exc:
                raise SoapFault("ErrorTimeZone", exc.text) from exc
        elif part.tag == tq("ExchangeImpersonation"):
            raise SoapFault(
                "ErrorImpersonateUserDenied",
                "The account does not have permission to impersonate the requested user.",
            )
        elif name not in ("MailboxCulture", "DateTimePrecision", "ManagementRole"):
            raise schema_validation(
                f"The element '{name}' is not expected in the SOAP header."
            )
    return Request(local(operation.tag), operation, version, zone)


def envelope(response: Element) -> bytes:
    env = element(q(SOAP, "Envelope"))
    header = sub(env, q(SOAP, "Header"))
    major, minor, build, revision = SERVER_BUILD
    sub(
        header,
        q(T, "ServerVersionInfo"),
        MajorVersion=str(major),
        MinorVersion=str(minor),
        MajorBuildNumber=str(build),
        MinorBuildNumber=str(revision),
        Version=SERVER_SCHEMA,
    )
    sub(env, q(SOAP, "Body")).append(response)
    return to_bytes(env)


def fault_envelope(fault: SoapFault) -> bytes:
    return to_bytes(fault.envelope())


class Responses:
    """Builds ``m:<Op>Response/m:ResponseMessages``."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.root = element(mq(f"{operation}Response"))
        self.messages = sub(self.root, mq("ResponseMessages"))

    def success(self, warning: str | None = None) -> Element:
        message = sub(
            self.messages,
            mq(f"{self.operation}ResponseMessage"),
            ResponseClass="Success",
        )
        sub(message, mq("ResponseCode"), "NoError")
        return message

    def error(
        self, error: EwsError, tail: Callable[[Element], object] | None = None
    ) -> Element:
        message = sub(
            self.messages, mq(f"{self.operation}ResponseMessage"), ResponseClass="Error"
        )
        sub(message, mq("MessageText"), error.text)
        sub(message, mq("ResponseCode"), error.code)
        sub(message, mq("DescriptiveLinkKey"), "0")
        if tail is not None:
            tail(message)
        return message

    def each(
        self,
        values: list[object],
        handle: Callable[[Element, object], None],
        error_tail: Callable[[Element], object] | None = None,
    ) -> None:
        """One message per value; an ``EwsError`` becomes that value's error
        (followed by ``error_tail``'s elements, as some operations document)."""
        for value in values:
            try:
                # Build into a scratch parent first so a failure leaves no
                # half-written success message behind.
                scratch = element(mq("Scratch"))
                message = sub(
                    scratch,
                    mq(f"{self.operation}ResponseMessage"),
                    ResponseClass="Success",
                )
                sub(message, mq("ResponseCode"), "NoError")
                handle(message, value)
                self.messages.append(message)
            except EwsError as exc:
                self.error(exc, error_tail)


def required(node: Element | None, what: str) -> Element:
    if node is None:
        raise schema_validation(f"The element '{what}' is missing.")
    return node
