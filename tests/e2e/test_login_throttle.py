"""40 wrong passwords in a row on the real log-in page are throttled; the
right password is refused while the account waits and works once the delay
has passed.

The delays are the real mechanism with short settings (first wait 2 s, at
most 4 s instead of 30 s and 15 minutes): the harness runs the backend in
this process, which reads them from the environment on every attempt.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from coach_app.db import session_scope
from coach_app.services import auth

pytestmark = pytest.mark.e2e

TOO_MANY = re.compile(r"^Too many log-in attempts\. Please wait (\d+) seconds?")


@pytest.fixture
def short_delays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACH_APP_LOGIN_FREE_TRIES", "5")
    monkeypatch.setenv("COACH_APP_LOGIN_DELAY", "2")
    monkeypatch.setenv("COACH_APP_LOGIN_MAX_DELAY", "4")


class Answers:
    """Submits the form and waits for the backend's answer to that submit."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.frames = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._count))
        page.reload()  # so the websocket opens with the listener in place
        expect(page.locator("#token")).not_to_have_value("", timeout=60_000)

    def _count(self, _frame: object) -> None:
        self.frames += 1

    def submit(self, password: str) -> str:
        before = self.frames
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        deadline = time.monotonic() + 30
        while self.frames == before and time.monotonic() < deadline:
            self.page.wait_for_timeout(10)
        assert self.frames > before, "no answer from the backend"
        return self.page.get_by_role("alert").inner_text().strip()


def test_forty_wrong_passwords_are_throttled(
    new_page, app_db_url, short_delays
) -> None:
    with session_scope(app_db_url) as s:
        auth.sign_up(s, "throttle@example.com", "right-password", "Throttle Coach")
    page = new_page("/login")
    answers = Answers(page)
    page.get_by_label("Email").fill("throttle@example.com")

    began = time.monotonic()
    said = [answers.submit(f"wrong-{i}") for i in range(40)]
    elapsed = time.monotonic() - began

    assert said[:5] == [auth.WRONG_LOGIN] * 5
    assert TOO_MANY.match(said[5])
    # Checked at all: the five free tries, then one each time a wait ran out
    # (2 s, then 4 s); every other attempt was refused unread.
    checked = said.count(auth.WRONG_LOGIN)
    assert checked <= 5 + 1 + int(elapsed / 4), (checked, elapsed)
    assert all(s == auth.WRONG_LOGIN or TOO_MANY.match(s) for s in said)

    # The right password, while the account waits: refused all the same.
    refused = answers.submit("right-password")
    wait = TOO_MANY.match(refused)
    assert wait, refused
    page.wait_for_timeout(int(wait.group(1)) * 1000 + 300)
    page.get_by_label("Password").fill("right-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome, Throttle Coach")).to_be_visible()


def test_an_unknown_email_is_throttled_the_same_way(new_page, short_delays) -> None:
    page = new_page("/login")
    answers = Answers(page)
    page.get_by_label("Email").fill("nobody-here@example.com")
    said = [answers.submit(f"guess-{i}") for i in range(6)]
    assert said[:5] == [auth.WRONG_LOGIN] * 5
    assert TOO_MANY.match(said[5])
