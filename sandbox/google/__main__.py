"""``python -m sandbox.google --port 8765``: a Google sandbox for a local trial.

Prints the environment variables that point the app at it; the demo account
(``coach@example.com``) is chosen on the consent page.
"""

from __future__ import annotations

import argparse
import signal
import threading

from sandbox.google.demo import seed_demo
from sandbox.google.server import start_google_sandbox

DEFAULT_REDIRECTS = (
    "http://localhost:3000/oauth/google/callback",
    "http://127.0.0.1:3000/oauth/google/callback",
    "http://localhost:8000/oauth/google/callback",
    "http://127.0.0.1:8000/oauth/google/callback",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.google", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        help="a redirect URI to register (repeatable); defaults cover "
        "http://localhost:3000|8000/oauth/google/callback",
    )
    parser.add_argument("--no-demo", action="store_true", help="start empty")
    args = parser.parse_args(argv)

    sandbox = start_google_sandbox(
        args.port,
        host=args.host,
        redirect_uris=args.redirect_uris or DEFAULT_REDIRECTS,
        log_level="info",
    )
    if not args.no_demo:
        seed_demo(sandbox.state)
    print(f"Google sandbox on {sandbox.base_url}")
    for name, value in sandbox.env().items():
        print(f"export {name}={value}")
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    sandbox.stop()


if __name__ == "__main__":
    main()
