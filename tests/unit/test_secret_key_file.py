"""The first start of many workers creates exactly one secret key."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from coach_app.security import secrets

ROOT = Path(__file__).resolve().parents[2]

# A worker: import, wait at the starting line, then encrypt (which loads or
# creates the key file) and print the key it ended up with.
WORKER = """
import os, sys, time
from pathlib import Path
from coach_app.security import secrets
start = float(sys.argv[1])
while time.time() < start:
    pass
token = secrets.encrypt("hello")
print(Path(os.environ["COACH_APP_KEY_FILE"]).read_text().strip(), token)
"""


@pytest.mark.parametrize("round_", range(3))
def test_workers_starting_together_share_one_new_key(tmp_path, round_):
    import time

    key_file = tmp_path / "keys" / "secret.key"
    key_file.parent.mkdir()
    env = {
        **os.environ,
        "COACH_APP_KEY_FILE": str(key_file),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("COACH_APP_SECRET_KEYS", None)
    # Interpreters take a while to start on a busy machine: all of them
    # import first, then go at the same instant.
    start = time.time() + 3.0
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(start)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0] * 8, [e for _, e in outputs]
    keys = {out.split()[0] for out, _ in outputs}
    assert len(keys) == 1
    assert [p.name for p in key_file.parent.iterdir()] == ["secret.key"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # Every worker's secret decrypts with the one key.
    for out, _ in outputs:
        token = out.split()[1]
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("COACH_APP_KEY_FILE", str(key_file))
            mp.delenv("COACH_APP_SECRET_KEYS", raising=False)
            secrets.reset_keys()
            assert secrets.decrypt(token) == "hello"
    secrets.reset_keys()


def test_an_empty_key_file_is_reported_plainly(tmp_path, monkeypatch):
    key_file = tmp_path / "secret.key"
    key_file.write_bytes(b"")
    monkeypatch.setenv("COACH_APP_KEY_FILE", str(key_file))
    monkeypatch.delenv("COACH_APP_SECRET_KEYS", raising=False)
    secrets.reset_keys()
    with pytest.raises(RuntimeError, match="is empty"):
        secrets.encrypt("x")
    secrets.reset_keys()
