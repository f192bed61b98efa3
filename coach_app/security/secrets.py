"""Encryption at rest for provider secrets (app passwords, refresh tokens).

Keys come from `COACH_APP_SECRET_KEYS` (comma-separated Fernet keys, newest
first, so old keys keep decrypting during a rotation). Without it, the
embedded default creates a key file (mode 0600) on first use, at
`COACH_APP_KEY_FILE` or `.coach_app_secret.key` in the working directory;
any number of workers starting together on one machine end up with the
same single key. Several hosts must share their keys: production sets
`COACH_APP_SECRET_KEYS` (the production start refuses to run without it).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["InvalidToken", "decrypt", "encrypt", "key_material", "reset_keys"]


def _key_file() -> Path:
    return Path(os.environ.get("COACH_APP_KEY_FILE", ".coach_app_secret.key"))


def _load_or_create_key_file(path: Path) -> bytes:
    """The key in `path`, created on first use, exactly once.

    Several workers may start at the same moment on a fresh location. Each
    writes a complete key to a private file of its own, then hard-links it
    to `path`: the link appears with its content or not at all, and only one
    link can win. The others read the winner's key. A reader therefore never
    sees a half-written file, and no worker fails.
    """
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        key = b""
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
            fh.flush()
            os.fsync(fh.fileno())
        # Another worker may have been first: then its key is the one.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    key = path.read_bytes().strip()
    if not key:
        raise RuntimeError(
            f"The key file {path} is empty. If no secret was ever stored with "
            "it, delete it; otherwise restore it, or set COACH_APP_SECRET_KEYS."
        )
    return key


@lru_cache(maxsize=1)
def key_material() -> tuple[bytes, ...]:
    """The server's keys, newest first; other secrets (link signatures) are
    derived from them, so one rotation covers everything."""
    env = os.environ.get("COACH_APP_SECRET_KEYS", "").strip()
    keys = [k.strip().encode() for k in env.split(",") if k.strip()]
    if not keys:
        keys = [_load_or_create_key_file(_key_file())]
    return tuple(keys)


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k) for k in key_material()])


def reset_keys() -> None:
    """Forget cached keys (tests and key rotation)."""
    key_material.cache_clear()
    _fernet.cache_clear()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()
