"""Exchange servers that take NTLM: the scheme is read from the EWS
address's 401 at sign-in (NTLM preferred, else Basic), stored with the
connection and used by every provider built from it; Autodiscover answers
an NTLM challenge too, and a wrong password over NTLM is refused with
nothing saved."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
import requests_ntlm.requests_ntlm as requests_ntlm
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlmodel import Session, select
from starlette.types import Receive, Scope, Send

from coach_app.calendars.errors import AuthError, Transient, UrlNotAllowed
from coach_app.calendars.exchange import (
    AutodiscoverFailed,
    ExchangeProvider,
    UnsupportedSignIn,
    autodiscover,
    connect,
)
from coach_app.calendars.exchange.auth import (
    certificate_hash,
    choose,
    offered_schemes,
    server_auth,
)
from coach_app.calendars.exchange.spec import AUTODISCOVER_ENV, EXCHANGE_SPEC
from coach_app.calendars.spec import Credentials
from coach_app.models import CalendarConnection
from coach_app.services import signin
from coach_app.services.errors import AsksFor, UserError
from sandbox.common.server import RunningServer, serve
from sandbox.ews import EwsSandbox, Mailbox, start_ews_sandbox
from sandbox.ews.autodiscover import AutodiscoverRedirect
from tests.exchange.conftest import LOOPBACK, NOW, PASSWORD

REFUSED = "http://[::1]:9/autodiscover/autodiscover.xml"  # loopback, not allow-listed
_count = iter(range(1, 10_000))


@pytest.fixture(scope="module")
def ntlm_ews() -> Iterator[EwsSandbox]:
    """An Exchange server with Basic turned off (IIS: Windows authentication)."""
    with start_ews_sandbox(auth=("NTLM",)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def both_ews() -> Iterator[EwsSandbox]:
    with start_ews_sandbox(auth=("NTLM", "Basic")) as sandbox:
        yield sandbox


async def _negotiate_only(scope: Scope, receive: Receive, send: Send) -> None:
    """IIS with only the Negotiate provider (Kerberos) enabled."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"www-authenticate", b"Negotiate"), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def negotiate_only() -> Iterator[RunningServer]:
    running = serve(lambda _url: _negotiate_only, name="Negotiate-only server")
    yield running
    running.stop()


@pytest.fixture
def ntlm_mailbox(ntlm_ews: EwsSandbox) -> Mailbox:
    return ntlm_ews.state.add_user(f"ntlm{next(_count)}@example.com", PASSWORD, "Nat")


@pytest.fixture(autouse=True)
def _loopback(monkeypatch: pytest.MonkeyPatch, ntlm_ews: EwsSandbox) -> None:
    monkeypatch.setenv("COACH_APP_URL_ALLOWLIST", "127.0.0.1")
    monkeypatch.setenv(AUTODISCOVER_ENV, ntlm_ews.autodiscover_url)


def _form(
    mailbox: Mailbox, server: str = "", password: str = PASSWORD
) -> dict[str, str]:
    return {"username": mailbox.email, "password": password, "server_url": server}


# -- reading the 401 -------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "schemes"),
    [
        (["NTLM"], ["ntlm"]),
        (
            ["Negotiate", "NTLM", 'Basic realm="mail.corp"'],
            ["negotiate", "ntlm", "basic"],
        ),
        (
            ['Negotiate, NTLM, Basic realm="a, b", charset="UTF-8"'],
            ["negotiate", "ntlm", "basic"],
        ),
        (['Basic realm = "x"'], ["basic"]),
        (["NTLM TlRMTVNTUAACAAAADAAMADgAAAA="], ["ntlm"]),
        (['Bearer realm="x", error="invalid_token"'], ["bearer"]),
        ([], []),
    ],
)
def test_the_schemes_offered_are_read_from_every_header(
    headers: list[str], schemes: list[str]
) -> None:
    assert offered_schemes(headers) == schemes


def test_ntlm_is_preferred_then_basic_and_nothing_else_is_taken() -> None:
    assert choose(["negotiate", "basic", "ntlm"]) == "ntlm"
    assert choose(["basic"]) == "basic"
    with pytest.raises(UnsupportedSignIn) as raised:
        choose(["negotiate"])
    assert "neither NTLM nor Basic" in raised.value.user_message


async def test_the_server_is_asked_how_to_sign_in(
    ews: EwsSandbox, ntlm_ews: EwsSandbox, both_ews: EwsSandbox
) -> None:
    assert await server_auth(ews.ews_url, LOOPBACK) == "basic"
    assert await server_auth(ntlm_ews.ews_url, LOOPBACK) == "ntlm"
    assert await server_auth(both_ews.ews_url, LOOPBACK) == "ntlm"
    with pytest.raises(UrlNotAllowed):
        await server_auth(ntlm_ews.ews_url, frozenset())
    with pytest.raises(Transient):
        await server_auth("http://127.0.0.1:9/EWS/Exchange.asmx", LOOPBACK)


# -- signing in ------------------------------------------------------------


async def test_sign_in_with_the_address_on_an_ntlm_only_server(
    ntlm_ews: EwsSandbox, ntlm_mailbox: Mailbox
) -> None:
    ntlm_mailbox.create_folder("Clients")
    handshakes = ntlm_ews.state.auth.handshakes
    assert EXCHANGE_SPEC.password is not None
    credentials = EXCHANGE_SPEC.password.credentials(
        _form(ntlm_mailbox, ntlm_ews.base_url)
    )
    found = await EXCHANGE_SPEC.check(EXCHANGE_SPEC, credentials, None)
    assert found.credentials.server_url == ntlm_ews.ews_url
    assert found.credentials.server_profile == "ntlm"
    assert [c.name for c in found.calendars] == ["Calendar", "Clients"]
    assert ntlm_ews.state.auth.handshakes > handshakes


async def test_sign_in_by_autodiscover_on_an_ntlm_only_server(
    ntlm_ews: EwsSandbox, ntlm_mailbox: Mailbox
) -> None:
    assert EXCHANGE_SPEC.password is not None
    found = await EXCHANGE_SPEC.check(
        EXCHANGE_SPEC, EXCHANGE_SPEC.password.credentials(_form(ntlm_mailbox)), None
    )
    assert found.credentials.server_url == ntlm_ews.ews_url
    assert found.credentials.server_profile == "ntlm"
    answered = [
        r
        for r in ntlm_ews.state.request_log()
        if r.operation == "Autodiscover" and r.user == ntlm_mailbox.email
    ]
    assert [r.status for r in answered] == [200]


async def test_where_both_are_offered_ntlm_is_chosen(both_ews: EwsSandbox) -> None:
    mailbox = both_ews.state.add_user("both@example.com", PASSWORD)
    handshakes = both_ews.state.auth.handshakes
    assert EXCHANGE_SPEC.password is not None
    found = await EXCHANGE_SPEC.check(
        EXCHANGE_SPEC,
        EXCHANGE_SPEC.password.credentials(_form(mailbox, both_ews.base_url)),
        None,
    )
    assert found.credentials.server_profile == "ntlm"
    assert both_ews.state.auth.handshakes > handshakes


async def test_a_wrong_password_over_ntlm_is_refused_and_nothing_is_saved(
    ntlm_ews: EwsSandbox, ntlm_mailbox: Mailbox, session: Session
) -> None:
    for server in (ntlm_ews.base_url, ""):  # typed, and by Autodiscover
        with pytest.raises(UserError) as refused:
            await signin.check_password(
                "exchange", _form(ntlm_mailbox, server, "not-the-password")
            )
        assert not isinstance(refused.value, AsksFor)
        assert "did not accept" in str(refused.value)
    assert session.exec(select(CalendarConnection)).all() == []
    mine = [r for r in ntlm_ews.state.request_log() if r.user == ntlm_mailbox.email]
    assert mine == []


async def test_a_server_taking_neither_scheme_gets_a_clear_message(
    negotiate_only: RunningServer, ntlm_mailbox: Mailbox
) -> None:
    with pytest.raises(UserError) as refused:
        await signin.check_password(
            "exchange", _form(ntlm_mailbox, negotiate_only.base_url)
        )
    assert "neither NTLM nor Basic" in str(refused.value)


async def test_the_stored_scheme_builds_the_provider(
    ntlm_ews: EwsSandbox, ntlm_mailbox: Mailbox
) -> None:
    assert EXCHANGE_SPEC.password is not None
    found = await EXCHANGE_SPEC.check(
        EXCHANGE_SPEC,
        EXCHANGE_SPEC.password.credentials(_form(ntlm_mailbox, ntlm_ews.base_url)),
        None,
    )
    provider = EXCHANGE_SPEC.build(found.credentials, None)
    assert isinstance(provider, ExchangeProvider) and provider.auth == "ntlm"
    try:
        account = await provider.discover()
    finally:
        await provider.aclose()
    assert account.login == ntlm_mailbox.email
    # Connections stored before the scheme was (profile "exchange") used Basic.
    legacy = EXCHANGE_SPEC.build(
        Credentials(ntlm_ews.ews_url, ntlm_mailbox.email, PASSWORD, "exchange"), None
    )
    assert isinstance(legacy, ExchangeProvider) and legacy.auth == "basic"
    with pytest.raises(AuthError):
        await legacy.discover()
    await legacy.aclose()


async def test_a_provider_gets_the_scheme_asked_for_after_another(
    both_ews: EwsSandbox,
) -> None:
    """exchangelib shares a protocol per address and credentials whatever
    the scheme: after a Basic provider, an NTLM one must still use NTLM."""
    mailbox = both_ews.state.add_user("switch@example.com", PASSWORD)
    kwargs = {"allow_hosts": LOOPBACK, "clock": lambda: NOW}
    handshakes = both_ews.state.auth.handshakes
    async with ExchangeProvider(
        mailbox.email, PASSWORD, both_ews.ews_url, auth="basic", **kwargs
    ) as basic:
        await basic.discover()
    assert both_ews.state.auth.handshakes == handshakes
    async with ExchangeProvider(
        mailbox.email, PASSWORD, both_ews.ews_url, auth="ntlm", **kwargs
    ) as ntlm:
        await ntlm.discover()
    assert both_ews.state.auth.handshakes == handshakes + 1


async def test_connect_learns_the_scheme(
    ntlm_ews: EwsSandbox, ntlm_mailbox: Mailbox
) -> None:
    provider = await connect(
        ntlm_mailbox.email,
        PASSWORD,
        autodiscover_urls=[ntlm_ews.autodiscover_url],
        allow_hosts=LOOPBACK,
    )
    try:
        assert provider.auth == "ntlm"
        start = dt.datetime(2030, 3, 11, 9, tzinfo=dt.UTC)
        calendar = ntlm_mailbox.calendar.id
        ntlm_mailbox.add_item(calendar, "Busy", start, start + dt.timedelta(hours=1))
        changes = await provider.changes(calendar, None)
        assert [e.summary for e in changes.changed] == ["Busy"]
    finally:
        await provider.aclose()


# -- Autodiscover ----------------------------------------------------------


async def test_autodiscover_answers_an_ntlm_challenge(
    ntlm_ews: EwsSandbox, ntlm_mailbox: Mailbox
) -> None:
    found = await autodiscover(
        ntlm_mailbox.email,
        PASSWORD,
        urls=[ntlm_ews.autodiscover_url],
        allow_hosts=LOOPBACK,
    )
    assert found.ews_url == ntlm_ews.ews_url
    with pytest.raises(AuthError):
        await autodiscover(
            ntlm_mailbox.email,
            "wrong",
            urls=[ntlm_ews.autodiscover_url],
            allow_hosts=LOOPBACK,
        )


@pytest.mark.parametrize("kind", ["url", "http"])
async def test_autodiscover_redirects_over_ntlm_pass_the_url_guard(
    ntlm_ews: EwsSandbox, ntlm_mailbox: Mailbox, kind: str
) -> None:
    ntlm_ews.state.redirects[ntlm_mailbox.email] = AutodiscoverRedirect(kind, REFUSED)
    with pytest.raises(AutodiscoverFailed, match="not allowed|loopback"):
        await autodiscover(
            ntlm_mailbox.email,
            PASSWORD,
            urls=[ntlm_ews.autodiscover_url],
            allow_hosts=LOOPBACK,
        )


async def test_autodiscover_offering_neither_scheme_asks_for_the_address(
    negotiate_only: RunningServer, ntlm_mailbox: Mailbox
) -> None:
    """Not a wrong password: nothing could be tried."""
    with pytest.raises(AutodiscoverFailed):
        await autodiscover(
            ntlm_mailbox.email,
            PASSWORD,
            urls=[negotiate_only.base_url + "/autodiscover/autodiscover.xml"],
            allow_hosts=LOOPBACK,
        )


async def test_autodiscover_sends_credentials_only_when_asked_and_never_over_http() -> (
    None
):
    """The documented plain-http GET looks for a redirect: even a 401 asking
    for Basic there gets no password."""
    seen: list[tuple[str, str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        authorization = request.headers.get("Authorization")
        seen.append((request.method, str(request.url), authorization))
        if authorization is None:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="x"'})
        return httpx.Response(404)

    with pytest.raises(AutodiscoverFailed):
        await autodiscover(
            "kim@coach.example",
            PASSWORD,
            allow_hosts={"coach.example", "autodiscover.coach.example"},
            transport=httpx.MockTransport(handler),
        )
    https = [(m, a is not None) for m, url, a in seen if url.startswith("https:")]
    assert https == [("POST", False), ("POST", True)] * 2
    assert [(m, a) for m, url, a in seen if url.startswith("http:")] == [("GET", None)]


# -- channel bindings ------------------------------------------------------


def _certificate(algorithm: hashes.HashAlgorithm) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.corp.example")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, algorithm)
    )
    return certificate.public_bytes(Encoding.DER)


@pytest.mark.parametrize(
    "algorithm", [hashes.SHA256(), hashes.SHA384(), hashes.SHA512()]
)
def test_the_channel_binding_matches_exchangelibs_own(
    algorithm: hashes.HashAlgorithm,
) -> None:
    """Autodiscover binds NTLM to the TLS certificate as exchangelib's EWS
    requests do (requests_ntlm), RFC 5929's tls-server-end-point."""
    der = _certificate(algorithm)
    expected = requests_ntlm._get_certificate_hash(der)
    assert certificate_hash(der) == expected
    size = {"sha384": 48, "sha512": 64}.get(algorithm.name, 32)
    assert len(certificate_hash(der)) == size
