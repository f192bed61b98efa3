"""XML plumbing for the EWS sandbox: namespaces, safe parsing, builders.

Namespaces are the ones of the EWS schemas (Messages.xsd, Types.xsd,
Errors.xsd) and of POX Autodiscover, as named on each element's
"Element information" table in Microsoft's EWS reference.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
AD_REQUEST = (
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
)
AD_RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
AD_OUTLOOK = (
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"

NSMAP = {"s": SOAP, "m": M, "t": T}

Element = etree._Element

# No entity expansion, no network, no DTD: a request body is untrusted.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


class MalformedXml(ValueError):
    """The body is not well-formed XML (or carries a DTD)."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def parse(body: bytes) -> Element:
    """Parse an untrusted body; raise ``MalformedXml`` with the position."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        raise MalformedXml(str(exc.msg or exc), line, column) from exc
    if root.getroottree().docinfo.doctype:
        raise MalformedXml("a DTD is not allowed", 1, 1)
    return root


def q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def tq(name: str) -> str:
    """A name in the types namespace."""
    return q(T, name)


def mq(name: str) -> str:
    """A name in the messages namespace."""
    return q(M, name)


def sub(parent: Element, tag: str, text: str | None = None, **attrs: str) -> Element:
    child = etree.SubElement(
        parent, tag, {k: v for k, v in attrs.items() if v is not None}
    )
    if text is not None:
        child.text = text
    return child


def element(tag: str, text: str | None = None, **attrs: str) -> Element:
    node = etree.Element(
        tag, {k: v for k, v in attrs.items() if v is not None}, nsmap=NSMAP
    )
    if text is not None:
        node.text = text
    return node


def to_bytes(node: Element) -> bytes:
    return etree.tostring(node, xml_declaration=True, encoding="utf-8")


def local(tag: object) -> str:
    """The local name of an element tag ("" for comments and the like)."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def children(node: Element | None) -> list[Element]:
    """Element children only (no comments or processing instructions)."""
    if node is None:
        return []
    return [c for c in node if isinstance(c.tag, str)]


def text_of(node: Element | None, default: str | None = None) -> str | None:
    if node is None or node.text is None:
        return default
    return node.text.strip()


def find_t(node: Element | None, name: str) -> Element | None:
    return None if node is None else node.find(tq(name))


def find_m(node: Element | None, name: str) -> Element | None:
    return None if node is None else node.find(mq(name))


# -- values -------------------------------------------------------------------


def fmt_datetime(value: datetime) -> str:
    """xs:dateTime in UTC with a Z, as EWS returns it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_date(value: date) -> str:
    return value.isoformat()


def fmt_bool(value: bool) -> str:
    return "true" if value else "false"


def parse_bool(text: str | None) -> bool:
    if text is None:
        raise ValueError("missing boolean")
    value = text.strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ValueError(f"not an xs:boolean: {text!r}")


def parse_datetime(text: str | None, context: tzinfo | None = None) -> datetime:
    """An xs:dateTime; one without an offset is wall time in ``context``
    (the request's TimeZoneContext) or, without one, UTC."""
    if not text:
        raise ValueError("missing xs:dateTime")
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=context or UTC)
    return value.astimezone(UTC)


def parse_date(text: str | None) -> date:
    """An xs:date; a trailing zone designator ("2024-01-01Z",
    "2024-01-01+01:00") is allowed by the schema and ignored here."""
    if not text:
        raise ValueError("missing xs:date")
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1]
    elif len(value) > 10 and value[10] in "+-":
        value = value[:10]
    return date.fromisoformat(value)
