"""``python -m sandbox.ews --port 8766``: an EWS sandbox for a local trial.

Seeds a demo mailbox with several calendar folders and prints how to
connect (the EWS address, the Autodiscover address and the credentials).
``--auth NTLM`` (or ``NTLM,Basic``) chooses the authentication schemes
offered, as an on-premises server with Basic turned off would.
"""

from __future__ import annotations

import argparse
import signal
import threading

from sandbox.ews.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from sandbox.ews.server import start_ews_sandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.ews", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--no-demo", action="store_true", help="start with no mailbox")
    parser.add_argument(
        "--auth",
        default="Basic",
        help="authentication schemes offered, comma-separated: Basic, NTLM",
    )
    args = parser.parse_args(argv)

    sandbox = start_ews_sandbox(
        args.port,
        host=args.host,
        log_level="info",
        auth=[s for s in args.auth.split(",") if s.strip()],
    )
    print(f"EWS sandbox on {sandbox.base_url}")
    print(f"  Authentication:       {', '.join(sandbox.state.auth.schemes)}")
    print(f"  EWS address:          {sandbox.ews_url}")
    print(f"  Autodiscover (POX):   {sandbox.autodiscover_url}")
    if not args.no_demo:
        mailbox = seed_demo(sandbox.state)
        names = [
            f.name
            for f in mailbox.folders.values()
            if f.folder_class == "IPF.Appointment"
        ]
        print(f"  Email address:        {DEMO_EMAIL}")
        print(f"  Password:             {DEMO_PASSWORD}")
        print(f"  Calendars:            {', '.join(names)}")
    print("  For the app:")
    print(f"export COACH_APP_URL_ALLOWLIST={args.host}")
    print(f"export COACH_APP_EXCHANGE_AUTODISCOVER_URLS={sandbox.autodiscover_url}")
    print("Press Ctrl+C to stop.", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    sandbox.stop()


if __name__ == "__main__":
    main()
