"""End-to-end fixtures: the real app under AppHarness, driven by Chromium.

The app runs from the repository itself on a fresh, migrated SQLite file.
Chromium is Debian's (`/usr/bin/chromium`) when present, otherwise
Playwright's own; `CHROMIUM_PATH` overrides both.
"""

from __future__ import annotations

import email
import email.policy
import logging
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from coach_app.migrations import upgrade

if TYPE_CHECKING:
    from sandbox.google import GoogleSandbox

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _chromium_path() -> str | None:
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="session")
def reflex_errors() -> Iterator[_ErrorRecords]:
    handler = _ErrorRecords()
    logger = logging.getLogger("reflex")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture(scope="session")
def app_db_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'coach.db'}"
    upgrade(url)
    return url


class _Inbox:
    """What the loopback SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"

    def wait_for(self, predicate, timeout: float = 30.0) -> email.message.EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in list(self.messages):
                if predicate(message):
                    return message
            time.sleep(0.1)
        subjects = [m["Subject"] for m in self.messages]
        raise AssertionError(f"no matching email within {timeout}s; got {subjects}")


@pytest.fixture(scope="session")
def smtp_inbox() -> Iterator[_Inbox]:
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    os.environ["COACH_APP_SMTP_HOST"] = "127.0.0.1"
    os.environ["COACH_APP_SMTP_PORT"] = str(port)
    os.environ["COACH_APP_SMTP_STARTTLS"] = "0"
    yield inbox
    controller.stop()


GOOGLE_CALLBACK_PATH = "/oauth/google/callback"


@pytest.fixture(scope="session")
def google_sandbox() -> Iterator[GoogleSandbox]:
    """The Google sandbox (OAuth + Calendar API) on loopback; the app's
    ``COACH_APP_GOOGLE_*`` variables point at it before the harness starts.
    The harness registers its exact redirect URI once its port is known."""
    from sandbox.google import start_google_sandbox

    sandbox = start_google_sandbox()
    os.environ.update(sandbox.env())
    os.environ.pop("COACH_APP_PUBLIC_URL", None)  # the browser's origin is used
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def coach_app_harness(
    app_db_url, tmp_path_factory, reflex_errors, smtp_inbox, google_sandbox
):
    from reflex.testing import AppHarness

    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ["REFLEX_USE_NPM"] = "1"
    os.environ["REFLEX_TELEMETRY_ENABLED"] = "false"
    os.environ["REFLEX_DB_URL"] = app_db_url
    os.environ["COACH_APP_KEY_FILE"] = str(tmp_path_factory.mktemp("keys") / "k")
    with AppHarness.create(root=ROOT, app_name="coach_app") as harness:
        # One site for frontend and backend, as in any deployment: the
        # session cookie is SameSite=Strict and set by the backend, which the
        # harness serves on 127.0.0.1 (the frontend announces "localhost").
        harness.frontend_url = _same_host(harness.frontend_url)
        google_sandbox.state.add_client(
            google_sandbox.client_id,
            google_sandbox.client_secret,
            [harness.frontend_url.rstrip("/") + GOOGLE_CALLBACK_PATH],
        )
        yield harness


def _same_host(frontend_url: str) -> str:
    from urllib.parse import urlsplit

    from reflex.config import get_config

    backend_host = urlsplit(get_config().api_url).hostname or "127.0.0.1"
    parts = urlsplit(frontend_url)
    url = parts._replace(netloc=f"{backend_host}:{parts.port}").geturl()
    get_config().deploy_url = url.rstrip("/")
    return url


@pytest.fixture(scope="session")
def caldav_server(tmp_path_factory):
    """A Radicale on loopback standing in for iCloud (same protocol, other URL)."""
    from providers.servers import start_radicale

    server = start_radicale(Path(tmp_path_factory.mktemp("radicale")))
    admin = server.admin()
    for path, name in (
        ("work", "Work"),
        ("family", "Family"),
        ("personal", "Personal"),
    ):
        admin.mkcalendar(server.home_url + path + "/", name)
    admin.close()
    os.environ["COACH_APP_ICLOUD_URL"] = server.base_url
    os.environ["COACH_APP_URL_ALLOWLIST"] = "127.0.0.1"
    yield server
    server.stop()


@pytest.fixture(scope="session")
def microsoft_sandbox():
    """The Microsoft identity platform and Graph sandbox on loopback; the
    app's ``COACH_APP_MICROSOFT_*`` variables point at it."""
    from sandbox.microsoft import start_microsoft_sandbox

    sandbox = start_microsoft_sandbox()
    os.environ.update(sandbox.env())
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def ews_sandbox():
    """The Exchange Web Services sandbox on loopback. Autodiscover is pointed
    at an address that answers 404, so sign-in needs the server address."""
    from coach_app.calendars.exchange.spec import AUTODISCOVER_ENV
    from sandbox.ews import start_ews_sandbox

    sandbox = start_ews_sandbox()
    os.environ[AUTODISCOVER_ENV] = sandbox.base_url + "/nowhere/autodiscover.xml"
    os.environ["COACH_APP_URL_ALLOWLIST"] = "127.0.0.1"
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def ews_ntlm_sandbox(ews_sandbox):
    """An Exchange server with Basic turned off: only NTLM is offered."""
    from sandbox.ews import start_ews_sandbox

    sandbox = start_ews_sandbox(auth=("NTLM",))
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=_chromium_path(),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def new_page(browser, coach_app_harness, reflex_errors):
    """Opens pages in fresh browser contexts; fails the test on any page error."""
    contexts = []
    page_errors: list[str] = []
    reflex_errors.records.clear()

    def open_page(path: str = "/", **context_options) -> Page:
        # A 24-hour locale: pages pick their clock from the browser.
        context_options.setdefault("locale", "en-GB")
        context = browser.new_context(**context_options)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        page.goto(coach_app_harness.frontend_url.rstrip("/") + path)
        expect(page.locator("#token")).not_to_have_value("", timeout=60_000)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert page_errors == []
    assert [r.getMessage() for r in reflex_errors.records] == []


@pytest.fixture
def log_in(new_page):
    """Logs a seeded coach in through the log-in page; returns the page."""

    def do(email_address: str, password: str) -> Page:
        page = new_page("/login")
        page.get_by_label("Email").fill(email_address)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name=re.compile("^Welcome"))).to_be_visible()
        return page

    return do
