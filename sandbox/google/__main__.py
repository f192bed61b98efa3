"""``python -m sandbox.google --port 8765``: a Google sandbox for a local trial.

Prints the environment variables that point the app at it; the demo account
(``coach@example.com``) is chosen on the consent page.
"""

from __future__ import annotations

from sandbox.common.server import serve_trial, trial_arguments
from sandbox.google.demo import seed_demo
from sandbox.google.server import start_google_sandbox

DEFAULT_REDIRECTS = (
    "http://localhost:3000/oauth/google/callback",
    "http://127.0.0.1:3000/oauth/google/callback",
    "http://localhost:8000/oauth/google/callback",
    "http://127.0.0.1:8000/oauth/google/callback",
)


def main(argv: list[str] | None = None) -> None:
    args = trial_arguments(
        "python -m sandbox.google",
        __doc__,
        8765,
        "http://localhost:3000|8000/oauth/google/callback",
    ).parse_args(argv)
    sandbox = start_google_sandbox(
        args.port,
        host=args.host,
        redirect_uris=args.redirect_uris or DEFAULT_REDIRECTS,
        log_level="info",
    )
    if not args.no_demo:
        seed_demo(sandbox.state)
    serve_trial(sandbox, "Google sandbox", sandbox.env().items())


if __name__ == "__main__":
    main()
