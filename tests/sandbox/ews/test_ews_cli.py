"""``python -m sandbox.ews``: the local-trial command seeds a mailbox with
several calendar folders, prints how to connect, serves, and stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

from ews_support import missing_structure, skeleton
from exchangelib import (
    BASIC,
    DELEGATE,
    NTLM,
    Account,
    Build,
    Configuration,
    Credentials,
    Version,
)
from exchangelib.folders import FolderCollection

from sandbox.ews import start_ews_sandbox
from sandbox.ews.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_demo

ROOT = Path(__file__).resolve().parents[3]


def test_the_trial_command_prints_how_to_connect_and_serves() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.ews", "--port", "0", "--auth", "NTLM,Basic"],
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
            name, _, value = line.strip().partition(":")
            printed[name.strip()] = value.strip()
            if line.startswith("Press Ctrl+C"):
                break
        assert printed["Email address"] == DEMO_EMAIL
        assert printed["Password"] == DEMO_PASSWORD
        assert printed["Calendars"] == "Calendar, Clients, Family, Holidays"
        assert printed["Authentication"] == "NTLM, Basic"
        config = Configuration(
            service_endpoint=printed["EWS address"],
            credentials=Credentials(DEMO_EMAIL, DEMO_PASSWORD),
            auth_type=NTLM,
            version=Version(build=Build(15, 1, 2507, 6), api_version="Exchange2016"),
        )
        account = Account(
            DEMO_EMAIL, config=config, autodiscover=False, access_type=DELEGATE
        )
        assert account.calendar.name == "Calendar"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert process.returncode == 0


def test_the_demo_mailbox_has_calendars_and_a_series_with_exceptions() -> None:
    with start_ews_sandbox() as sandbox:
        mailbox = seed_demo(sandbox.state, today=date(2030, 3, 20))
        config = Configuration(
            service_endpoint=sandbox.ews_url,
            credentials=Credentials(DEMO_EMAIL, DEMO_PASSWORD),
            auth_type=BASIC,
            version=Version(build=Build(15, 1, 2507, 6), api_version="Exchange2016"),
        )
        account = Account(
            DEMO_EMAIL, config=config, autodiscover=False, access_type=DELEGATE
        )
        folders = FolderCollection(
            account=account, folders=[account.msg_folder_root]
        ).find_folders(depth="Deep")
        assert sorted(
            f.name for f in folders if f.folder_class == "IPF.Appointment"
        ) == [
            "Calendar",
            "Clients",
            "Family",
            "Holidays",
        ]
        series = next(
            i for i in mailbox.calendar.items.values() if i.recurrence is not None
        )
        assert len(series.overrides) == 1 and len(series.deleted_occurrences) == 1


def test_structure_check_notices_a_missing_element() -> None:
    documented = b"<a xmlns='urn:x'><b><c/></b><d/></a>"
    assert missing_structure(documented, b"<a xmlns='urn:x'><b/><d/></a>") == ["a/b/c"]
    assert missing_structure(documented, b"<a xmlns='urn:y'><b><c/></b><d/></a>") != []
    assert skeleton(documented) <= skeleton(b"<a xmlns='urn:x'><d/><b><c/><e/></b></a>")
