"""Serve a sandbox's ASGI app with uvicorn from a background thread.

``serve(app_factory, port, host=…)`` binds the socket first (port 0 = a free
port), so the base URL is known before the app is built, then starts
uvicorn (h11, no lifespan, no access log) and waits until it listens.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp


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
) -> RunningServer:
    """Start ``app_factory(base_url)`` on ``host:port``; raise if it does not start."""
    sock, base_url = bind(host, port)
    config = uvicorn.Config(
        app_factory(base_url),
        log_level=log_level,
        access_log=False,
        http="h11",
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
