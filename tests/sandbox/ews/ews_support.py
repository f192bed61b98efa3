"""Helpers for the EWS sandbox tests: raw SOAP posting, exchangelib
accounts, and XML skeleton comparison (fixtures are in ``conftest``)."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import spnego
from exchangelib import (
    BASIC,
    DELEGATE,
    Account,
    Build,
    Configuration,
    Credentials,
    FaultTolerance,
    Version,
)
from exchangelib.protocol import BaseProtocol, FailFast
from lxml import etree

from sandbox.ews import EwsSandbox, Mailbox

DOCS = Path(__file__).parent / "docs"
PASSWORD = "Secret-123"


def account(
    ews: EwsSandbox,
    mailbox: Mailbox,
    *,
    password: str = PASSWORD,
    fail_fast: bool = True,
    auth_type: str | None = BASIC,
) -> Account:
    """exchangelib configured as PROVIDERS.md says: no autodiscover, Basic
    (or ``auth_type``; None lets exchangelib find it from the 401), version
    pinned (no probing requests)."""
    BaseProtocol.USERAGENT = "CoachApp-Tests"
    config = Configuration(
        service_endpoint=ews.ews_url,
        credentials=Credentials(mailbox.email, password),
        auth_type=auth_type,
        version=Version(build=Build(15, 1, 2507, 6), api_version="Exchange2016"),
        retry_policy=FailFast() if fail_fast else FaultTolerance(max_wait=30),
    )
    return Account(
        mailbox.email, config=config, autodiscover=False, access_type=DELEGATE
    )


def post(
    ews: EwsSandbox,
    mailbox: Mailbox | None,
    body: bytes,
    *,
    path: str = "/EWS/Exchange.asmx",
) -> httpx.Response:
    auth = (mailbox.email, PASSWORD) if mailbox is not None else None
    return httpx.post(
        ews.base_url + path,
        content=body,
        auth=auth,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=30,
    )


def ntlm_post(
    client: httpx.Client,
    url: str,
    user: str,
    password: str,
    body: bytes,
) -> tuple[httpx.Response, httpx.Response]:
    """An NTLM handshake on ``client``'s connection: NEGOTIATE, then
    AUTHENTICATE with the answer to the server's CHALLENGE. Returns the
    response to each (the second is the request's own answer)."""
    initiator = spnego.client(user, password, protocol="ntlm")
    headers = {"Content-Type": "text/xml; charset=utf-8"}

    def send(token: bytes | None) -> httpx.Response:
        authorization = "NTLM " + base64.b64encode(token or b"").decode()
        return client.post(
            url, content=body, headers={**headers, "Authorization": authorization}
        )

    first = send(initiator.step())
    [challenge] = [
        value.split(" ", 1)[1]
        for value in first.headers.get_list("www-authenticate")
        if value.startswith("NTLM ")
    ] or [""]
    if not challenge:
        return first, first
    return first, send(initiator.step(base64.b64decode(challenge)))


def doc(name: str) -> bytes:
    """A documented example, with the pages' https:// namespace slip read as http://."""
    raw = (DOCS / name).read_bytes()
    return raw.replace(
        b"https://schemas.microsoft.com/", b"http://schemas.microsoft.com/"
    )


def skeleton(raw: bytes, rename: dict[str, str] | None = None) -> set[tuple[str, ...]]:
    """Every element path of a document (namespace-qualified names), with
    ``rename`` applied to local names (e.g. Message → CalendarItem)."""
    root = etree.fromstring(raw)
    paths: set[tuple[str, ...]] = set()

    def walk(node: etree._Element, prefix: tuple[str, ...]) -> None:
        if not isinstance(node.tag, str):
            return
        qname = etree.QName(node)
        name = f"{{{qname.namespace}}}{(rename or {}).get(qname.localname, qname.localname)}"
        path = (*prefix, name)
        paths.add(path)
        for child in node:
            walk(child, path)

    walk(root, ())
    return paths


def missing_structure(
    documented: bytes,
    actual: bytes,
    *,
    rename: dict[str, str] | None = None,
    not_modelled: set[str] = frozenset(),
) -> list[str]:
    """Element paths of the documented response absent from the actual one
    (paths through a ``not_modelled`` local name are skipped)."""
    expected = skeleton(documented, rename)
    got = skeleton(actual)
    missing = []
    for path in sorted(expected - got):
        if any(step.rsplit("}", 1)[-1] in not_modelled for step in path):
            continue
        missing.append("/".join(step.rsplit("}", 1)[-1] for step in path))
    return missing


NS = {
    "s": "http://schemas.xmlsoap.org/soap/envelope/",
    "m": "http://schemas.microsoft.com/exchange/services/2006/messages",
    "t": "http://schemas.microsoft.com/exchange/services/2006/types",
    "e": "http://schemas.microsoft.com/exchange/services/2006/errors",
}


def xpath(raw: bytes, path: str) -> list:
    return etree.fromstring(raw).xpath(path, namespaces=NS)
