"""POX Autodiscover: ``POST /autodiscover/autodiscover.xml``.

Follows "POX Autodiscover request for Exchange" / "POX Autodiscover
response for Exchange" and MS-OXDSCLI 3.2.5: the request names the
``EMailAddress`` and the ``AcceptableResponseSchema`` (the Outlook schema
``…/outlook/responseschema/2006a``); the response's ``User`` and ``Account``
carry ``Protocol`` entries whose ``ASUrl`` is the EWS endpoint. A redirect
is ``Action`` ``redirectAddr`` (another address to ask for) or
``redirectUrl`` (another Autodiscover server), or an HTTP 302 with the new
URL in ``Location``; errors are ``Response/Error`` with an ``ErrorCode``
(600 Invalid Request, 500 for an unknown address).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from sandbox.ews.ewsxml import (
    AD_OUTLOOK,
    AD_REQUEST,
    AD_RESPONSE,
    MalformedXml,
    parse,
    q,
    sub,
)


@dataclass(frozen=True)
class AutodiscoverRedirect:
    """How the server redirects a request for one address."""

    kind: str  # "addr" (redirectAddr), "url" (redirectUrl) or "http" (302)
    target: str


def error_document(code: str, message: str) -> bytes:
    root = etree.Element(q(AD_RESPONSE, "Autodiscover"), nsmap={None: AD_RESPONSE})
    response = sub(root, q(AD_RESPONSE, "Response"))
    error = sub(
        response, q(AD_RESPONSE, "Error"), Time="00:00:00.0000000", Id="2477272013"
    )
    sub(error, q(AD_RESPONSE, "ErrorCode"), code)
    sub(error, q(AD_RESPONSE, "Message"), message)
    sub(error, q(AD_RESPONSE, "DebugData"))
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def read_address(body: bytes) -> str | None:
    """The requested address, or None when the request is not valid."""
    try:
        root = parse(body)
    except MalformedXml:
        return None
    if root.tag != q(AD_REQUEST, "Autodiscover"):
        return None
    request = root.find(q(AD_REQUEST, "Request"))
    if request is None:
        return None
    schema = request.findtext(q(AD_REQUEST, "AcceptableResponseSchema"))
    address = request.findtext(q(AD_REQUEST, "EMailAddress"))
    if (schema or "").strip() != AD_OUTLOOK or not (address or "").strip():
        return None
    return address.strip()


def settings_document(
    display_name: str,
    email: str,
    ews_url: str,
    server: str,
    redirect: AutodiscoverRedirect | None,
) -> bytes:
    root = etree.Element(q(AD_RESPONSE, "Autodiscover"), nsmap={None: AD_RESPONSE})
    response = etree.SubElement(
        root, q(AD_OUTLOOK, "Response"), nsmap={None: AD_OUTLOOK}
    )
    o = lambda name: q(AD_OUTLOOK, name)  # noqa: E731
    if redirect is None:
        user = sub(response, o("User"))
        sub(user, o("DisplayName"), display_name)
        sub(
            user,
            o("LegacyDN"),
            f"/o=Sandbox/ou=Exchange Administrative Group/cn=Recipients/cn={email.split('@')[0]}",
        )
        sub(user, o("AutoDiscoverSMTPAddress"), email)
        sub(user, o("DeploymentId"), "644560b8-a1ce-429c-8ace-23395843f701")
    account = sub(response, o("Account"))
    sub(account, o("AccountType"), "email")
    if redirect is not None:
        sub(
            account,
            o("Action"),
            "redirectAddr" if redirect.kind == "addr" else "redirectUrl",
        )
        sub(
            account,
            o("RedirectAddr" if redirect.kind == "addr" else "RedirectUrl"),
            redirect.target,
        )
    else:
        sub(account, o("Action"), "settings")
        for kind in ("EXCH", "EXPR"):
            protocol = sub(account, o("Protocol"))
            sub(protocol, o("Type"), kind)
            sub(protocol, o("Server"), server)
            if kind == "EXCH":
                sub(protocol, o("ServerVersion"), "73C18880")
            sub(protocol, o("ASUrl"), ews_url)
            sub(protocol, o("OOFUrl"), ews_url)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")
