"""``python -m sandbox.google``: the local-trial entry point starts, prints
the app's configuration, serves the demo account, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from sandbox.google import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

ROOT = Path(__file__).resolve().parents[2]


def test_the_trial_command_prints_its_configuration_and_serves_the_demo() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.google", "--port", "0"],
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
            if "COACH_APP_GOOGLE_CLIENT_SECRET" in printed:
                break
        assert printed["COACH_APP_GOOGLE_CLIENT_ID"] == DEFAULT_CLIENT_ID
        assert printed["COACH_APP_GOOGLE_CLIENT_SECRET"] == DEFAULT_CLIENT_SECRET
        auth = httpx.get(
            printed["COACH_APP_GOOGLE_AUTH_URL"],
            params={
                "client_id": DEFAULT_CLIENT_ID,
                "redirect_uri": "http://localhost:3000/oauth/google/callback",
                "response_type": "code",
                "scope": "https://www.googleapis.com/auth/calendar.events",
                "state": "s",
            },
            trust_env=False,
        )
        assert auth.status_code == 200
        assert "coach@example.com" in auth.text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert process.returncode == 0
