"""The session cookie is HttpOnly: no script in the page can read it, no
state sent to the browser carries the token, and log-in, reload and log-out
still work."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from coach_app.db import session_scope
from coach_app.services import auth

pytestmark = pytest.mark.e2e


def test_the_session_cookie_is_out_of_reach_of_scripts(new_page, app_db_url) -> None:
    with session_scope(app_db_url) as s:
        auth.sign_up(s, "cookie@example.com", "cookie-password", "Cookie Coach")
    received: list[str] = []
    page = new_page("/login")
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda frame: received.append(str(frame))),
    )
    page.get_by_label("Email").fill("cookie@example.com")
    page.get_by_label("Password").fill("cookie-password")
    page.get_by_role("button", name="Log in").click()
    welcome = page.get_by_role("heading", name="Welcome, Cookie Coach")
    expect(welcome).to_be_visible()

    [cookie] = [c for c in page.context.cookies() if c["name"] == "coach_session"]
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
        True,
        "Strict",
        "/",
    )
    assert len(cookie["value"]) >= 40
    assert "coach_session" not in page.evaluate("document.cookie")
    # Nothing the backend sent over the websocket carries the token.
    assert received and not [f for f in received if cookie["value"] in f]

    page.reload()
    expect(welcome).to_be_visible()
    assert not [f for f in received if cookie["value"] in f]

    page.get_by_role("button", name="Your Profile").click()
    page.get_by_role("menuitem", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    assert [c for c in page.context.cookies() if c["name"] == "coach_session"] == []
    # The old token is dead on the server too.
    with session_scope(app_db_url) as s:
        assert auth.coach_for_token(s, cookie["value"]) is None
    page.goto(page.url.replace("/login", "/settings"))
    expect(page).to_have_url(re.compile(r"/login/?$"))


def test_a_script_cannot_log_in_by_planting_a_cookie(new_page) -> None:
    """A cookie written by JavaScript is not a session: only the backend
    makes them."""
    page = new_page("/login")
    page.evaluate("document.cookie = 'coach_session=forged-by-a-script; path=/'")
    page.goto(page.url.replace("/login", "/settings"))
    expect(page).to_have_url(re.compile(r"/login/?$"))
