"""End-to-end fixtures: the real app under AppHarness, driven by Chromium.

The app runs from the repository itself on a fresh, migrated SQLite file.
Chromium is Debian's (`/usr/bin/chromium`) when present, otherwise
Playwright's own; `CHROMIUM_PATH` overrides both.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from coach_app.migrations import upgrade

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


@pytest.fixture(scope="session")
def coach_app_harness(app_db_url, tmp_path_factory, reflex_errors):
    from reflex.testing import AppHarness

    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ["REFLEX_USE_NPM"] = "1"
    os.environ["REFLEX_TELEMETRY_ENABLED"] = "false"
    os.environ["REFLEX_DB_URL"] = app_db_url
    os.environ["COACH_APP_KEY_FILE"] = str(tmp_path_factory.mktemp("keys") / "k")
    with AppHarness.create(root=ROOT, app_name="coach_app") as harness:
        yield harness


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

    def open_page(path: str = "/") -> Page:
        context = browser.new_context()
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
