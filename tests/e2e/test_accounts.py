"""A coach signs up, logs out, logs back in and finds Connect to Calendar."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_sign_up_log_out_log_in_and_reach_integrations(new_page):
    page = new_page("/signup")
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password (at least 8 characters)").fill("cobol-forever")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Welcome, Grace Hopper")).to_be_visible()
    expect(page.get_by_text("/book/grace-hopper")).to_be_visible()

    # A reload keeps the session.
    page.reload()
    expect(page.get_by_role("heading", name="Welcome, Grace Hopper")).to_be_visible()

    page.get_by_role("button", name="Your Profile").click()
    page.get_by_role("menuitem", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))

    # After log-out a private page sends the browser back to log-in.
    page.goto(page.url.replace("/login", "/settings"))
    expect(page).to_have_url(re.compile(r"/login/?$"))

    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "That email and password do not match an account."
    )
    expect(page).to_have_url(re.compile(r"/login/?$"))

    page.get_by_label("Password").fill("cobol-forever")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome, Grace Hopper")).to_be_visible()

    page.get_by_role("button", name="Your Profile").click()
    page.get_by_role("menuitem", name="My Settings").click()
    expect(page.get_by_role("heading", name="My Settings")).to_be_visible()
    page.get_by_role("tab", name="Integrations").click()
    connect = page.get_by_role("button", name="Connect to Calendar")
    expect(connect).to_be_visible()


def test_private_page_without_session_goes_to_log_in(new_page):
    page = new_page("/settings")
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.get_by_role("heading", name="Log in to Coach App")).to_be_visible()


def test_duplicate_sign_up_shows_clear_message(new_page):
    for attempt in range(2):
        page = new_page("/signup")
        page.get_by_label("Your name").fill("Dup Coach")
        page.get_by_label("Email").fill("dup@example.com")
        page.get_by_label("Password (at least 8 characters)").fill("long-enough")
        page.get_by_role("button", name="Sign up").click()
        if attempt == 0:
            expect(
                page.get_by_role("heading", name="Welcome, Dup Coach")
            ).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text(
        "An account with that email already exists. Please log in."
    )
