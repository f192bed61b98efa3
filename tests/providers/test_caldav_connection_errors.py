"""Connecting goes wrong in ways a coach must be told about in plain words."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coach_app.calendars import AuthError, NotCalendarServer, Transient, UrlNotAllowed
from coach_app.calendars.caldav import ICLOUD, CalDAVProvider

from .conftest import LOOPBACK
from .servers import RunningServer, free_port

pytestmark = pytest.mark.asyncio


class _WebsiteHandler(BaseHTTPRequestHandler):
    """An ordinary website: answers every method with an HTML page."""

    def _page(self) -> None:
        body = b"<html><body>Welcome to our bakery</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PROPFIND = do_OPTIONS = do_REPORT = _page

    def log_message(self, *args: object) -> None:
        pass


class _RedirectHandler(BaseHTTPRequestHandler):
    """Redirects everything to 127.0.0.2: loopback too, but not on the allow-list."""

    target = ""

    def _redirect(self) -> None:
        self.send_response(301)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PROPFIND = do_OPTIONS = _redirect

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def website() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _WebsiteHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def redirector(radicale: RunningServer) -> Iterator[str]:
    target = radicale.base_url.replace("127.0.0.1", "127.0.0.2")
    handler = type("Handler", (_RedirectHandler,), {"target": target})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


async def test_wrong_password_with_the_icloud_preset_asks_to_reconnect_icloud(
    radicale: RunningServer,
) -> None:
    async with CalDAVProvider(
        radicale.base_url, "coach", "revoked", preset=ICLOUD, allow_hosts=LOOPBACK
    ) as provider:
        with pytest.raises(AuthError) as caught:
            await provider.list_calendars()
    assert caught.value.user_message.startswith(
        "Your iCloud app-specific password was rejected."
    )
    assert "Reconnect iCloud" in caught.value.user_message


async def test_a_website_that_is_not_caldav_raises_not_calendar_server(
    website: str,
) -> None:
    async with CalDAVProvider(website, "coach", "pw", allow_hosts=LOOPBACK) as provider:
        with pytest.raises(NotCalendarServer):
            await provider.discover()


async def test_a_closed_port_raises_transient() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    async with CalDAVProvider(url, "coach", "pw", allow_hosts=LOOPBACK) as provider:
        with pytest.raises(Transient) as caught:
            await provider.discover()
    assert "could not be reached" in caught.value.user_message


async def test_loopback_server_is_refused_without_an_allow_list(
    server: RunningServer,
) -> None:
    async with CalDAVProvider(
        server.base_url, server.username, server.password, allow_hosts=frozenset()
    ) as provider:
        with pytest.raises(UrlNotAllowed):
            await provider.discover()


async def test_allow_list_is_read_from_the_environment(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACH_APP_URL_ALLOWLIST", " 127.0.0.1 , localhost")
    async with CalDAVProvider(
        server.base_url, server.username, server.password
    ) as provider:
        account = await provider.discover()
    assert account.home_url == server.home_url


async def test_a_redirect_to_a_host_outside_the_allow_list_is_refused(
    redirector: str,
) -> None:
    async with CalDAVProvider(
        redirector, "coach", "coach-secret", allow_hosts=LOOPBACK
    ) as provider:
        with pytest.raises(UrlNotAllowed):
            await provider.discover()
