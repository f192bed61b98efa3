"""A Microsoft sandbox shared by the sandbox test modules, and a fresh work
account with an HTTP client for each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from sandbox.microsoft import MicrosoftSandbox, start_microsoft_sandbox


@pytest.fixture(scope="session")
def microsoft() -> Iterator[MicrosoftSandbox]:
    sandbox = start_microsoft_sandbox()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def account(microsoft: MicrosoftSandbox) -> str:
    return microsoft.state.add_account(f"c{uuid.uuid4().hex[:8]}@contoso.example")


@pytest.fixture
def api(microsoft: MicrosoftSandbox, account: str) -> Iterator[httpx.Client]:
    """Graph as ``account`` (a bearer token, no proxies from the environment)."""
    token = microsoft.state.issue_tokens(account).access_token
    with httpx.Client(
        base_url=microsoft.graph_base,
        headers={"Authorization": f"Bearer {token}"},
        trust_env=False,
        timeout=30,
    ) as client:
        yield client
