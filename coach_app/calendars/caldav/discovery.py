"""CalDAV discovery (RFC 6764 / RFC 4791 §6): where the coach's calendars live.

``/.well-known/caldav`` (or the URL given) → ``DAV:current-user-principal``
→ ``calendar-home-set`` → PROPFIND Depth 1 over the home for the event
calendars. Anything that answers but does not walk this path is
``NotCalendarServer``, so the wizard can say "that is not a calendar server"
instead of a generic failure.
"""

from __future__ import annotations

from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from coach_app.calendars.base import SubCalendar
from coach_app.calendars.caldav import davxml
from coach_app.calendars.caldav.davxml import clark
from coach_app.calendars.caldav.transport import XML, DavHttp
from coach_app.calendars.errors import NotCalendarServer

PATH_SAFE = "/@:+,;=!$&'()*~"  # characters left unescaped when quoting a path

_WRITE_PRIVILEGES = {
    clark("d:write"),
    clark("d:write-content"),
    clark("d:all"),
    clark("d:bind"),
}
_CALENDAR_PROPS = (
    "d:resourcetype",
    "d:displayname",
    "ical:calendar-color",
    "cs:getctag",
    "c:supported-calendar-component-set",
    "d:current-user-privilege-set",
)


async def find_principal(http: DavHttp, base: str) -> str:
    """The principal URL, trying the given URL and ``/.well-known/caldav``."""
    well_known = urljoin(base, "/.well-known/caldav")
    at_root = urlsplit(base).path in ("", "/")
    candidates = [well_known, base] if at_root else [base, well_known]
    for url in candidates:
        response = await http.request(
            "PROPFIND",
            url,
            body=davxml.propfind("d:current-user-principal"),
            content_type=XML,
            depth="0",
        )
        if response.status_code in (401, 403, 429) or response.status_code >= 500:
            http.raise_for_status(response)
        if response.status_code != 207:
            continue  # a web page, 404 or 405: not (this part of) a DAV server
        try:
            multistatus = davxml.parse_multistatus(response.content)
        except ValueError:
            continue
        for item in multistatus.responses:
            href = item.href_of(clark("d:current-user-principal"))
            if href:
                return urljoin(str(response.url), href)
    raise NotCalendarServer(f"no CalDAV principal found at {base}")


async def find_home(http: DavHttp, principal: str) -> tuple[str, str | None]:
    """The calendar home URL and the principal's display name."""
    response = await http.request(
        "PROPFIND",
        principal,
        body=davxml.propfind("c:calendar-home-set", "d:displayname"),
        content_type=XML,
        depth="0",
    )
    for item in http.multistatus(response).responses:
        href = item.href_of(clark("c:calendar-home-set"))
        if href:
            home = as_collection(urljoin(str(response.url), href))
            return home, item.text(davxml.DISPLAYNAME)
    raise NotCalendarServer(f"{principal} has no calendar-home-set: not CalDAV")


async def dav_header(http: DavHttp, home: str) -> str:
    """The ``DAV`` compliance header of the home; it must offer calendar-access."""
    response = await http.request("OPTIONS", home)
    http.raise_for_status(response)
    dav = str(response.headers.get("DAV", ""))
    if "calendar-access" not in dav.lower():
        raise NotCalendarServer(f"{home} does not offer calendar-access ({dav!r})")
    return dav


async def event_calendars(http: DavHttp, home: str) -> list[SubCalendar]:
    """The calendars in ``home`` that can hold events, sorted by name."""
    response = await http.request(
        "PROPFIND",
        home,
        body=davxml.propfind(*_CALENDAR_PROPS),
        content_type=XML,
        depth="1",
    )
    calendars = [
        calendar
        for item in http.multistatus(response).responses
        if (calendar := _sub_calendar(item, str(response.url))) is not None
    ]
    return sorted(calendars, key=lambda c: (c.name.lower(), c.id))


def as_collection(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _sub_calendar(item: davxml.DavResponse, base: str) -> SubCalendar | None:
    resourcetype = item.props.get(davxml.RESOURCETYPE)
    if resourcetype is None or resourcetype.find(clark("c:calendar")) is None:
        return None
    components = item.props.get(clark("c:supported-calendar-component-set"))
    # Absent means "any component" (RFC 4791 §5.2.3); VTODO-only lists are skipped.
    if components is not None and "VEVENT" not in {
        c.get("name", "").upper() for c in components
    }:
        return None
    privileges = item.props.get(clark("d:current-user-privilege-set"))
    # RFC 3744 makes the privilege set optional: without it, assume writable
    # and let a refused PUT tell us otherwise.
    can_write = privileges is None or any(
        child.tag in _WRITE_PRIVILEGES for p in privileges for child in p
    )
    origin = urlsplit(base)
    path = quote(item.href, safe=PATH_SAFE)
    name = item.text(davxml.DISPLAYNAME) or item.href.rstrip("/").rsplit("/", 1)[-1]
    return SubCalendar(
        id=as_collection(urlunsplit((origin.scheme, origin.netloc, path, "", ""))),
        name=name,
        color=item.text(clark("ical:calendar-color")),
        can_write=can_write,
        ctag=item.text(clark("cs:getctag")),
    )
