"""The session cookie is set and cleared by the backend's HTTP endpoints:
HttpOnly, SameSite=Strict, Secure over HTTPS; cross-site posts are refused."""

from __future__ import annotations

import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from coach_app import session_http
from coach_app.db import session_scope
from coach_app.models import LoginSession
from coach_app.services import auth

FRONTEND = "http://127.0.0.1:3000"


@pytest.fixture
def coach(sqlite_url: str) -> int:
    with session_scope(sqlite_url) as s:
        made = auth.sign_up(s, "ada@example.com", "correct horse", "Ada Coach")
        assert made.id is not None
        return made.id


def ticket_for(coach_id: int) -> str:
    with session_scope() as s:
        return auth.hand_over(s, coach_id)


def client(base_url: str = "http://127.0.0.1:8000") -> TestClient:
    app = Starlette(routes=session_http.routes())
    return TestClient(app, base_url=base_url, follow_redirects=False)


def post(http: TestClient, path: str, origin: str = FRONTEND, **kwargs):
    headers = {
        "Origin": origin,
        "Sec-Fetch-Site": "same-site",
        **kwargs.pop("headers", {}),
    }
    return http.post(path, headers=headers, **kwargs)


def cookie_attributes(set_cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in set_cookie.split(";")[1:]}


def sessions() -> list[LoginSession]:
    with session_scope() as s:
        return list(s.exec(select(LoginSession)).all())


def test_a_ticket_becomes_an_httponly_strict_session_cookie(coach: int) -> None:
    response = post(client(), "/auth/session", data={"ticket": ticket_for(coach)})
    assert response.status_code == 303
    assert response.headers["location"] == FRONTEND + "/"
    set_cookie = response.headers["set-cookie"]
    token = set_cookie.split(";")[0].removeprefix("coach_session=")
    assert {"httponly", "samesite", "path", "max-age"} <= cookie_attributes(set_cookie)
    assert "samesite=strict" in set_cookie.lower()
    assert "secure" not in cookie_attributes(set_cookie)  # plain http here
    with session_scope() as s:
        found = auth.coach_for_token(s, token)
        assert found is not None and found.id == coach


def test_over_https_the_cookie_is_secure(coach: int) -> None:
    http = client("https://coach.example.com")
    response = post(
        http,
        "/auth/session",
        origin="https://coach.example.com",
        data={"ticket": ticket_for(coach)},
    )
    assert response.status_code == 303
    assert "secure" in cookie_attributes(response.headers["set-cookie"])


def test_a_used_or_unknown_ticket_sets_nothing(coach: int) -> None:
    http = client()
    ticket = ticket_for(coach)
    assert post(http, "/auth/session", data={"ticket": ticket}).status_code == 303
    for again in (ticket, "made-up", ""):
        response = post(http, "/auth/session", data={"ticket": again})
        assert response.status_code == 303
        assert response.headers["location"] == FRONTEND + "/login"
        assert "set-cookie" not in response.headers
    assert len(sessions()) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Origin": "https://evil.example"},  # an older browser: no Sec-Fetch-Site
        {},  # neither header: not a browser form post
    ],
)
def test_cross_site_posts_are_refused(coach: int, headers: dict[str, str]) -> None:
    ticket = ticket_for(coach)
    http = client()
    response = http.post("/auth/session", data={"ticket": ticket}, headers=headers)
    assert response.status_code == 403
    assert sessions() == []
    # The ticket was not spent: the real page can still use it.
    assert post(http, "/auth/session", data={"ticket": ticket}).status_code == 303
    assert len(sessions()) == 1


def test_log_out_ends_the_session_and_clears_the_cookie(coach: int) -> None:
    http = client()
    started = post(http, "/auth/session", data={"ticket": ticket_for(coach)})
    token = started.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    response = post(http, "/auth/logout", headers={"Cookie": f"coach_session={token}"})
    assert response.status_code == 303
    assert response.headers["location"] == FRONTEND + "/login"
    cleared = response.headers["set-cookie"]
    assert cleared.startswith('coach_session=""') or cleared.startswith(
        "coach_session=;"
    )
    assert "max-age=0" in cleared.lower()
    assert "httponly" in cookie_attributes(cleared)
    assert sessions() == []


def test_a_cross_site_log_out_is_refused(coach: int) -> None:
    http = client()
    started = post(http, "/auth/session", data={"ticket": ticket_for(coach)})
    token = started.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    response = http.post(
        "/auth/logout",
        headers={
            "Cookie": f"coach_session={token}",
            "Sec-Fetch-Site": "cross-site",
            "Origin": "https://evil.example",
        },
    )
    assert response.status_code == 403
    assert len(sessions()) == 1


def test_the_token_is_read_from_a_cookie_header() -> None:
    read = session_http.session_token_from
    assert read("theme=dark; coach_session=abc-123_x; other=1") == "abc-123_x"
    assert read("theme=dark") == ""
    assert read("") == read(None) == ""
    assert read('coach_session="unclosed') == ""
