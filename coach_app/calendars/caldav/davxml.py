"""WebDAV/CalDAV XML: request bodies and multistatus parsing (pure functions).

Parsing uses the standard library's ElementTree: it does not fetch external
entities, and the bundled expat (≥ 2.4) caps entity expansion, which is what
matters for XML coming from a server the coach typed in.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
ICAL = "http://apple.com/ns/ical/"

_PREFIXES = {"d": DAV, "c": CALDAV, "cs": CS, "ical": ICAL}
_XMLNS = " ".join(f'xmlns:{p}="{ns}"' for p, ns in _PREFIXES.items())


def clark(qname: str) -> str:
    """``"d:getetag"`` → ``"{DAV:}getetag"``."""
    prefix, local = qname.split(":", 1)
    return f"{{{_PREFIXES[prefix]}}}{local}"


GETETAG = clark("d:getetag")
CALENDAR_DATA = clark("c:calendar-data")
RESOURCETYPE = clark("d:resourcetype")
DISPLAYNAME = clark("d:displayname")
HREF = clark("d:href")


@dataclass
class DavResponse:
    """One ``DAV:response``: its status and the properties found (200 propstats)."""

    href: str
    status: int | None = None
    props: dict[str, ET.Element] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    errors: set[str] = field(default_factory=set)  # conditions in DAV:error

    def text(self, name: str) -> str | None:
        element = self.props.get(name)
        if element is None or element.text is None:
            return None
        return element.text

    def href_of(self, name: str) -> str | None:
        """The text of the first ``DAV:href`` inside property ``name``."""
        element = self.props.get(name)
        child = element.find(HREF) if element is not None else None
        return child.text.strip() if child is not None and child.text else None


@dataclass
class Multistatus:
    responses: list[DavResponse]
    sync_token: str | None = None


def propfind(*props: str) -> bytes:
    return _doc(f"<d:propfind {_XMLNS}><d:prop>{_props(props)}</d:prop></d:propfind>")


def sync_collection(token: str | None, *props: str) -> bytes:
    token_xml = (
        f"<d:sync-token>{escape(token)}</d:sync-token>" if token else "<d:sync-token/>"
    )
    return _doc(
        f"<d:sync-collection {_XMLNS}>{token_xml}<d:sync-level>1</d:sync-level>"
        f"<d:prop>{_props(props)}</d:prop></d:sync-collection>"
    )


def calendar_multiget(hrefs: list[str], *props: str) -> bytes:
    href_xml = "".join(f"<d:href>{escape(h)}</d:href>" for h in hrefs)
    return _doc(
        f"<c:calendar-multiget {_XMLNS}><d:prop>{_props(props)}</d:prop>"
        f"{href_xml}</c:calendar-multiget>"
    )


def mkcalendar(
    display_name: str,
    components: tuple[str, ...] = ("VEVENT",),
    color: str | None = None,
) -> bytes:
    comps = "".join(f'<c:comp name="{escape(c)}"/>' for c in components)
    color_xml = (
        f"<ical:calendar-color>{escape(color)}</ical:calendar-color>" if color else ""
    )
    return _doc(
        f"<c:mkcalendar {_XMLNS}><d:set><d:prop>"
        f"<d:displayname>{escape(display_name)}</d:displayname>{color_xml}"
        f"<c:supported-calendar-component-set>{comps}</c:supported-calendar-component-set>"
        f"</d:prop></d:set></c:mkcalendar>"
    )


def parse_multistatus(body: bytes) -> Multistatus:
    """Parse a 207 body; raises ``ValueError`` if it is not a multistatus."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"invalid XML: {exc}") from exc
    if root.tag != clark("d:multistatus"):
        raise ValueError(f"expected DAV:multistatus, got {root.tag}")
    responses = [_parse_response(el) for el in root.findall(clark("d:response"))]
    token_el = root.find(clark("d:sync-token"))
    token = token_el.text.strip() if token_el is not None and token_el.text else None
    return Multistatus(responses, token)


def error_conditions(body: bytes) -> set[str]:
    """Clark names of the conditions inside a ``DAV:error`` body (empty if none)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return set()
    if root.tag != clark("d:error"):
        return set()
    return {child.tag for child in root}


def normalize_href(href: str) -> str:
    """Path only, percent-decoded: the form used for ids and comparisons."""
    return unquote(urlsplit(href.strip()).path)


def _parse_response(element: ET.Element) -> DavResponse:
    href_el = element.find(HREF)
    href = normalize_href(href_el.text or "") if href_el is not None else ""
    result = DavResponse(href=href, status=_status(element.find(clark("d:status"))))
    error = element.find(clark("d:error"))
    if error is not None:
        result.errors = {child.tag for child in error}
    for propstat in element.findall(clark("d:propstat")):
        code = _status(propstat.find(clark("d:status")))
        prop = propstat.find(clark("d:prop"))
        for child in prop if prop is not None else ():
            if code is not None and 200 <= code < 300:
                result.props[child.tag] = child
            else:
                result.missing.add(child.tag)
    return result


def _status(element: ET.Element | None) -> int | None:
    if element is None or not element.text:
        return None
    parts = element.text.split()  # "HTTP/1.1 404 Not Found"
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _props(props: tuple[str, ...]) -> str:
    return "".join(f"<{p}/>" for p in props)


def _doc(xml: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + xml).encode("utf-8")
