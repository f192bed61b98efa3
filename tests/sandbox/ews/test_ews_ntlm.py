"""The EWS sandbox's authentication schemes: the 401 lists each one offered
in its own header, as IIS does; NTLM is a real NTLMv2 handshake per
connection (driven by exchangelib and by hand), checked against the
account's password."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import spnego
from ews_support import PASSWORD, account, doc, ntlm_post
from exchangelib import BASIC, NTLM, CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.errors import UnauthorizedError
from exchangelib.protocol import Protocol

from sandbox.ews import EwsSandbox, Mailbox, start_ews_sandbox
from sandbox.ews.auth import Authenticator, Refused
from sandbox.ews.store import MailStore

AUTODISCOVER = "/autodiscover/autodiscover.xml"


@pytest.fixture(scope="module")
def ntlm_only() -> Iterator[EwsSandbox]:
    with start_ews_sandbox(auth=("NTLM",)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def both() -> Iterator[EwsSandbox]:
    with start_ews_sandbox(auth=("NTLM", "Basic")) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _fresh_exchangelib_protocols() -> Iterator[None]:
    """exchangelib shares one protocol per address and credentials whatever
    the auth type: each test starts with none."""
    Protocol.clear_cache()
    yield
    Protocol.clear_cache()


_users = iter(range(1, 10_000))


def _user(sandbox: EwsSandbox) -> Mailbox:
    return sandbox.state.add_user(f"ntlm{next(_users)}@example.com", PASSWORD, "Kim")


def _unauthenticated(
    sandbox: EwsSandbox, path: str = "/EWS/Exchange.asmx"
) -> list[str]:
    response = httpx.post(
        sandbox.base_url + path,
        content=doc("getfolder-request.xml"),
        headers={"Content-Type": "text/xml; charset=utf-8"},
    )
    assert response.status_code == 401
    return response.headers.get_list("www-authenticate")


def test_the_401_lists_each_offered_scheme_in_its_own_header(
    ews: EwsSandbox, ntlm_only: EwsSandbox, both: EwsSandbox
) -> None:
    assert _unauthenticated(ews) == ['Basic realm="127.0.0.1"']
    assert _unauthenticated(ntlm_only) == ["NTLM"]
    assert _unauthenticated(both) == ["NTLM", 'Basic realm="127.0.0.1"']
    assert _unauthenticated(both, AUTODISCOVER) == ["NTLM", 'Basic realm="127.0.0.1"']


def test_only_known_schemes_can_be_offered() -> None:
    with pytest.raises(ValueError, match="Kerberos"):
        start_ews_sandbox(auth=("Kerberos",))
    with pytest.raises(ValueError):
        start_ews_sandbox(auth=())


def test_exchangelib_works_over_ntlm(ntlm_only: EwsSandbox) -> None:
    mailbox = _user(ntlm_only)
    mailbox.create_folder("Clients")
    acc = account(ntlm_only, mailbox, auth_type=NTLM)
    zone = EWSTimeZone("Europe/Berlin")
    item = CalendarItem(
        account=acc,
        folder=acc.calendar,
        subject="Session",
        start=EWSDateTime(2030, 3, 4, 9, tzinfo=zone),
        end=EWSDateTime(2030, 3, 4, 10, tzinfo=zone),
    )
    item.save(send_meeting_invitations="SendToNone")
    stored = mailbox.find_item(item.id)
    assert stored is not None and stored.start == datetime(2030, 3, 4, 8, tzinfo=UTC)
    assert [i.subject for i in acc.calendar.all()] == ["Session"]
    assert [f.name for f in acc.calendar.children] == ["Clients"]
    acc.protocol.close()
    mine = [r for r in ntlm_only.state.request_log() if r.user == mailbox.email]
    assert {r.operation for r in mine} >= {"GetFolder", "CreateItem", "FindItem"}


def test_a_wrong_password_over_ntlm_is_refused(ntlm_only: EwsSandbox) -> None:
    mailbox = _user(ntlm_only)
    handshakes = ntlm_only.state.auth.handshakes
    acc = account(ntlm_only, mailbox, password="not-the-password", auth_type=NTLM)
    with pytest.raises(UnauthorizedError):
        acc.calendar.refresh()
    acc.protocol.close()
    assert ntlm_only.state.auth.handshakes == handshakes
    assert not [r for r in ntlm_only.state.request_log() if r.user == mailbox.email]


def test_basic_is_refused_where_only_ntlm_is_offered(ntlm_only: EwsSandbox) -> None:
    mailbox = _user(ntlm_only)
    acc = account(ntlm_only, mailbox, auth_type=BASIC)
    with pytest.raises(UnauthorizedError):
        acc.calendar.refresh()
    acc.protocol.close()


def test_exchangelib_finds_ntlm_in_the_401_and_prefers_it(both: EwsSandbox) -> None:
    """Unpinned, exchangelib reads the 401's headers (PROVIDERS.md): with
    NTLM and Basic offered it picks NTLM."""
    mailbox = _user(both)
    acc = account(both, mailbox, auth_type=None)
    assert acc.calendar.name == "Calendar"
    assert acc.protocol.auth_type == NTLM
    acc.protocol.close()


def test_both_schemes_work_where_both_are_offered(both: EwsSandbox) -> None:
    mailbox = _user(both)
    handshakes = both.state.auth.handshakes
    acc = account(both, mailbox, auth_type=BASIC)
    assert acc.calendar.name == "Calendar"
    acc.protocol.close()
    assert both.state.auth.handshakes == handshakes  # Basic, no handshake
    Protocol.clear_cache()
    acc = account(both, mailbox, auth_type=NTLM)
    assert acc.calendar.name == "Calendar"
    acc.protocol.close()
    assert both.state.auth.handshakes == handshakes + 1


def test_the_handshake_authenticates_the_connection(ntlm_only: EwsSandbox) -> None:
    mailbox = _user(ntlm_only)
    url = ntlm_only.ews_url
    body = doc("getfolder-request.xml")
    with httpx.Client(headers={"Content-Type": "text/xml; charset=utf-8"}) as client:
        challenged, answered = ntlm_post(client, url, mailbox.email, PASSWORD, body)
        assert challenged.status_code == 401
        [challenge] = challenged.headers.get_list("www-authenticate")
        assert challenge.startswith("NTLM ") and len(challenge) > 40
        assert answered.status_code == 200
        # The same connection, no Authorization header: still this user.
        assert client.post(url, content=body).status_code == 200
    # Another connection is not authenticated.
    with httpx.Client() as other:
        assert other.post(url, content=body).status_code == 401
    users = [r.user for r in ntlm_only.state.request_log()[-3:]]
    assert users == [mailbox.email, mailbox.email, None]


def test_autodiscover_takes_ntlm_too(ntlm_only: EwsSandbox) -> None:
    mailbox = _user(ntlm_only)
    request = doc("autodiscover-request.xml").replace(
        b"user@contoso.com", mailbox.email.encode()
    )
    with httpx.Client() as client:
        _, answered = ntlm_post(
            client, ntlm_only.base_url + AUTODISCOVER, mailbox.email, PASSWORD, request
        )
    assert answered.status_code == 200
    assert ntlm_only.ews_url.encode() in answered.content


def test_the_password_checked_is_the_current_one(ntlm_only: EwsSandbox) -> None:
    mailbox = _user(ntlm_only)
    ntlm_only.state.store.set_password(mailbox.email, "Changed-Pass-2")
    body = doc("getfolder-request.xml")
    with httpx.Client() as client:
        _, old = ntlm_post(client, ntlm_only.ews_url, mailbox.email, PASSWORD, body)
        _, new = ntlm_post(
            client, ntlm_only.ews_url, mailbox.email, "Changed-Pass-2", body
        )
    assert (old.status_code, new.status_code) == (401, 200)
    assert old.headers.get_list("www-authenticate") == ["NTLM"]


def test_an_unknown_user_is_refused(ntlm_only: EwsSandbox) -> None:
    with httpx.Client() as client:
        _, answered = ntlm_post(
            client,
            ntlm_only.ews_url,
            "nobody@example.com",
            PASSWORD,
            doc("getfolder-request.xml"),
        )
    assert answered.status_code == 401


def test_malformed_ntlm_messages_are_refused(ntlm_only: EwsSandbox) -> None:
    mailbox = _user(ntlm_only)
    initiator = spnego.client(mailbox.email, PASSWORD, protocol="ntlm")
    body = doc("getfolder-request.xml")
    with httpx.Client() as client:
        for token in (b"NTLMSSP\x00\x01\x00\x00\x00", b"not ntlm"):
            response = client.post(
                ntlm_only.ews_url, content=body, headers={"Authorization": _ntlm(token)}
            )
            assert response.status_code == 401
            assert response.headers.get_list("www-authenticate") == ["NTLM"]
        challenged = client.post(
            ntlm_only.ews_url,
            content=body,
            headers={"Authorization": _ntlm(initiator.step())},
        )
        assert challenged.status_code == 401
        truncated = b"NTLMSSP\x00\x03\x00\x00\x00" + b"\xff" * 20
        response = client.post(
            ntlm_only.ews_url, content=body, headers={"Authorization": _ntlm(truncated)}
        )
        assert response.status_code == 401


def test_the_handshake_belongs_to_its_connection(ntlm_only: EwsSandbox) -> None:
    """AUTHENTICATE answering a CHALLENGE sent on another connection is
    refused: the server checks it against the challenge of its own."""
    mailbox = _user(ntlm_only)
    url = ntlm_only.ews_url
    body = doc("getfolder-request.xml")
    initiator = spnego.client(mailbox.email, PASSWORD, protocol="ntlm")
    with httpx.Client() as first, httpx.Client() as second:
        challenged = first.post(
            url, content=body, headers={"Authorization": _ntlm(initiator.step())}
        )
        token = base64.b64decode(challenged.headers["www-authenticate"].split()[1])
        answer = _ntlm(initiator.step(token))
        elsewhere = second.post(url, content=body, headers={"Authorization": answer})
        assert elsewhere.status_code == 401
        assert elsewhere.headers.get_list("www-authenticate") == ["NTLM"]
        # The same message on the connection that was challenged works.
        here = first.post(url, content=body, headers={"Authorization": answer})
        assert here.status_code == 200


def test_two_sandboxes_check_their_own_accounts() -> None:
    """pyspnego reads accounts from one file per process: each sandbox's
    handshake sees its own users, even for the same address."""
    with (
        start_ews_sandbox(auth=("NTLM",)) as first,
        start_ews_sandbox(auth=("NTLM",)) as second,
    ):
        first.state.add_user("same@example.com", "First-Pass-1")
        second.state.add_user("same@example.com", "Second-Pass-2")
        body = doc("getfolder-request.xml")
        results = []
        for sandbox, password in [
            (first, "First-Pass-1"),
            (second, "First-Pass-1"),
            (second, "Second-Pass-2"),
        ]:
            with httpx.Client() as client:
                _, answered = ntlm_post(
                    client, sandbox.ews_url, "same@example.com", password, body
                )
            results.append(answered.status_code)
    assert results == [200, 401, 200]


def test_a_closed_connection_forgets_its_handshake(ntlm_only: EwsSandbox) -> None:
    mailbox = _user(ntlm_only)
    auth = ntlm_only.state.auth
    with httpx.Client() as client:
        _, answered = ntlm_post(
            client, ntlm_only.ews_url, mailbox.email, PASSWORD, b"<x/>"
        )
        assert answered.status_code == 500  # authenticated; not a SOAP request
        assert auth.connections >= 1
    deadline = time.monotonic() + 5
    while auth.connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert auth.connections == 0


def test_a_new_connection_on_a_reused_port_is_not_authenticated() -> None:
    """The state is keyed by the client's address and port: once the
    connection closed, the next one from that port must authenticate."""
    store = MailStore()
    store.add_user("kim@example.com", PASSWORD)
    auth = Authenticator(store, ("NTLM",))
    client = ("192.0.2.7", 50123)
    initiator = spnego.client("kim@example.com", PASSWORD, protocol="ntlm")
    challenge = auth.check(client, _ntlm(initiator.step()), "mail.example.com")
    assert isinstance(challenge, Refused)
    token = base64.b64decode(challenge.challenges[0].split(" ", 1)[1])
    mailbox = auth.check(client, _ntlm(initiator.step(token)), "mail.example.com")
    assert not isinstance(mailbox, Refused) and mailbox.email == "kim@example.com"
    assert auth.check(client, "", "mail.example.com") is mailbox
    auth.closed(client)
    assert auth.check(client, "", "mail.example.com") == Refused(("NTLM",))


def _ntlm(token: bytes | None) -> str:
    return "NTLM " + base64.b64encode(token or b"").decode()
