"""``python -m sandbox.microsoft``: the local-trial entry point starts, prints
the app's configuration, serves both demo accounts, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from sandbox.microsoft import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from sandbox.microsoft.demo import PERSONAL_EMAIL, WORK_EMAIL

ROOT = Path(__file__).resolve().parents[2]
NAMES = (
    "COACH_APP_MICROSOFT_CLIENT_ID",
    "COACH_APP_MICROSOFT_CLIENT_SECRET",
    "COACH_APP_MICROSOFT_AUTHORITY_URL",
    "COACH_APP_MICROSOFT_GRAPH_BASE",
)


def test_the_trial_command_prints_its_configuration_and_serves_both_accounts() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.microsoft", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed: dict[str, str] = {}
        for line in process.stdout:
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                printed[name] = value
            if set(NAMES) <= printed.keys():
                break
        assert printed["COACH_APP_MICROSOFT_CLIENT_ID"] == DEFAULT_CLIENT_ID
        assert printed["COACH_APP_MICROSOFT_CLIENT_SECRET"] == DEFAULT_CLIENT_SECRET
        authority = printed["COACH_APP_MICROSOFT_AUTHORITY_URL"]
        for tenant, email in (
            ("organizations", WORK_EMAIL),
            ("consumers", PERSONAL_EMAIL),
        ):
            page = httpx.get(
                f"{authority}/{tenant}/oauth2/v2.0/authorize",
                params={
                    "client_id": DEFAULT_CLIENT_ID,
                    # Loopback redirect URIs match on any port.
                    "redirect_uri": "http://localhost:8123/oauth/office365/callback",
                    "response_type": "code",
                    "scope": "offline_access Calendars.ReadWrite",
                    "state": "s",
                },
                trust_env=False,
            )
            assert page.status_code == 200 and email in page.text
        graph = httpx.get(
            printed["COACH_APP_MICROSOFT_GRAPH_BASE"] + "/me", trust_env=False
        )
        assert graph.json()["error"]["code"] == "InvalidAuthenticationToken"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert process.returncode == 0


def test_the_demo_has_a_read_only_calendar_in_each_account() -> None:
    from sandbox.microsoft import MicrosoftSandboxState
    from sandbox.microsoft.demo import seed_demo

    state = MicrosoftSandboxState()
    for email in seed_demo(state):
        cals = [state.store.calendars[c] for c in state.calendar_ids(email)]
        assert len(cals) >= 3
        assert [c.can_edit for c in cals].count(False) == 1
        assert state.events(cals[0].id)
