"""Real CalDAV servers (Radicale, Xandikos) as loopback subprocesses, plus a
small synchronous "other client" used to change calendars behind the
provider's back, as a phone or another app would."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from coach_app.calendars.caldav import davxml

PYTHON = sys.executable
XML = {"Content-Type": "application/xml; charset=utf-8"}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    name: str
    base_url: str  # what a coach would type
    home_url: str  # the calendar home of the test principal
    username: str
    password: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def admin(self) -> DavAdmin:
        auth = (self.username, self.password) if self.username else None
        return DavAdmin(httpx.Client(auth=auth, timeout=30))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class DavAdmin:
    """Direct DAV calls that bypass the provider under test."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    def mkcalendar(
        self,
        url: str,
        name: str,
        components: tuple[str, ...] = ("VEVENT",),
        color: str | None = None,
    ) -> None:
        body = davxml.mkcalendar(name, components, color)
        response = self.client.request("MKCALENDAR", url, content=body, headers=XML)
        assert response.status_code == 201, (response.status_code, response.text)

    def delete(self, url: str) -> None:
        response = self.client.delete(url)
        assert response.status_code in (200, 204, 404), response.status_code

    def put(self, url: str, ics: str) -> str:
        response = self.client.put(url, content=ics, headers=ICS)
        assert response.status_code in (201, 204), (response.status_code, response.text)
        return response.headers["ETag"]

    def list_hrefs(self, url: str) -> list[str]:
        response = self.client.request(
            "PROPFIND",
            url,
            content=davxml.propfind("d:getetag"),
            headers={**XML, "Depth": "1"},
        )
        assert response.status_code == 207
        own = davxml.normalize_href(url).rstrip("/")
        responses = davxml.parse_multistatus(response.content).responses
        return sorted(r.href for r in responses if r.href.rstrip("/") != own)


def start_radicale(tmp: Path) -> RunningServer:
    from passlib.hash import sha512_crypt  # shipped with Radicale (libpass)

    port = free_port()
    users = tmp / "users"
    # A hashed htpasswd entry, so a wrong password is really checked and refused;
    # the minimum round count keeps each request's check to ~1 ms, not ~0.3 s.
    digest = sha512_crypt.using(rounds=1000).hash("coach-secret")
    users.write_text(f"coach:{digest}\n")
    config = tmp / "config"
    config.write_text(
        f"""[server]
hosts = 127.0.0.1:{port}
[auth]
type = htpasswd
htpasswd_filename = {users}
htpasswd_encryption = sha512
# Radicale sleeps after a failed login by default; tests need no brute-force guard.
delay = 0
[rights]
type = owner_only
[storage]
filesystem_folder = {tmp / "collections"}
[logging]
level = warning
"""
    )
    log_path = tmp / "radicale.log"
    process = _spawn([PYTHON, "-m", "radicale", "-C", str(config)], log_path)
    base = f"http://127.0.0.1:{port}/"
    server = RunningServer(
        "radicale", base, base + "coach/", "coach", "coach-secret", process, log_path
    )
    _wait_ready(server, auth=("coach", "coach-secret"))
    # Radicale creates a principal's home on its first authenticated PROPFIND.
    httpx.request(
        "PROPFIND",
        server.home_url,
        auth=("coach", "coach-secret"),
        headers={"Depth": "0"},
    )
    return server


def start_xandikos(tmp: Path) -> RunningServer:
    """Xandikos runs without authentication: its htpasswd option requires TLS
    (--autocert), so credentials are not exercised against it."""
    port = free_port()
    log_path = tmp / "xandikos.log"
    process = _spawn(
        [
            PYTHON,
            "-m",
            "xandikos.web",
            "-d",
            str(tmp / "data"),
            "--autocreate",  # creates /user/calendars/ but no calendar in it
            "-l",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        log_path,
    )
    base = f"http://127.0.0.1:{port}/"
    server = RunningServer(
        "xandikos", base, base + "user/calendars/", "", "", process, log_path
    )
    _wait_ready(server, auth=None)
    return server


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    return subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )


def _wait_ready(
    server: RunningServer, auth: tuple[str, str] | None, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.log_path.read_text()}")
        try:
            httpx.request("OPTIONS", server.base_url, auth=auth, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(
        f"{server.name} not ready after {timeout}s:\n{server.log_path.read_text()}"
    )
