"""The shared sandbox parts on their own: an authority with a provider's own
error body and rolling refresh tokens, fault matching and counting, push
delivery and the awaited handshake call."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.common import (
    ConsentPage,
    Fault,
    FaultInjector,
    FaultMiddleware,
    Grant,
    OAuthAuthority,
    OAuthPaths,
    PushDeliverer,
    PushMessage,
    PushResult,
    RequestLog,
    Situation,
    call_endpoint,
    oauth_routes,
    pkce_challenge,
    retry_after_header,
    serve,
)

REDIRECT = "http://127.0.0.1:3000/cb"


class _Authority(OAuthAuthority):
    """A provider with tenants, its own error body and rolling refresh tokens."""

    rolling_refresh = True

    def user_may_sign_in(self, user: Any, tenant: str | None) -> bool:
        return tenant in (None, "any", user.kind)

    def wants_refresh_token(self, code: Any, existing: Any) -> bool:
        return "offline" in code.scopes

    def oauth_error(
        self, situation: Situation, *, grant: Grant | None = None, detail: str = ""
    ) -> tuple[int, dict[str, Any]]:
        reason = grant.revoked_reason if grant is not None else ""
        return 400, {"error": "invalid_grant", "why": situation, "reason": reason}


@pytest.fixture(scope="module")
def authority() -> Iterator[tuple[_Authority, str]]:
    auth = _Authority()
    auth.add_client("cid", "secret", [REDIRECT])
    auth.add_user("work@example.com", kind="work")
    auth.add_user("home@example.com", kind="home")
    paths = OAuthPaths(
        authorize="/{tenant}/authorize",
        consent="/consent",
        token="/{tenant}/token",
    )
    look = ConsentPage(title="Sign in", intro="<p>{client}</p>", scope_label=str)
    server = serve(
        lambda _base: Starlette(routes=oauth_routes(auth, paths, look)), name="oauth"
    )
    try:
        yield auth, server.base_url
    finally:
        server.stop()


def test_tenant_limits_accounts_and_codes_carry_pkce(
    authority: tuple[_Authority, str],
) -> None:
    auth, base = authority
    verifier = "v" * 50
    with httpx.Client(base_url=base, trust_env=False) as http:
        page = http.get(
            "/work/authorize",
            params={
                "client_id": "cid",
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "scope": "read offline",
                "state": "s",
                "code_challenge": pkce_challenge(verifier, "S256"),
                "code_challenge_method": "S256",
            },
        )
        assert page.status_code == 200
        assert "work@example.com" in page.text and "home@example.com" not in page.text
        request_id = page.text.split('name="request_id" value="')[1].split('"')[0]
        wrong = http.post(
            "/consent",
            data={
                "request_id": request_id,
                "decision": "allow",
                "account": "home@example.com",
            },
        )
        assert wrong.status_code == 400  # not an account of this tenant
    pending = auth.begin_authorization(
        {
            "client_id": "cid",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "read offline",
            "code_challenge": pkce_challenge(verifier, "S256"),
            "code_challenge_method": "S256",
        },
        tenant="work",
    ).pending
    assert pending is not None
    done = auth.complete_authorization(
        pending.request_id, "allow", "work@example.com", ["read", "offline"]
    )
    code = parse_qs(urlsplit(done.location or "").query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": "w" * 50,
    }
    assert auth.token_endpoint(form, ("cid", "secret"))[1]["why"] == "bad_verifier"
    status, body = auth.token_endpoint(
        {**form, "code_verifier": verifier}, ("cid", "secret")
    )
    assert status == 200 and body["refresh_token"]
    replay = auth.token_endpoint({**form, "code_verifier": verifier}, ("cid", "secret"))
    assert replay[1]["why"] == "code_replayed"


def test_rolling_refresh_tokens_and_revocation_reasons() -> None:
    auth = _Authority()
    auth.add_client("cid", "secret")
    auth.add_user("work@example.com", kind="work")
    issued = auth.issue_tokens("work@example.com", client_id="cid", scopes=["offline"])
    assert issued.refresh_token
    form = {"grant_type": "refresh_token", "refresh_token": issued.refresh_token}
    status, body = auth.token_endpoint(form, ("cid", "secret"))
    assert status == 200 and body["refresh_token"] != issued.refresh_token
    # Without retirement the old one still works (Microsoft's documented rule).
    assert auth.token_endpoint(form, ("cid", "secret"))[0] == 200
    auth.retire_used_refresh_tokens = True
    newest = auth.token_endpoint(form, ("cid", "secret"))[1]["refresh_token"]
    assert auth.token_endpoint(form, ("cid", "secret"))[1]["why"] == "bad_refresh_token"
    assert auth.lookup_access(body["access_token"]) is not None

    assert auth.revoke(newest, reason="password_changed") == 1
    refused = auth.token_endpoint(
        {"grant_type": "refresh_token", "refresh_token": newest}, ("cid", "secret")
    )[1]
    assert (refused["why"], refused["reason"]) == ("grant_revoked", "password_changed")
    assert auth.lookup_access(body["access_token"]) is None
    assert auth.token_endpoint(form, ("cid", "nope"))[1]["why"] == "invalid_client"


def test_faults_match_by_path_and_method_count_and_render_the_providers_shape() -> None:
    injector = FaultInjector()
    log = RequestLog()

    def render(fault: Fault) -> tuple[int, dict[str, Any], dict[str, str]]:
        return (
            429,
            {"error": {"code": fault.reason}},
            retry_after_header(fault.retry_after),
        )

    async def ok(request: Any) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = FaultMiddleware(
        Starlette(routes=[Route("/api/{rest:path}", ok, methods=["GET", "POST"])]),
        injector,
        log,
        render,
    )
    fault = injector.inject(
        "too_many_requests",
        2,
        retry_after=4.4,
        reason="Throttled",
        path_prefix="/api/b",
        method="POST",
    )
    injector.inject("drop", path_prefix="/api/c")
    server = serve(lambda _base: app, name="faults")
    try:
        with httpx.Client(base_url=server.base_url, trust_env=False) as http:
            assert http.get("/api/b").status_code == 200  # method differs
            assert http.post("/api/a").status_code == 200  # path differs
            limited = http.post("/api/b/x", headers={"Prefer": "odata.maxpagesize=5"})
            assert limited.status_code == 429
            assert limited.headers["Retry-After"] == "4"
            assert limited.json() == {"error": {"code": "Throttled"}}
            assert http.post("/api/b").status_code == 429
            assert http.post("/api/b").status_code == 200  # spent
            with pytest.raises(httpx.HTTPError):
                http.get("/api/c")
    finally:
        server.stop()
    assert fault.fired == 2 and injector.pending() == []
    records = log.snapshot()
    assert [r.path for r in records][:3] == ["/api/b", "/api/a", "/api/b/x"]
    assert records[2].header("prefer") == "odata.maxpagesize=5"


class _Hook(BaseHTTPRequestHandler):
    answers: list[tuple[int, bytes]] = []
    seen: list[tuple[str, str, bytes]] = []

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        _Hook.seen.append((self.command, self.path, self.rfile.read(length)))
        status, body = _Hook.answers.pop(0) if _Hook.answers else (202, b"")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = _handle

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.answers, _Hook.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


def test_push_delivery_runs_in_order_and_records_outcomes(hook: str) -> None:
    results: list[PushResult] = []
    _Hook.answers = [(500, b"no"), (202, b"")]
    deliverer = PushDeliverer(results.append, user_agent="test-push")
    try:
        deliverer.send(PushMessage(hook, {"X-N": "1"}, b"one", meta=1))
        deliverer.send(PushMessage(hook, {"X-N": "2"}, b"two", meta=2))
        deliverer.send(PushMessage("http://127.0.0.1:9/nobody", meta=3))
        assert deliverer.wait_idle()
    finally:
        deliverer.stop()
    assert [(r.message.meta, r.status_code) for r in results] == [
        (1, 500),
        (2, 202),
        (3, None),
    ]
    assert results[2].error and results[0].response_text == "no"
    assert [body for _, _, body in _Hook.seen] == [b"one", b"two"]


async def test_call_endpoint_reports_status_body_and_content_type(hook: str) -> None:
    _Hook.answers = [(200, b"token-123")]
    result = await call_endpoint("POST", hook + "?validationToken=x", timeout=2)
    assert (result.status_code, result.response_text) == (200, "token-123")
    assert result.content_type.startswith("text/plain")
    assert _Hook.seen[0][1] == "/hook?validationToken=x"
