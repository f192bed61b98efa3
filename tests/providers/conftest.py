"""Servers for the provider contract suite, once per session.

Radicale and Xandikos run as subprocesses on free loopback ports with
temporary storage, seeded with the calendars ``list_calendars`` must find
(and a task list it must skip); the Google sandbox runs in-process. Every
test gets a fresh scratch calendar from its ``remote``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from remotes.caldav import LOOPBACK

from sandbox.google import GoogleSandbox, start_google_sandbox

from .servers import RunningServer, start_radicale, start_xandikos

__all__ = ["LOOPBACK"]

# (collection name, display name, components, color): listed by list_calendars
# except the VTODO-only one.
SEEDED_CALENDARS = (
    ("work", "Work", ("VEVENT",), "#FF0000FF"),
    ("family", "Family", ("VEVENT", "VTODO"), None),
    ("tasks", "Tasks", ("VTODO",), None),
)


def _seed(server: RunningServer) -> RunningServer:
    admin = server.admin()
    try:
        for path, name, components, color in SEEDED_CALENDARS:
            admin.mkcalendar(server.home_url + path + "/", name, components, color)
    finally:
        admin.close()
    return server


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_radicale(Path(tmp_path_factory.mktemp("radicale")))
    try:
        yield _seed(server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_xandikos(Path(tmp_path_factory.mktemp("xandikos")))
    try:
        yield _seed(server)
    finally:
        server.stop()


@pytest.fixture(params=["radicale", "xandikos"])
def server(request: pytest.FixtureRequest) -> RunningServer:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def google() -> Iterator[GoogleSandbox]:
    sandbox = start_google_sandbox()
    try:
        yield sandbox
    finally:
        sandbox.stop()
