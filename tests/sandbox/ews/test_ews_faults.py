"""Injected faults take EWS's own shapes and target one operation."""

from __future__ import annotations

import time

import httpx
import pytest
from ews_support import doc, post, xpath

from sandbox.ews import EwsSandbox, Mailbox


def test_a_fault_fires_only_on_its_operation(ews: EwsSandbox, mailbox: Mailbox) -> None:
    ews.state.inject_fault("rate_limit", operation="FindFolder", back_off_ms=500)
    assert post(ews, mailbox, doc("getfolder-request.xml")).status_code == 200
    busy = post(ews, mailbox, doc("findfolder-request.xml"))
    assert busy.status_code == 500
    assert xpath(busy.content, "//t:Value[@Name='BackOffMilliseconds']/text()") == [
        "500"
    ]
    assert post(ews, mailbox, doc("findfolder-request.xml")).status_code == 200


def test_queue_full_is_a_bare_503_never_429(ews: EwsSandbox, mailbox: Mailbox) -> None:
    ews.state.inject_fault("too_many_requests")
    response = post(ews, mailbox, doc("getfolder-request.xml"))
    assert response.status_code == 503


def test_server_error_is_an_internal_error_fault(
    ews: EwsSandbox, mailbox: Mailbox
) -> None:
    ews.state.inject_fault("server_error", operation="GetFolder")
    response = post(ews, mailbox, doc("getfolder-request.xml"))
    assert response.status_code == 500
    assert xpath(response.content, "//e:ResponseCode/text()") == [
        "ErrorInternalServerError"
    ]


def test_dropped_connection(ews: EwsSandbox, mailbox: Mailbox) -> None:
    ews.state.inject_fault("drop", operation="GetFolder")
    with pytest.raises(httpx.RemoteProtocolError):
        post(ews, mailbox, doc("getfolder-request.xml"))


def test_slow_answer(ews: EwsSandbox, mailbox: Mailbox) -> None:
    ews.state.inject_fault("slow", operation="GetFolder", delay=0.3)
    began = time.monotonic()
    assert post(ews, mailbox, doc("getfolder-request.xml")).status_code == 200
    assert time.monotonic() - began >= 0.3
