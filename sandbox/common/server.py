"""Serve a sandbox's ASGI app with uvicorn from a background thread.

``serve(app_factory, port, host=…)`` binds the socket first (port 0 = a free
port), so the base URL is known before the app is built, then starts
uvicorn (h11, no lifespan, no access log) and waits until it listens.
``on_disconnect(client)`` is told when a client's TCP connection closes
(``client`` is the ``(host, port)`` pair the ASGI scope names): servers that
keep state per connection, such as NTLM's handshake, drop it then.
"""

from __future__ import annotations

import argparse
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol


class RunningServer:
    """A uvicorn server on its own thread; ``stop()`` shuts it down."""

    def __init__(
        self, server: uvicorn.Server, thread: threading.Thread, base_url: str
    ) -> None:
        self.server = server
        self.thread = thread
        self.base_url = base_url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def bind(host: str, port: int) -> tuple[socket.socket, str]:
    """A listening socket and the ``http://host:port`` it serves."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock, f"http://{host}:{sock.getsockname()[1]}"


def serve(
    app_factory: Callable[[str], ASGIApp],
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    name: str = "sandbox",
    log_level: str = "warning",
    on_failure: Callable[[], None] | None = None,
    on_disconnect: Callable[[tuple[str, int]], None] | None = None,
) -> RunningServer:
    """Start ``app_factory(base_url)`` on ``host:port``; raise if it does not start."""
    sock, base_url = bind(host, port)
    config = uvicorn.Config(
        app_factory(base_url),
        log_level=log_level,
        access_log=False,
        http=_reporting_close(on_disconnect) if on_disconnect else "h11",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run,
        kwargs={"sockets": [sock]},
        name=f"{name}-{base_url.rsplit(':', 1)[-1]}",
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            if on_failure is not None:
                on_failure()
            raise RuntimeError(f"the {name} did not start")
        time.sleep(0.01)
    return RunningServer(server, thread, base_url)


def _reporting_close(
    on_disconnect: Callable[[tuple[str, int]], None],
) -> type[H11Protocol]:
    """uvicorn's h11 protocol, telling ``on_disconnect`` when a connection closes."""

    class Protocol(H11Protocol):
        def connection_lost(self, exc: Exception | None) -> None:
            client = self.client
            super().connection_lost(exc)
            if client is not None:
                on_disconnect((client[0], client[1]))

    return Protocol


class SandboxHandle:
    """A running sandbox: ``stop()`` (or ``with``) shuts the server down, then
    ``on_stop`` (the delivery thread)."""

    def __init__(self, server: RunningServer, on_stop: Callable[[], None]) -> None:
        self.base_url = server.base_url
        self._server = server
        self._on_stop = on_stop

    def stop(self) -> None:
        self._server.stop()
        self._on_stop()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def trial_arguments(
    prog: str, description: str | None, port: int, redirects_help: str
) -> argparse.ArgumentParser:
    """The command line of ``python -m sandbox.<provider>``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        help=f"a redirect URI to register (repeatable); defaults cover {redirects_help}",
    )
    parser.add_argument("--no-demo", action="store_true", help="start empty")
    return parser


def serve_trial(
    handle: SandboxHandle, title: str, env: Iterable[tuple[str, str]]
) -> None:
    """Print where the sandbox is and the app's configuration, then serve
    until SIGINT or SIGTERM."""
    print(f"{title} on {handle.base_url}")
    for name, value in env:
        print(f"export {name}={value}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    handle.stop()
