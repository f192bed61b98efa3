"""Errors the sandbox answers with, in EWS's two forms.

* ``EwsError``: a response message with ``ResponseClass="Error"``, its
  ``MessageText``, ``ResponseCode`` and ``DescriptiveLinkKey`` (HTTP 200),
  as in every operation page's "error response" example.
* ``SoapFault``: a SOAP 1.1 ``Fault`` with HTTP 500 whose ``detail`` holds
  ``e:ResponseCode``, ``e:Message`` and ``t:MessageXml`` — the shape
  Exchange uses for request-level failures (schema validation, throttling).
  "EWS throttling in Exchange" (Table 4) documents HTTP 500 with
  ``ErrorServerBusy`` and a ``BackOffMilliseconds`` hint; the element
  layout is the one Exchange sends (a captured response is quoted in
  mguessan/davmail issue 161) and MS-OXWUMS 2.2.2.1 shows the same fault
  layout for a malformed request.
"""

from __future__ import annotations

from sandbox.ews.ewsxml import SOAP, E, Element, T, element, q, sub


class EwsError(Exception):
    """A per-item error response message."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


class SoapFault(Exception):
    """A request-level failure answered with a SOAP fault (HTTP 500)."""

    def __init__(
        self,
        code: str,
        text: str,
        *,
        message_xml: dict[str, str] | None = None,
        status: int = 500,
    ) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text
        self.message_xml = message_xml or {}
        self.status = status

    def envelope(self) -> Element:
        env = element(q(SOAP, "Envelope"))
        body = sub(env, q(SOAP, "Body"))
        fault = sub(body, q(SOAP, "Fault"))
        # A QName in the types namespace (the envelope declares prefix t).
        sub(fault, "faultcode", f"t:{self.code}")
        sub(fault, "faultstring", self.text)
        detail = sub(fault, "detail")
        sub(detail, q(E, "ResponseCode"), self.code)
        sub(detail, q(E, "Message"), self.text)
        if self.message_xml:
            mxml = sub(detail, q(T, "MessageXml"))
            for name, value in self.message_xml.items():
                if self.code == "ErrorServerBusy":
                    sub(mxml, q(T, "Value"), value, Name=name)
                else:
                    sub(mxml, q(T, name), value)
        return env


def server_busy(back_off_ms: int) -> SoapFault:
    return SoapFault(
        "ErrorServerBusy",
        "The server cannot service this request right now. Try again later.",
        message_xml={"BackOffMilliseconds": str(back_off_ms)},
    )


def schema_validation(reason: str, line: int = 0, column: int = 0) -> SoapFault:
    return SoapFault(
        "ErrorSchemaValidation",
        f"The request failed schema validation: {reason}",
        message_xml={
            "LineNumber": str(line),
            "LinePosition": str(column),
            "Violation": reason,
        },
    )


def invalid_request(reason: str = "The request is invalid.") -> SoapFault:
    return SoapFault("ErrorInvalidRequest", reason)
