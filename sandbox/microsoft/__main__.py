"""``python -m sandbox.microsoft --port 8766``: a Microsoft sandbox for a local trial.

Seeds a work (Office 365) and a personal (Outlook.com) account and prints the
environment variables that point the app at the sandbox; the account is
chosen on the consent page.
"""

from __future__ import annotations

from sandbox.common.server import serve_trial, trial_arguments
from sandbox.microsoft.demo import seed_demo
from sandbox.microsoft.server import start_microsoft_sandbox

# The app's callback paths for the Microsoft presets; loopback redirect URIs
# match whatever their port (Microsoft's rule), so one port is enough.
DEFAULT_REDIRECTS = tuple(
    f"http://{host}:3000/oauth/{key}/callback"
    for host in ("localhost", "127.0.0.1")
    for key in ("microsoft", "office365", "outlook")
)


def main(argv: list[str] | None = None) -> None:
    args = trial_arguments(
        "python -m sandbox.microsoft",
        __doc__,
        8766,
        "http://localhost/oauth/{microsoft,office365,outlook}/callback on any port",
    ).parse_args(argv)
    sandbox = start_microsoft_sandbox(
        args.port,
        host=args.host,
        redirect_uris=args.redirect_uris or DEFAULT_REDIRECTS,
        log_level="info",
    )
    if not args.no_demo:
        work, personal = seed_demo(sandbox.state)
        print(f"Accounts: {work} (Office 365), {personal} (Outlook.com)")
    serve_trial(sandbox, "Microsoft sandbox", sandbox.env().items())


if __name__ == "__main__":
    main()
