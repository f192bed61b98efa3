"""A Microsoft sandbox for the provider tests, and providers signed in to a
fresh account through the real token endpoint (so refreshes are real)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio

from coach_app.calendars.microsoft import (
    OFFICE365,
    MicrosoftGraphProvider,
    Preset,
    oauth_config,
)
from coach_app.calendars.oauth import OAuthTokens, TokenSource
from sandbox.microsoft import MicrosoftSandbox, start_microsoft_sandbox

REDIRECT = "http://127.0.0.1:3000/oauth/office365/callback"


@pytest.fixture(scope="session")
def graph() -> Iterator[MicrosoftSandbox]:
    sandbox = start_microsoft_sandbox(redirect_uris=[REDIRECT])
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def email(graph: MicrosoftSandbox) -> str:
    return graph.state.add_account(f"coach-{uuid.uuid4().hex[:8]}@contoso.example")


@pytest.fixture
def cal(graph: MicrosoftSandbox, email: str) -> str:
    return graph.state.mailboxes_default(email)


class Waits:
    """A stand-in for ``asyncio.sleep`` that records the waits and returns."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


class ProviderMaker:
    """``maker(preset=…, account=…, **options)``: a provider with a refreshing
    token source; ``refreshed`` collects the tokens the source handed on."""

    def __init__(self, graph: MicrosoftSandbox, email: str, waits: Waits) -> None:
        self.graph = graph
        self.email = email
        self.waits = waits
        self.refreshed: list[OAuthTokens] = []
        self.made: list[MicrosoftGraphProvider] = []

    def __call__(
        self, *, preset: Preset = OFFICE365, account: str | None = None, **options: Any
    ) -> MicrosoftGraphProvider:
        issued = self.graph.state.issue_tokens(
            account or self.email, tenant=preset.tenant
        )
        tokens = OAuthTokens.from_response(
            {
                "access_token": issued.access_token,
                "refresh_token": issued.refresh_token,
                "expires_in": issued.expires_in,
            }
        )
        source = TokenSource(
            oauth_config(preset, self.graph.env()),
            tokens,
            on_refresh=self.refreshed.append,
        )
        options.setdefault("sleep", self.waits)
        provider = MicrosoftGraphProvider(
            source, preset=preset, graph_base=self.graph.graph_base, **options
        )
        self.made.append(provider)
        return provider


@pytest_asyncio.fixture
async def make_provider(
    graph: MicrosoftSandbox, email: str, waits: Waits
) -> AsyncIterator[ProviderMaker]:
    maker = ProviderMaker(graph, email, waits)
    yield maker
    for provider in maker.made:
        await provider.aclose()


@pytest.fixture(autouse=True)
def _sandbox_clock(graph: MicrosoftSandbox) -> Iterator[None]:
    """Tests that move the sandbox's clock leave it as they found it."""
    yield
    graph.state.store.clock_offset = timedelta(0)
