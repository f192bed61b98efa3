"""How an Exchange server wants its users to sign in: NTLM or Basic.

Exchange on-premises is served by IIS, whose 401 names every scheme the
virtual directory accepts, one ``WWW-Authenticate`` header each (or several
challenges in one header, comma-separated, RFC 9110 §11.6.1)::

    WWW-Authenticate: Negotiate
    WWW-Authenticate: NTLM
    WWW-Authenticate: Basic realm="mail.example.com"

The app speaks NTLM and Basic. It prefers NTLM when it is offered: NTLM
sends a proof computed from the password and the server's challenge,
never the password itself, while Basic sends the password with every
request. A server offering neither (Negotiate alone means Kerberos, which
needs the app to be in the company's domain) gets a message for the coach.

* ``server_auth(url)`` sends one unauthenticated POST to the EWS address
  (after the URL guard) and chooses from its 401. The choice is stored with
  the connection (``CalendarConnection.server_profile``) and every provider
  of the connection is built with it.
* ``ChallengeAuth`` is the same choice as an httpx auth flow, for
  Autodiscover, whose server may differ from the EWS one: nothing is sent
  before the server asks; then NTLM's handshake (NEGOTIATE, the server's
  CHALLENGE, AUTHENTICATE, all on one connection — httpx reuses the idle
  connection for the next request of the flow) or Basic. The NTLM messages
  are pyspnego's, as in exchangelib's own NTLM (requests_ntlm); over https
  they carry the channel binding of the server's certificate (RFC 5929
  ``tls-server-end-point``), which servers with Extended Protection require.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Generator, Iterable

import httpx
import spnego
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from spnego.channel_bindings import GssChannelBindings

from coach_app.calendars.errors import ProviderError, Transient
from coach_app.calendars.exchange.urls import check_async

log = logging.getLogger(__name__)

NTLM = "ntlm"
BASIC = "basic"
USER_AGENT = "CoachApp-EWS/1.0"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class UnsupportedSignIn(ProviderError):
    """The server takes neither NTLM nor Basic."""

    default_user_message = (
        "Your Exchange server accepts neither NTLM nor Basic sign-in, and "
        "Coach App needs one of them. Ask your IT department to allow NTLM "
        "(Windows) sign-in for Exchange Web Services (EWS)."
    )


def offered_schemes(headers: Iterable[str]) -> list[str]:
    """The auth schemes of ``WWW-Authenticate`` values, lower case, in order."""
    schemes: list[str] = []
    for value in headers:
        for item in _split_list(value):
            match = _TOKEN.match(item)
            if match is None or item[match.end() :].lstrip().startswith("="):
                continue  # an auth-param of the challenge before
            scheme = match.group().lower()
            if scheme not in schemes:
                schemes.append(scheme)
    return schemes


def choose(schemes: Iterable[str]) -> str:
    """NTLM if offered, else Basic; ``UnsupportedSignIn`` for neither."""
    offered = [s.lower() for s in schemes]
    if NTLM in offered:
        return NTLM
    if BASIC in offered:
        return BASIC
    raise UnsupportedSignIn(f"the server offers {', '.join(offered) or 'nothing'}")


def auth_of_profile(server_profile: str) -> str:
    """The scheme a stored connection uses: NTLM if sign-in chose it; Basic
    otherwise (connections stored before the choice was made used Basic)."""
    return NTLM if server_profile == NTLM else BASIC


async def server_auth(
    ews_url: str, allow: frozenset[str], *, timeout: float = 15.0
) -> str:
    """The scheme to sign in to ``ews_url`` with, from its 401. Raises
    ``UrlNotAllowed``, ``Transient`` (unreachable) or ``UnsupportedSignIn``.
    An answer other than 401 names no scheme: Basic, and the password check
    that follows tells what the address is."""
    await check_async(ews_url, allow)
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    ) as client:
        try:
            response = await client.post(
                ews_url,
                content=b"",
                headers={"Content-Type": "text/xml; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            raise Transient(f"{ews_url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 401:
        log.info("%s answered %s without credentials", ews_url, response.status_code)
        return BASIC
    return choose(offered_schemes(response.headers.get_list("www-authenticate")))


class ChallengeAuth(httpx.Auth):
    """Answers a 401 with NTLM when the server offers it, else with Basic
    (see the module docstring)."""

    requires_request_body = True
    requires_response_body = True

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        if response.status_code != 401:
            return
        offered = offered_schemes(response.headers.get_list("www-authenticate"))
        if NTLM in offered:
            initiator = spnego.client(
                self.username,
                self.password,
                hostname=request.url.host,
                service="http",
                protocol="ntlm",
                channel_bindings=_channel_bindings(response),
            )
            request.headers["Authorization"] = _ntlm(initiator.step())
            response = yield request
            challenge = _ntlm_challenge(response)
            if response.status_code != 401 or challenge is None:
                return
            request.headers["Authorization"] = _ntlm(initiator.step(challenge))
            yield request
        elif BASIC in offered:
            credentials = f"{self.username}:{self.password}".encode()
            request.headers["Authorization"] = (
                "Basic " + base64.b64encode(credentials).decode()
            )
            yield request


def certificate_hash(der: bytes) -> bytes:
    """RFC 5929 ``tls-server-end-point``: the certificate hashed with its
    signature's hash function, SHA-256 instead of MD5 or SHA-1 (and when
    the signature names no single hash function)."""
    algorithm: hashes.HashAlgorithm | None
    try:
        algorithm = x509.load_der_x509_certificate(der).signature_hash_algorithm
    except (ValueError, UnsupportedAlgorithm):
        algorithm = None
    if algorithm is None or isinstance(algorithm, hashes.MD5 | hashes.SHA1):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(der)
    return digest.finalize()


def _channel_bindings(response: httpx.Response) -> GssChannelBindings | None:
    """The TLS channel binding of the connection ``response`` came on."""
    stream = response.extensions.get("network_stream")
    tls = stream.get_extra_info("ssl_object") if stream is not None else None
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    if not der:
        return None
    return GssChannelBindings(
        application_data=b"tls-server-end-point:" + certificate_hash(der)
    )


def _ntlm(token: bytes | None) -> str:
    return "NTLM " + base64.b64encode(token or b"").decode()


def _ntlm_challenge(response: httpx.Response) -> bytes | None:
    for value in response.headers.get_list("www-authenticate"):
        for item in _split_list(value):
            scheme, _, data = item.partition(" ")
            if scheme.lower() == NTLM and data.strip():
                try:
                    return base64.b64decode(data.strip(), validate=True)
                except ValueError:
                    return None
    return None


def _split_list(value: str) -> list[str]:
    """A header's comma-separated items; commas inside quotes do not split."""
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]
